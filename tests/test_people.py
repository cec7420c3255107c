"""The shared table of test people agrees with the local directory and the playground's users."""

from __future__ import annotations

from typing import Any

import yaml

from devtools.devstack import ROOT
from tests.support.people import PEOPLE


def _load(path: str) -> Any:
    return yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


def test_people_are_the_directory_officers() -> None:
    directory = _load("dev/directory.yaml")
    roles = {group["name"]: group["role"] for group in directory["groups"]}
    officers = {
        officer["id"]: (
            officer["displayName"], officer["givenName"], officer["surname"], officer["jobTitle"],
            officer["department"], officer["mail"], {roles[g] for g in officer["groups"]},
        )
        for officer in directory["officers"]
    }  # fmt: skip
    assert {
        p.object_id: (p.name, p.given_name, p.surname, p.rank, p.unit, p.email, set(p.roles))
        for p in PEOPLE
    } == officers


def test_people_are_the_playground_users() -> None:
    playground = _load(".m365agentsplayground.yml")
    users = [playground["currentUser"], *playground["users"]]
    assert {p.teams_id: (p.object_id, p.name) for p in PEOPLE} == {
        user["id"]: (user["aadObjectId"], user["name"]) for user in users
    }
