"""Decisions on shares read the team and the approver afresh when they are taken.

The case team is cached for minutes and the Graph directory caches officers: a decision must
not rest on either. Someone removed from the channel cannot approve or revoke; an approval
checked in the background (large exhibits) re-reads the approver's directory entry and the
team when it decides, not when it was clicked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from evidence.custody import Action
from evidence.errors import DirectoryUnavailable
from evidence.shares import ShareStatus
from exhibit.composition import SERVICES
from exhibit.settings import Settings, load_settings
from graph.cache import Failed, SingleFlightCache
from graph.graph_directory import GraphDirectory, open_graph_directory
from storage.database import create_engine
from storage.records import SqlRecords
from tests.conftest import BotClientFactory
from tests.fakes.graph_server import FakeGraph
from tests.fakes.tenant import FakeTenant, Tls, fake_tenant
from tests.support.app_records import records as records  # the fixture
from tests.support.connector import RecordingConnector
from tests.support.conversation import CASE_CHANNEL, PERSONAL_CHAT, Conversation
from tests.support.graph_mode import (
    APPROVERS_GROUP,
    CHANNEL,
    OFFICERS_GROUP,
    ROLE_GROUPS,
    TEAM,
    graph_env,
)
from tests.support.people import JANE, RAVI, SARAH, channel_members
from tests.test_sharing import _case_with_exhibit, _share_id
from tests.test_sharing import file_url as file_url  # the fixture
from tests.test_sharing import team as team  # the fixture


async def recorded(records: SqlRecords, share_id: str) -> tuple[ShareStatus, list[tuple[str, str]]]:
    """The share's status and the (action, actor) of each custody entry about it."""
    async with records.unit() as unit:
        share = await unit.share(share_id)
        assert share is not None
        entries = await unit.custody(share.case_id)
    about = [(e.action, e.actor_id) for e in entries if e.details.get("share") == share_id]
    return share.status, about


# --- a member removed from the channel, the team still cached ------------------------------


async def test_an_approver_removed_from_the_channel_cannot_approve(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0601")
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason x"))  # team cached
    team.recorder.members[CHANNEL] = channel_members(JANE, SARAH)  # Ravi has left

    answer = await team.click_share("share.approve", share_id, sender=RAVI)

    assert "Approved" not in answer
    status, about = await recorded(records, share_id)
    assert status is ShareStatus.PENDING
    assert (Action.SHARE_REFUSED, RAVI.object_id) in about
    assert Action.SHARE_APPROVED not in [action for action, _ in about]


async def test_an_approver_removed_from_the_channel_cannot_revoke(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0602")
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason x"))
    assert "Approved" in await team.click_share("share.approve", share_id, sender=SARAH)
    team.recorder.members[CHANNEL] = channel_members(JANE, RAVI)  # Sarah has left

    answer = await team.say(f"share revoke {share_id}", sender=SARAH, where=PERSONAL_CHAT)

    assert "Share revoked" not in answer
    status, about = await recorded(records, share_id)
    assert status is ShareStatus.APPROVED
    assert (Action.SHARE_REFUSED, SARAH.object_id) in about


# --- the approver's directory entry, between the click and the background decision ---------


@pytest.fixture
async def tenant(tls: Tls) -> AsyncIterator[FakeTenant]:
    async with fake_tenant(tls) as running:
        graph = running.graph
        graph.add_user(JANE.object_id, "Jane Smith", givenName="Jane", surname="Smith",
                       groups=[OFFICERS_GROUP])  # fmt: skip
        graph.add_user(RAVI.object_id, "Ravi Patel", groups=[OFFICERS_GROUP, APPROVERS_GROUP])
        graph.add_channel(TEAM, CHANNEL, [JANE.object_id, RAVI.object_id])
        yield running


@pytest.fixture
async def directory(tenant: FakeTenant) -> AsyncIterator[GraphDirectory]:
    opened = await open_graph_directory(tenant.config(role_groups=ROLE_GROUPS))
    yield opened
    await opened.aclose()


@pytest.fixture
def graph_settings(base_env: dict[str, str], tenant: FakeTenant, tls: Tls) -> Settings:
    settings = load_settings(
        graph_env(
            base_env,
            EXHIBIT_GRAPH_AUTHORITY_HOST=tenant.tokens.authority,
            EXHIBIT_GRAPH_CA_BUNDLE=str(tls.material.ca_file),
            EXHIBIT_GRAPH_BASE_URL=tenant.graph.base_url,
        )
    )
    return settings.model_copy(
        update={"verify_inline_bytes": 0}
    )  # every approval checked in the background


def role_removed(graph: FakeGraph) -> None:
    graph.memberships[RAVI.object_id.lower()] = [OFFICERS_GROUP.lower()]


def account_disabled(graph: FakeGraph) -> None:
    graph.users[RAVI.object_id.lower()]["accountEnabled"] = False


def left_the_channel(graph: FakeGraph) -> None:
    graph.add_channel(TEAM, CHANNEL, [JANE.object_id])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (role_removed, "only approvers can decide share requests"),
        (account_disabled, "your account is disabled"),
        (left_the_channel, "you are not on the team of case MET-24-0610"),
    ],
)
async def test_a_background_approval_decides_on_the_directory_as_it_is_then(
    graph_settings: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    directory: GraphDirectory,
    tenant: FakeTenant,
    file_url: str,
    change: Callable[[FakeGraph], None],
    reason: str,
) -> None:
    recorder, url = connector
    recorder.members[CHANNEL] = channel_members(JANE, RAVI)
    client = await bot_client(graph_settings, directory=directory)
    team = Conversation(client, recorder, url, where=CASE_CHANNEL)
    await _case_with_exhibit(team, file_url, "MET-24-0610")
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason x"))
    assert "Ravi Patel" in await team.say("whoami", sender=RAVI)  # Ravi is in the cache
    # Hold the directory's officer lookups (Graph $batch) until the change is made.
    held = asyncio.Event()
    tenant.graph.gates["POST /$batch"] = held

    answer = await team.click_share("share.approve", share_id, sender=RAVI)
    change(tenant.graph)
    held.set()
    await client.app[SERVICES].jobs.settle()

    assert "Checking 1 exhibit" in answer
    engine = create_engine(graph_settings.database_url.get_secret_value())
    try:
        records = SqlRecords(engine)
        status, about = await recorded(records, share_id)
        async with records.unit() as unit:
            share = await unit.share(share_id)
            assert share is not None
            entries = await unit.custody(share.case_id)
    finally:
        await engine.dispose()
    assert status is ShareStatus.PENDING
    assert Action.SHARE_APPROVED not in [action for action, _ in about]
    refusals = [e.details for e in entries if e.action == Action.SHARE_REFUSED]
    assert [(r["attempt"], r["reason"]) for r in refusals] == [("approve", reason)]
    assert not any("Share approved" in str(body) for body in recorder.activities())


async def test_a_fresh_read_skips_the_cache_and_is_never_answered_stale() -> None:
    """What `Directory.officer(..., fresh=True)` rests on in the Graph directory."""
    now = [0.0]
    cache: SingleFlightCache[str, str] = SingleFlightCache(
        ttl=60, negative_ttl=5, stale_if_error=600, max_entries=10, clock=lambda: now[0]
    )
    directory = {"ravi": "approver"}
    down = False

    async def fetch(keys: list[str]) -> dict[str, str | Failed | None]:
        if down:
            raise DirectoryUnavailable("graph is down")
        return {key: directory.get(key) for key in keys}

    assert await cache.get_many(["ravi"], fetch) == {"ravi": "approver"}
    directory["ravi"] = "officer"  # the approvers' group membership removed
    assert await cache.get_many(["ravi"], fetch) == {"ravi": "approver"}  # cached
    assert await cache.get_many(["ravi"], fetch, fresh=True) == {"ravi": "officer"}
    now[0] += 61
    down = True
    assert await cache.get_many(["ravi"], fetch) == {"ravi": "officer"}  # stale-if-error
    with pytest.raises(DirectoryUnavailable):
        await cache.get_many(["ravi"], fetch, fresh=True)
