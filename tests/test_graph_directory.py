"""GraphDirectory on the real msgraph-sdk/kiota/azure-identity pipeline, against local fakes.

The token endpoint is a local HTTPS server (self-signed certificate made here); Graph is a fake
speaking Graph's JSON that checks the bearer token and counts requests.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from evidence.errors import DirectoryUnavailable, InvalidInput
from evidence.officers import Officer, Role
from graph.cache import Failed, SingleFlightCache
from graph.config import CredentialKind, GraphConfigError, GraphDirectoryConfig
from graph.graph_directory import GraphDirectory, open_graph_directory
from graph.users import USER_FIELDS
from tests.fakes.graph_server import FakeGraph, Fault
from tests.fakes.tenant import CLIENT_ID, TENANT_ID, FakeTenant, Tls, fake_tenant
from tests.fakes.token_server import make_client_certificate
from tests.support.people import JANE

OFFICERS = "5e0a0000-0000-4000-8000-0000000000a1"
APPROVERS = "5e0a0000-0000-4000-8000-0000000000a2"
AUDITORS = "5e0a0000-0000-4000-8000-0000000000a3"
ADMINS = "5e0a0000-0000-4000-8000-0000000000a4"
UNRELATED = "5e0a0000-0000-4000-8000-0000000000ff"
ROLE_GROUPS = {
    OFFICERS: Role.OFFICER,
    APPROVERS: Role.APPROVER,
    AUDITORS: Role.AUDITOR,
    ADMINS: Role.ADMIN,
}
TEAM = "7b3f9e21-4c5d-4e6f-8a7b-9c0d1e2f3a4b"
CHANNEL = "19:exhibit-case-channel@thread.tacv2"


def officer_id(n: int) -> str:
    return f"0ff1ce00-0000-4000-8000-{n:012d}"


class ManualClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


Opener = Callable[..., Awaitable[GraphDirectory]]


@pytest.fixture
async def tenant(tls: Tls) -> AsyncIterator[FakeTenant]:
    async with fake_tenant(tls) as running:
        running.graph.add_user(
            JANE.object_id,
            "Jane Smith",
            givenName="Jane",
            surname="Smith",
            jobTitle="Police Constable",
            department="Lambeth CID",
            mail="jane.smith@met.example",
            userPrincipalName="jane.smith@met.example",
            groups=[UNRELATED, OFFICERS],
        )
        yield running


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def open_directory(tenant: FakeTenant, clock: ManualClock) -> AsyncIterator[Opener]:
    opened: list[GraphDirectory] = []

    async def open_(**overrides: Any) -> GraphDirectory:
        overrides.setdefault("role_groups", ROLE_GROUPS)
        directory = await open_graph_directory(tenant.config(**overrides), clock=clock)
        opened.append(directory)
        return directory

    yield open_
    for directory in opened:
        await directory.aclose()


def seed(graph: FakeGraph, count: int) -> list[str]:
    ids = [officer_id(n) for n in range(1, count + 1)]
    for n, object_id in enumerate(ids, start=1):
        groups = [OFFICERS, APPROVERS] if n % 10 == 0 else [OFFICERS]
        graph.add_user(object_id, f"Officer {n}", surname=f"Number{n}", groups=groups)
    return ids


# --- the credential path, end to end -------------------------------------------------------


async def test_a_client_secret_token_reaches_graph(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    directory = await open_directory()

    jane = await directory.officer(JANE.object_id)
    again = await directory.officer(JANE.object_id.upper())

    assert jane == Officer(
        object_id=JANE.object_id,
        display_name="Jane Smith",
        given_name="Jane",
        surname="Smith",
        rank="Police Constable",
        unit="Lambeth CID",
        email="jane.smith@met.example",
        enabled=True,
        roles=frozenset({Role.OFFICER}),
    )
    assert again == jane
    assert directory.source == "graph"
    assert tenant.tokens.grants == {"client_secret": 1}
    assert tenant.graph.unauthorized == 0
    assert tenant.graph.http_requests == {"POST /$batch": 1}
    assert tenant.graph.batched_requests == {
        "GET /users/{id}": 1,
        "GET /users/{id}/transitiveMemberOf": 1,
    }
    assert set(tenant.graph.selects) == {",".join(USER_FIELDS)}


async def test_a_refused_secret_is_unavailable_and_graph_never_called(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    directory = await open_directory(client_secret="not-the-secret")

    with pytest.raises(DirectoryUnavailable, match="no Graph token"):
        await directory.officer(JANE.object_id)

    assert tenant.tokens.refused >= 1
    assert tenant.graph.total_http == 0


async def test_a_token_graph_does_not_accept_is_unavailable(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    tenant.graph.token = "another-token"
    directory = await open_directory()

    with pytest.raises(DirectoryUnavailable) as caught:
        await directory.officer(JANE.object_id)

    assert caught.value.status == 401


async def test_a_certificate_credential_signs_its_assertion(tls: Tls, tmp_path: Path) -> None:
    certificate = await asyncio.to_thread(make_client_certificate, tmp_path, CLIENT_ID)
    async with fake_tenant(tls, client_certificate=certificate.certificate) as tenant:
        tenant.graph.add_user(JANE.object_id, "Jane Smith", groups=[OFFICERS])
        config = tenant.config(
            credential_kind=CredentialKind.CERTIFICATE,
            client_secret=None,
            certificate_path=certificate.pem_file,
            role_groups=ROLE_GROUPS,
        )
        async with await open_graph_directory(config) as directory:
            jane = await directory.officer(JANE.object_id)

        assert jane is not None
        assert jane.roles == {Role.OFFICER}
        assert tenant.tokens.grants == {"certificate": 1}


async def test_a_workload_identity_presents_its_federated_token(tls: Tls, tmp_path: Path) -> None:
    token_file = tmp_path / "federated-token"
    token_file.write_text("kubernetes-service-account-token", encoding="utf-8")
    async with fake_tenant(tls, federated_token="kubernetes-service-account-token") as tenant:
        tenant.graph.add_user(JANE.object_id, "Jane Smith")
        config = tenant.config(
            credential_kind=CredentialKind.WORKLOAD_IDENTITY,
            client_secret=None,
            federated_token_file=token_file,
        )
        async with await open_graph_directory(config) as directory:
            assert await directory.officer(JANE.object_id) is not None

        assert tenant.tokens.grants == {"federated_token": 1}


async def test_an_app_service_managed_identity_gets_its_token(
    tls: Tls, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fake_tenant(tls, identity_header="app-service-secret") as tenant:
        tenant.graph.add_user(JANE.object_id, "Jane Smith")
        monkeypatch.setenv("IDENTITY_ENDPOINT", f"{tenant.tokens.origin}/msi/token")
        monkeypatch.setenv("IDENTITY_HEADER", "app-service-secret")
        config = tenant.config(
            credential_kind=CredentialKind.MANAGED_IDENTITY,
            tenant_id=None,
            client_id=None,
            client_secret=None,
            authority_host=None,
        )
        async with await open_graph_directory(config) as directory:
            assert await directory.officer(JANE.object_id) is not None

        assert tenant.tokens.grants == {"managed_identity": 1}


# --- request economy -------------------------------------------------------------------------


GROUP_USERS = "GET /groups/{id}/transitiveMembers/graph.user"


async def test_a_hundred_officers_take_two_requests(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    ids = seed(tenant.graph, 100)
    directory = await open_directory()

    found = await directory.officers(ids)

    assert set(found) == set(ids)
    assert found[officer_id(10)].roles == {Role.OFFICER, Role.APPROVER}
    assert found[officer_id(11)].roles == {Role.OFFICER}
    assert found[officer_id(11)].display_name == "Officer 11"
    # 7 chunks of 15 ids, each asked of /users and of the 4 role groups: 35 requests, 20 to a
    # $batch. Asking per officer would take 7 + 100 = 107 requests, 6 batches.
    assert tenant.graph.batched_requests == {"GET /users": 7, GROUP_USERS: 28}
    assert tenant.graph.http_requests == {"POST /$batch": 2}
    assert tenant.graph.http_requests["POST /$batch"] <= 5  # the target


async def test_group_answers_decide_roles_nested_or_not(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    ids = seed(tenant.graph, 30)
    # Transitive membership (through a nested group) is what the fake's memberships hold.
    tenant.graph.add_user(officer_id(31), "Tom Reid", groups=[UNRELATED, AUDITORS, ADMINS])
    tenant.graph.add_user(officer_id(32), "No Roles", groups=[UNRELATED])
    directory = await open_directory()

    found = await directory.officers([*ids, officer_id(31), officer_id(32), officer_id(99)])

    assert found[officer_id(31)].roles == {Role.AUDITOR, Role.ADMIN}
    assert found[officer_id(32)].roles == frozenset()
    assert found[officer_id(20)].roles == {Role.OFFICER, Role.APPROVER}
    assert officer_id(99) not in found
    assert tenant.graph.batched_requests[GROUP_USERS] == 3 * 4


async def test_a_deleted_role_group_grants_nothing(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    ids = seed(tenant.graph, 30)
    tenant.graph.deleted_groups.add(APPROVERS)
    directory = await open_directory()

    found = await directory.officers(ids)

    assert found[officer_id(10)].roles == {Role.OFFICER}
    assert all(Role.APPROVER not in officer.roles for officer in found.values())


async def test_a_refused_group_query_falls_back_to_asking_per_officer(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    ids = seed(tenant.graph, 30)
    tenant.graph.refuse_group_filter = True
    directory = await open_directory()

    first = await directory.officers(ids[:20])
    second = await directory.officers(ids[20:])

    assert first[officer_id(10)].roles == {Role.OFFICER, Role.APPROVER}
    assert second[officer_id(30)].roles == {Role.OFFICER, Role.APPROVER}
    assert second[officer_id(21)].roles == {Role.OFFICER}
    # Refused once (2 chunks x 4 groups), then never asked again.
    assert tenant.graph.batched_requests[GROUP_USERS] == 8
    assert tenant.graph.batched_requests["GET /users/{id}/transitiveMemberOf"] == 30


async def test_without_group_member_permission_roles_are_asked_per_officer(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    ids = seed(tenant.graph, 30)
    tenant.graph.route_faults[GROUP_USERS] = deque([Fault(403, times=8)])  # every group request
    directory = await open_directory()

    found = await directory.officers(ids)

    assert found[officer_id(10)].roles == {Role.OFFICER, Role.APPROVER}
    assert found[officer_id(11)].roles == {Role.OFFICER}
    assert tenant.graph.batched_requests["GET /users/{id}/transitiveMemberOf"] == 30


async def test_a_group_query_without_the_advanced_headers_is_refused(
    tenant: FakeTenant,
) -> None:
    """The fake holds the SDK to Graph's rule: a member filter needs ConsistencyLevel."""
    ids = seed(tenant.graph, 2)
    url = (
        f"{tenant.graph.base_url}/groups/{OFFICERS}/transitiveMembers/microsoft.graph.user"
        f"?$filter=id in ('{ids[0]}')&$count=true"
    )
    headers = {"Authorization": f"Bearer {tenant.graph.token}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=headers) as plain:
            refused = await plain.json()
        eventual = {**headers, "ConsistencyLevel": "eventual"}
        async with session.get(url, headers=eventual) as advanced:
            answered = await advanced.json()

    assert plain.status == 400
    assert refused["error"]["code"] == "Request_UnsupportedQuery"
    assert advanced.status == 200
    assert [member["id"] for member in answered["value"]] == [ids[0]]


async def test_group_members_are_followed_across_pages(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    ids = seed(tenant.graph, 30)
    tenant.graph.membership_page_limit = 4
    directory = await open_directory()

    found = await directory.officers(ids)

    assert all(Role.OFFICER in officer.roles for officer in found.values())
    assert {n for n in range(1, 31) if Role.APPROVER in found[officer_id(n)].roles} == {
        10,
        20,
        30,
    }
    # 15 officers per chunk in the OFFICERS group, 4 to a page: 3 more pages per chunk.
    assert tenant.graph.http_requests[GROUP_USERS] == 2 * 3


async def test_a_failing_group_answer_makes_only_its_chunk_unavailable(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    ids = seed(tenant.graph, 30)
    directory = await open_directory(max_retries=0)
    tenant.graph.route_faults[GROUP_USERS] = deque([Fault(500)])  # the first group's first chunk

    with pytest.raises(DirectoryUnavailable):
        await directory.officers(ids)
    before = tenant.graph.total_http
    second_chunk = await directory.officers(ids[15:])
    assert tenant.graph.total_http == before  # answered and cached by the failed load
    first_chunk = await directory.officers(ids[:15])

    assert set(second_chunk) == set(ids[15:])
    assert first_chunk[officer_id(10)].roles == {Role.OFFICER, Role.APPROVER}
    assert tenant.graph.total_http == before + 1


async def test_repeated_lookups_within_the_ttl_cost_nothing(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    ids = seed(tenant.graph, 100)
    directory = await open_directory()
    await directory.officers(ids)
    before = tenant.graph.total_http

    for object_id in ids:
        assert await directory.officer(object_id) is not None
    assert len(await directory.officers(ids)) == 100

    assert tenant.graph.total_http == before


async def test_concurrent_lookups_of_one_officer_share_one_request(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    directory = await open_directory()

    answers = await asyncio.gather(*(directory.officer(JANE.object_id) for _ in range(50)))

    assert {answer.object_id if answer else None for answer in answers} == {JANE.object_id}
    # One HTTP request: a $batch with the user and their memberships.
    assert tenant.graph.http_requests == {"POST /$batch": 1}
    assert sum(tenant.graph.batched_requests.values()) == 2


async def test_a_single_lookup_joins_a_bulk_lookup_in_flight(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    ids = seed(tenant.graph, 3)
    directory = await open_directory()

    bulk, single = await asyncio.gather(directory.officers(ids), directory.officer(ids[0]))

    assert single == bulk[ids[0]]
    assert tenant.graph.http_requests == {"POST /$batch": 1}


async def test_malformed_ids_never_reach_graph(tenant: FakeTenant, open_directory: Opener) -> None:
    directory = await open_directory()

    assert await directory.officer("') or true or ('") is None
    assert await directory.officers(["nobody", "../me"]) == {}
    assert tenant.graph.total_http == 0


# --- failures ------------------------------------------------------------------------------


async def test_a_throttled_batch_waits_for_retry_after(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    tenant.graph.faults.append(Fault(429, retry_after=1))
    directory = await open_directory()

    started = time.monotonic()
    jane = await directory.officer(JANE.object_id)

    assert jane is not None
    assert time.monotonic() - started >= 1.0
    assert tenant.graph.http_requests == {"POST /$batch": 2}


async def test_a_throttled_request_inside_a_batch_is_sent_again(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    tenant.graph.item_faults.append(Fault(429, retry_after=1))
    directory = await open_directory()

    started = time.monotonic()
    jane = await directory.officer(JANE.object_id)

    assert jane is not None
    assert jane.roles == {Role.OFFICER}
    assert time.monotonic() - started >= 1.0
    assert tenant.graph.http_requests == {"POST /$batch": 2}


async def test_errors_beyond_the_retries_are_unavailable(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    tenant.graph.faults.append(Fault(503, retry_after=1, times=10))
    directory = await open_directory(max_retries=1)

    with pytest.raises(DirectoryUnavailable) as caught:
        await directory.officer(JANE.object_id)

    assert caught.value.status == 503
    assert tenant.graph.http_requests == {"POST /$batch": 2}


async def test_a_stale_answer_is_served_while_graph_fails_within_the_window(
    tenant: FakeTenant, open_directory: Opener, clock: ManualClock
) -> None:
    directory = await open_directory(cache_ttl=60, stale_if_error=300, max_retries=0)
    jane = await directory.officer(JANE.object_id)
    tenant.graph.faults.append(Fault(503, times=10))

    clock.advance(200)
    assert await directory.officer(JANE.object_id) == jane

    clock.advance(200)
    with pytest.raises(DirectoryUnavailable):
        await directory.officer(JANE.object_id)
    assert tenant.graph.http_requests == {"POST /$batch": 3}


async def test_an_unknown_officer_is_none_and_remembered_briefly(
    tenant: FakeTenant, open_directory: Opener, clock: ManualClock
) -> None:
    newcomer = officer_id(999)
    directory = await open_directory(negative_ttl=60)

    assert await directory.officer(newcomer) is None
    assert await directory.officer(newcomer) is None
    assert tenant.graph.total_http == 1

    tenant.graph.add_user(newcomer, "New Starter")
    clock.advance(61)
    found = await directory.officer(newcomer)

    assert found is not None
    assert found.display_name == "New Starter"
    assert tenant.graph.total_http == 2


async def test_a_slow_graph_times_out(tenant: FakeTenant, open_directory: Opener) -> None:
    tenant.graph.delay = 0.6
    directory = await open_directory(timeout=0.2)

    started = time.monotonic()
    with pytest.raises(DirectoryUnavailable, match="in time"):
        await directory.officer(JANE.object_id)

    assert time.monotonic() - started < 0.5


async def test_memberships_are_followed_across_pages(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    tenant.graph.membership_page_limit = 2
    tenant.graph.add_user(officer_id(1), "Sarah Okafor", groups=[UNRELATED] * 4 + [APPROVERS])
    directory = await open_directory()

    sarah = await directory.officer(officer_id(1))

    assert sarah is not None
    assert sarah.roles == {Role.APPROVER}
    assert tenant.graph.http_requests == {
        "POST /$batch": 1,
        "GET /users/{id}/transitiveMemberOf": 2,
    }


async def test_paging_that_leaves_graph_is_refused(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    tenant.graph.membership_page_limit = 1
    tenant.graph.next_link_origin = "http://127.0.0.2:9"
    directory = await open_directory()

    with pytest.raises(DirectoryUnavailable, match="unreadable answer"):
        await directory.officer(JANE.object_id)


async def test_a_disabled_account_and_no_role_groups(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    tenant.graph.add_user(officer_id(2), "Former Officer", accountEnabled=False)
    directory = await open_directory(role_groups={})

    former = await directory.officer(officer_id(2))

    assert former is not None
    assert not former.enabled
    assert former.roles == frozenset()
    assert tenant.graph.batched_requests == {"GET /users/{id}": 1}


# --- channels ------------------------------------------------------------------------------


async def test_channel_members_are_paged_and_only_entra_users(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    ids = seed(tenant.graph, 5)
    guest = {
        "@odata.type": "#microsoft.graph.anonymousGuestConversationMember",
        "id": "guest",
        "displayName": "Visitor",
        "anonymousGuestId": "g-1",
    }
    tenant.graph.add_channel(TEAM, CHANNEL, ids, others=[guest])
    tenant.graph.members_page_size = 2
    directory = await open_directory()

    members = await directory.channel_members(TEAM.upper(), CHANNEL)
    again = await directory.channel_members(TEAM, CHANNEL)

    assert members == again == set(ids)
    assert tenant.graph.http_requests == {"GET /teams/{id}/channels/{id}/members": 3}


async def test_an_unknown_channel_has_no_members_and_is_remembered(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    directory = await open_directory()

    assert await directory.channel_members(TEAM, CHANNEL) == frozenset()
    assert await directory.channel_members(TEAM, CHANNEL) == frozenset()
    assert await directory.channel_members("not-a-team", CHANNEL) == frozenset()
    assert await directory.channel_members(TEAM, "19:x;messageid=1") == frozenset()
    assert tenant.graph.total_http == 1


async def test_create_a_channel(tenant: FakeTenant, open_directory: Opener) -> None:
    tenant.graph.add_channel(TEAM, CHANNEL, [JANE.object_id])
    directory = await open_directory()

    channel_id = await directory.create_channel(TEAM, "MET-24-0001 Burglary", "Case channel")

    assert channel_id.startswith("19:")
    created = tenant.graph.created_channels[0]
    assert (created["id"], created["displayName"], created["membershipType"]) == (
        channel_id,
        "MET-24-0001 Burglary",
        "standard",
    )
    assert created["description"] == "Case channel"


async def test_channel_creation_refusals_are_invalid_input(
    tenant: FakeTenant, open_directory: Opener
) -> None:
    tenant.graph.add_channel(TEAM, CHANNEL, [JANE.object_id])
    directory = await open_directory()
    await directory.create_channel(TEAM, "MET-24-0001", "")
    before = tenant.graph.total_http

    with pytest.raises(InvalidInput, match="already exists"):
        await directory.create_channel(TEAM, "MET-24-0001", "")
    with pytest.raises(InvalidInput) as unknown_team:
        await directory.create_channel(officer_id(7), "MET-24-0002", "")
    assert unknown_team.value.field == "team"
    for bad in ("", "x" * 51, "a/b", "_hidden", "ends."):
        with pytest.raises(InvalidInput) as caught:
            await directory.create_channel(TEAM, bad, "")
        assert caught.value.field == "channel name"
    assert tenant.graph.total_http == before + 2


# --- configuration -------------------------------------------------------------------------


def test_the_config_hides_secrets_and_fails_fast() -> None:
    config = GraphDirectoryConfig(
        credential_kind=CredentialKind.CLIENT_SECRET,
        tenant_id=TENANT_ID,
        client_id=CLIENT_ID,
        client_secret="very-secret",
        role_groups={OFFICERS.upper(): Role.OFFICER, APPROVERS: "approver"},  # type: ignore[dict-item]
    )

    assert "very-secret" not in repr(config)
    assert config.allowed_hosts == ("graph.microsoft.com",)
    assert dict(config.role_groups) == {OFFICERS: Role.OFFICER, APPROVERS: Role.APPROVER}
    base: dict[str, Any] = {
        "credential_kind": CredentialKind.CLIENT_SECRET,
        "tenant_id": TENANT_ID,
        "client_id": CLIENT_ID,
        "client_secret": "s",
    }
    problems: dict[str, dict[str, Any]] = {
        "client_secret": {"client_secret": None},
        "tenant_id": {"tenant_id": ""},
        "certificate_path": {"credential_kind": CredentialKind.CERTIFICATE},
        "base_url": {"base_url": "http://graph.example/v1.0"},
        "role_groups": {"role_groups": {"not-a-guid": Role.ADMIN}},
        "timeout": {"timeout": 0},
        "max_retries": {"max_retries": 11},
    }
    for field, change in problems.items():
        with pytest.raises(GraphConfigError) as caught:
            GraphDirectoryConfig(**{**base, **change})
        assert caught.value.field == field
    with pytest.raises(GraphConfigError, match="is not a role"):
        GraphDirectoryConfig(**{**base, "role_groups": {OFFICERS: "constable"}})
    local = GraphDirectoryConfig(**{**base, "base_url": "http://127.0.0.1:8080/v1.0"})
    assert local.allowed_hosts == ("127.0.0.1",)


# --- the cache on its own ------------------------------------------------------------------


@pytest.fixture
def cache(clock: ManualClock) -> SingleFlightCache[str, str]:
    return SingleFlightCache(ttl=10, negative_ttl=5, stale_if_error=0, max_entries=3, clock=clock)


async def test_a_caller_giving_up_does_not_cancel_the_shared_load(
    cache: SingleFlightCache[str, str],
) -> None:
    release = asyncio.Event()
    calls: list[list[str]] = []

    async def fetch(keys: list[str]) -> dict[str, str | Failed | None]:
        calls.append(keys)
        await release.wait()
        return {key: key.upper() for key in keys}

    impatient = asyncio.create_task(cache.get_many(["a"], fetch))
    patient = asyncio.create_task(cache.get_many(["a"], fetch))
    await asyncio.sleep(0)
    impatient.cancel()
    release.set()

    assert await patient == {"a": "A"}
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert calls == [["a"]]
    await cache.aclose()


async def test_the_cache_keeps_at_most_max_entries(
    cache: SingleFlightCache[str, str],
) -> None:
    async def fetch(keys: list[str]) -> dict[str, str | Failed | None]:
        return {key: key for key in keys}

    await cache.get_many(["a", "b", "c", "d"], fetch)

    assert len(cache) == 3
