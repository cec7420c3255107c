"""LocalDirectory: the committed dev file, lookups, and every kind of mistake in a file."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from evidence.officers import Role
from graph.local import DirectoryFileError, LocalDirectory
from tests.support.people import JANE

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
groups:
  - {id: 5e0a0000-0000-4000-8000-0000000000a1, name: Officers, role: officer}
  - {id: 5e0a0000-0000-4000-8000-0000000000a2, name: Approvers, role: approver}
officers:
  - id: 1a7e2c3d-0001-4f00-8000-000000000001
    displayName: Jane Smith
    givenName: Jane
    surname: Smith
    jobTitle: Police Constable
    department: Lambeth CID
    mail: jane.smith@met.example
    groups: [Officers, Approvers]
  - id: 1a7e2c3d-0002-4f00-8000-000000000002
    displayName: Ravi Patel
    userPrincipalName: ravi.patel@met.example
    accountEnabled: false
channels:
  - team: 7b3f9e21-4c5d-4e6f-8a7b-9c0d1e2f3a4b
    channel: "19:case@thread.tacv2"
    members: [1a7e2c3d-0001-4f00-8000-000000000001]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "directory.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_the_dev_directory_matches_the_playground_users() -> None:
    directory = LocalDirectory.from_file(ROOT / "dev" / "directory.yaml")
    playground = yaml.safe_load((ROOT / ".m365agentsplayground.yml").read_text(encoding="utf-8"))
    people: list[dict[str, Any]] = [playground["currentUser"], *playground["users"]]
    officers = directory.all_officers()

    assert {p["aadObjectId"] for p in people} == set(officers)
    for person in people:
        officer = officers[person["aadObjectId"]]
        assert officer.display_name == person["name"]
        assert (officer.given_name, officer.surname) == (person["givenName"], person["surname"])
        assert officer.email == person["email"]
        assert officer.enabled
    assert officers[playground["currentUser"]["aadObjectId"]].has(Role.OFFICER)
    held = {role for officer in officers.values() for role in officer.roles}
    assert {Role.APPROVER, Role.AUDITOR, Role.ADMIN} <= held


async def test_reads_officers_roles_and_channels(tmp_path: Path) -> None:
    directory = await LocalDirectory.load(write(tmp_path, GOOD))

    jane = await directory.officer(JANE.object_id)
    assert jane is not None
    assert (jane.rank, jane.unit, jane.email) == (
        "Police Constable",
        "Lambeth CID",
        "jane.smith@met.example",
    )
    assert jane.roles == {Role.OFFICER, Role.APPROVER}
    ravi = await directory.officer("1A7E2C3D-0002-4F00-8000-000000000002")
    assert ravi is not None
    assert not ravi.enabled
    assert ravi.email == "ravi.patel@met.example"
    assert ravi.roles == frozenset()
    assert directory.source == "local"
    members = await directory.channel_members(
        "7B3F9E21-4C5D-4E6F-8A7B-9C0D1E2F3A4B", "19:case@thread.tacv2"
    )
    assert members == {JANE.object_id}


async def test_unknown_and_malformed_ids_are_none(tmp_path: Path) -> None:
    directory = LocalDirectory.from_file(write(tmp_path, GOOD))

    assert await directory.officer("1a7e2c3d-0009-4f00-8000-000000000009") is None
    assert await directory.officer("jane") is None
    found = await directory.officers([JANE.object_id.upper(), "nobody", JANE.object_id])
    assert set(found) == {JANE.object_id.upper(), JANE.object_id}
    assert await directory.channel_members("7b3f9e21-4c5d-4e6f-8a7b-9c0d1e2f3a4b", "19:x") == set()


BAD_FILES: dict[str, tuple[str, str | None, str | None, str]] = {
    "duplicate officer id": (
        GOOD.replace("1a7e2c3d-0002-4f00-8000-000000000002", JANE.object_id),
        "officers[1] (1a7e2c3d-0001-4f00-8000-000000000001)",
        "id",
        "duplicate officer id",
    ),
    "duplicate group id": (
        GOOD.replace("0000000000a2", "0000000000a1"),
        "groups[1]",
        "id",
        "duplicate group id",
    ),
    "duplicate group name": (
        GOOD.replace("name: Approvers", "name: Officers"),
        "groups[1]",
        "name",
        "duplicate group name",
    ),
    "unknown group": (
        GOOD.replace("[Officers, Approvers]", "[Officers, Detectives]"),
        "officers[0] (1a7e2c3d-0001-4f00-8000-000000000001)",
        "groups",
        "unknown group 'Detectives'",
    ),
    "unknown role": (
        GOOD.replace("role: approver", "role: superintendent"),
        "groups[1]",
        "role",
        "unknown role 'superintendent'",
    ),
    "missing displayName": (
        GOOD.replace("    displayName: Ravi Patel\n", ""),
        "officers[1] (1a7e2c3d-0002-4f00-8000-000000000002)",
        "displayName",
        "is required",
    ),
    "empty displayName": (
        GOOD.replace("displayName: Ravi Patel", "displayName: '  '"),
        "officers[1] (1a7e2c3d-0002-4f00-8000-000000000002)",
        "displayName",
        "must not be empty",
    ),
    "text field of another type": (
        GOOD.replace("jobTitle: Police Constable", "jobTitle: 7"),
        "officers[0] (1a7e2c3d-0001-4f00-8000-000000000001)",
        "jobTitle",
        "must be text, not int",
    ),
    "accountEnabled not a boolean": (
        GOOD.replace("accountEnabled: false", "accountEnabled: 'no'"),
        "officers[1] (1a7e2c3d-0002-4f00-8000-000000000002)",
        "accountEnabled",
        "must be true or false",
    ),
    "groups not a list": (
        GOOD.replace("[Officers, Approvers]", "Officers"),
        "officers[0] (1a7e2c3d-0001-4f00-8000-000000000001)",
        "groups",
        "must be a list of text",
    ),
    "id not a GUID": (
        GOOD.replace("1a7e2c3d-0002-4f00-8000-000000000002", "ravi"),
        "officers[1]",
        "id",
        "'ravi' is not an Entra object id",
    ),
    "unknown field": (
        GOOD.replace("    givenName: Jane\n", "    givenName: Jane\n    rank: PC\n"),
        "officers[0]",
        "rank",
        "unknown field",
    ),
    "unknown section": (GOOD + "teams: []\n", None, None, "unknown section 'teams'"),
    "officers not a list": (
        "groups: []\nofficers: {}\n",
        "officers",
        None,
        "must be a list",
    ),
    "channel member not an officer": (
        GOOD.replace("members: [1a7e2c3d-0001", "members: [1a7e2c3d-0009"),
        "channels[0]",
        "members",
        "is not an officer id in this file",
    ),
    "channel team not a GUID": (
        GOOD.replace("team: 7b3f9e21-4c5d-4e6f-8a7b-9c0d1e2f3a4b", "team: op-kestrel"),
        "channels[0]",
        "team",
        "must be the team's Entra group id",
    ),
    "not a mapping": ("- just\n- a list\n", None, None, "must be a mapping"),
    "not YAML": ("groups: [\n", None, None, "not valid YAML at line"),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_a_bad_file_names_file_entry_and_field(tmp_path: Path, kind: str) -> None:
    text, entry, field, problem = BAD_FILES[kind]
    path = write(tmp_path, text)

    with pytest.raises(DirectoryFileError) as caught:
        LocalDirectory.from_file(path)

    error = caught.value
    assert (error.path, error.entry, error.field) == (path, entry, field)
    assert problem in error.problem
    assert str(error).startswith(f"{path}: ")


def test_a_missing_file_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    with pytest.raises(DirectoryFileError, match="cannot read") as caught:
        LocalDirectory.from_file(path)

    assert caught.value.path == path
