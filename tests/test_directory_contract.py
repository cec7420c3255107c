"""One contract for the Directory port, run against LocalDirectory and GraphDirectory.

Both are loaded with the same people: LocalDirectory from a YAML file, GraphDirectory from the
fake Graph (through the real SDK and a real token). Both must give the same answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from evidence.officers import Officer, Role
from evidence.ports import Directory
from graph.graph_directory import open_graph_directory
from graph.local import LocalDirectory
from tests.fakes.tenant import Tls, fake_tenant

GROUPS = [
    {"id": "5e0a0000-0000-4000-8000-0000000000a1", "name": "Exhibit Officers", "role": "officer"},
    {"id": "5e0a0000-0000-4000-8000-0000000000a2", "name": "Exhibit Approvers", "role": "approver"},
    {"id": "5e0a0000-0000-4000-8000-0000000000a3", "name": "Exhibit Auditors", "role": "auditor"},
    {"id": "5e0a0000-0000-4000-8000-0000000000a4", "name": "Exhibit Admins", "role": "admin"},
]
OFFICERS: list[dict[str, Any]] = [
    {
        "id": "1a7e2c3d-0001-4f00-8000-000000000001",
        "displayName": "Jane Smith",
        "givenName": "Jane",
        "surname": "Smith",
        "jobTitle": "Police Constable",
        "department": "Lambeth CID",
        "mail": "jane.smith@met.example",
        "accountEnabled": True,
        "groups": ["Exhibit Officers"],
    },
    {
        "id": "1a7e2c3d-0002-4f00-8000-000000000002",
        "displayName": "Ravi Patel",
        "givenName": "Ravi",
        "surname": "Patel",
        "jobTitle": "Detective Sergeant",
        "department": "Lambeth CID",
        "mail": "ravi.patel@met.example",
        "accountEnabled": True,
        "groups": ["Exhibit Officers", "Exhibit Approvers"],
    },
    {
        "id": "1a7e2c3d-0004-4f00-8000-000000000004",
        "displayName": "Tom Hughes",
        "jobTitle": "Professional Standards Auditor",
        "department": "Directorate of Professional Standards",
        "userPrincipalName": "tom.hughes@met.example",
        "accountEnabled": True,
        "groups": ["Exhibit Auditors", "Exhibit Admins"],
    },
    {
        "id": "1a7e2c3d-0007-4f00-8000-000000000007",
        "displayName": "Gary Former",
        "givenName": "Gary",
        "surname": "Former",
        "mail": "gary.former@met.example",
        "accountEnabled": False,
        "groups": ["Exhibit Officers"],
    },
    {
        "id": "1a7e2c3d-0008-4f00-8000-000000000008",
        "displayName": "Nora Staff",
        "accountEnabled": True,
        "groups": [],
    },
]
TEAM = "7b3f9e21-4c5d-4e6f-8a7b-9c0d1e2f3a4b"
CHANNEL = "19:exhibit-case-channel@thread.tacv2"
CHANNEL_MEMBERS = ["1a7e2c3d-0001-4f00-8000-000000000001", "1a7e2c3d-0002-4f00-8000-000000000002"]
JANE, RAVI, TOM, GARY, NORA = (officer["id"] for officer in OFFICERS)
UNKNOWN = "1a7e2c3d-0099-4f00-8000-000000000099"


@pytest.fixture(params=["local", "graph"])
async def directory(
    request: pytest.FixtureRequest, tmp_path: Path, tls: Tls
) -> AsyncIterator[Directory]:
    if request.param == "local":
        path = tmp_path / "directory.yaml"
        document = {
            "groups": GROUPS,
            "officers": OFFICERS,
            "channels": [{"team": TEAM, "channel": CHANNEL, "members": CHANNEL_MEMBERS}],
        }
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        yield await LocalDirectory.load(path)
        return
    group_ids = {group["name"]: group["id"] for group in GROUPS}
    async with fake_tenant(tls) as tenant:
        for officer in OFFICERS:
            properties = {k: v for k, v in officer.items() if k not in {"id", "displayName"}}
            properties["groups"] = [group_ids[name] for name in officer["groups"]]
            tenant.graph.add_user(officer["id"], officer["displayName"], **properties)
        tenant.graph.add_channel(TEAM, CHANNEL, CHANNEL_MEMBERS)
        roles = {group["id"]: Role(group["role"]) for group in GROUPS}
        async with await open_graph_directory(tenant.config(role_groups=roles)) as graph:
            yield graph


async def test_an_officer_with_every_field(directory: Directory) -> None:
    assert await directory.officer(RAVI) == Officer(
        object_id=RAVI,
        display_name="Ravi Patel",
        given_name="Ravi",
        surname="Patel",
        rank="Detective Sergeant",
        unit="Lambeth CID",
        email="ravi.patel@met.example",
        enabled=True,
        roles=frozenset({Role.OFFICER, Role.APPROVER}),
    )


async def test_email_falls_back_to_the_user_principal_name(directory: Directory) -> None:
    tom = await directory.officer(TOM)

    assert tom is not None
    assert tom.email == "tom.hughes@met.example"
    assert (tom.given_name, tom.surname) == ("", "")
    assert tom.roles == {Role.AUDITOR, Role.ADMIN}


async def test_a_disabled_account_is_an_officer_not_enabled(directory: Directory) -> None:
    gary = await directory.officer(GARY)

    assert gary is not None
    assert not gary.enabled
    assert gary.roles == {Role.OFFICER}


async def test_no_groups_means_no_roles(directory: Directory) -> None:
    nora = await directory.officer(NORA)

    assert nora is not None
    assert nora.roles == frozenset()


async def test_unknown_and_malformed_ids_are_none(directory: Directory) -> None:
    assert await directory.officer(UNKNOWN) is None
    assert await directory.officer("not-an-id") is None


async def test_ids_are_case_insensitive(directory: Directory) -> None:
    jane = await directory.officer(JANE.upper())

    assert jane is not None
    assert jane.object_id == JANE


async def test_many_officers_keyed_as_asked(directory: Directory) -> None:
    found = await directory.officers([JANE, RAVI.upper(), UNKNOWN, "junk", GARY])

    assert set(found) == {JANE, RAVI.upper(), GARY}
    assert found[RAVI.upper()].object_id == RAVI
    assert await directory.officers([]) == {}


async def test_channel_members(directory: Directory) -> None:
    assert await directory.channel_members(TEAM, CHANNEL) == set(CHANNEL_MEMBERS)
    assert await directory.channel_members(TEAM, "19:other@thread.tacv2") == frozenset()


async def test_source_names_the_implementation(
    directory: Directory, request: pytest.FixtureRequest
) -> None:
    assert directory.source == request.node.callspec.params["directory"]
