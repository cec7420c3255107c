"""The bot with the Graph directory: whoami from Entra, outages, case teams and case channels.

The directory is the real GraphDirectory (msgraph-sdk, azure-identity) talking to a fake tenant:
an HTTPS token endpoint and a fake Graph speaking its documented JSON.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import pytest

from bot.settings import Settings, load_settings
from evidence.officers import Officer
from evidence.ports import Directory
from evidence.records import inside_unit
from graph.graph_directory import GraphDirectory, open_graph_directory
from storage.database import create_engine
from storage.records import SqlRecords
from tests.conftest import BotClientFactory
from tests.fakes.graph_server import Fault, reference_attachment
from tests.fakes.tenant import (
    FakeTenant,
    Tls,
    fake_tenant,
)
from tests.support.activities import load_activity
from tests.support.connector import RecordingConnector
from tests.support.graph_mode import (
    APPROVERS_GROUP,
    CHANNEL,
    JANE,
    LIAM,
    OFFICERS_GROUP,
    RAVI,
    ROLE_GROUPS,
    TEAM,
    graph_env,
)


@pytest.fixture
async def tenant(tls: Tls) -> AsyncIterator[FakeTenant]:
    async with fake_tenant(tls) as running:
        graph = running.graph
        graph.add_user(JANE, "Jane Smith", givenName="Jane", surname="Smith",
                       jobTitle="Police Constable", department="Lambeth CID",
                       mail="jane.smith@met.example", groups=[OFFICERS_GROUP])  # fmt: skip
        graph.add_user(RAVI, "Ravi Patel", jobTitle="Detective Sergeant",
                       groups=[OFFICERS_GROUP, APPROVERS_GROUP])  # fmt: skip
        graph.add_user(LIAM, "Liam Walsh", jobTitle="Police Constable", groups=[OFFICERS_GROUP])
        graph.add_channel(TEAM, CHANNEL, [JANE, RAVI])
        yield running


@pytest.fixture
async def directory(tenant: FakeTenant) -> AsyncIterator[GraphDirectory]:
    opened = await open_graph_directory(tenant.config(role_groups=ROLE_GROUPS))
    yield opened
    await opened.aclose()


def _graph_settings(base_env: dict[str, str], **extra: str) -> Settings:
    return load_settings(graph_env(base_env, **extra))


async def _say(
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    settings: Settings,
    directory: Directory,
    text: str,
    *,
    sender: str = JANE,
    where: str = "personal_message",
) -> list[dict[str, Any]]:
    recorder, url = connector
    client = await bot_client(settings, directory=directory)
    before = len(recorder.activities())
    activity = load_activity(where, url, text=text, id=f"m{before}")
    activity["from"]["aadObjectId"] = sender
    assert (await client.post("/api/messages", json=activity)).status == 202
    return (await recorder.wait_for(before + 1))[before:]


async def test_whoami_comes_from_entra(
    base_env: dict[str, str],
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    directory: GraphDirectory,
) -> None:
    (reply,) = await _say(bot_client, connector, _graph_settings(base_env), directory, "whoami")
    card = str(reply["attachments"][0]["content"])
    assert "Jane Smith" in card
    assert "Police Constable" in card
    assert "Entra ID (Microsoft Graph)" in card


async def test_graph_down_gives_a_clear_card_and_no_exception(
    base_env: dict[str, str],
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    tenant: FakeTenant,
    directory: GraphDirectory,
) -> None:
    tenant.graph.faults.append(Fault(503, times=50))
    (reply,) = await _say(bot_client, connector, _graph_settings(base_env), directory, "whoami")
    card = str(reply["attachments"][0]["content"])
    assert "Directory unavailable" in card
    assert "Nothing was changed" in card


async def test_case_team_comes_from_graph_channel_members(
    base_env: dict[str, str],
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    directory: GraphDirectory,
) -> None:
    settings = _graph_settings(base_env)
    await _say(bot_client, connector, settings, directory, "case open MET-24-0100 Theft",
               where="channel_mention")  # fmt: skip
    (ravi,) = await _say(bot_client, connector, settings, directory, "case show MET-24-0100",
                         sender=RAVI)  # fmt: skip
    assert "Theft" in str(ravi["attachments"][0]["content"])
    (liam,) = await _say(bot_client, connector, settings, directory, "case show MET-24-0100",
                         sender=LIAM)  # fmt: skip
    assert "that you can see" in str(liam["attachments"][0]["content"])


async def test_case_open_can_create_a_dedicated_channel(
    base_env: dict[str, str],
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    tenant: FakeTenant,
    directory: GraphDirectory,
) -> None:
    recorder, _url = connector
    settings = _graph_settings(base_env, EXHIBIT_CREATE_CASE_CHANNELS="true")
    text = "case open MET-24-0101 Burglary: 12 High St."
    replies = await _say(bot_client, connector, settings, directory, text, where="channel_mention")
    (created,) = tenant.graph.created_channels
    assert created["displayName"] == "MET-24-0101 Burglary 12 High St"
    new_channel = created["id"]
    posts = [
        r for r in recorder.received if r.path == f"/v3/conversations/{new_channel}/activities"
    ]
    assert len(posts) == 1
    assert "MET-24-0101" in str(posts[0].body["attachments"][0]["content"])
    answer = str(replies[-1]["attachments"][0]["content"])
    assert "Case opened in its own channel" in answer


def test_channel_creation_needs_the_graph_directory(base_env: dict[str, str]) -> None:
    from bot.settings import SettingsError

    with pytest.raises(SettingsError) as raised:
        load_settings({**base_env, "EXHIBIT_CREATE_CASE_CHANNELS": "true"})
    assert raised.value.name == "EXHIBIT_CREATE_CASE_CHANNELS"


async def test_a_file_posted_in_a_channel_is_read_through_graph_with_quick_xor(
    base_env: dict[str, str],
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    tenant: FakeTenant,
    directory: GraphDirectory,
    tls: Tls,
) -> None:
    recorder, url = connector
    settings = _graph_settings(
        base_env,
        EXHIBIT_GRAPH_AUTHORITY_HOST=tenant.tokens.authority,
        EXHIBIT_GRAPH_CA_BUNDLE=str(tls.material.ca_file),
        EXHIBIT_GRAPH_BASE_URL=tenant.graph.base_url,
        EXHIBIT_DOWNLOAD_HOSTS="127.0.0.1,*.sharepoint.com",
    )
    content = b"%PDF-1.7\n" + os.urandom(100_000)
    file_url = "https://met.sharepoint.com/sites/OpKestrel/Shared Documents/statement.pdf"
    item = tenant.graph.add_drive_item(
        file_url, "statement.pdf", content, mime_type="application/pdf",
        drive_id=tenant.graph.channel_drive(TEAM, CHANNEL),
    )  # fmt: skip
    await _say(bot_client, connector, settings, directory, "case open MET-24-0102 Theft",
               where="channel_mention")  # fmt: skip
    root = "1732570000777"
    tenant.graph.add_channel_message(
        TEAM, CHANNEL, root, attachments=[reference_attachment("statement.pdf", file_url)]
    )
    client = await bot_client(settings, directory=directory)
    activity = load_activity("channel_mention", url, text="<at>Exhibit</at> add", id=root)
    activity["conversation"]["id"] = f"{CHANNEL};messageid={root}"
    before = len(recorder.activities())
    assert (await client.post("/api/messages", json=activity)).status == 202
    (receipt,) = (await recorder.wait_for(before + 1))[before:]
    assert "Receiving 1 file for MET-24-0102" in str(receipt["attachments"][0]["content"])
    for _ in range(150):
        updates = [str(r.body) for r in recorder.received if r.method == "PUT"]
        if any("Exhibit JS/1" in u for u in updates):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the receipt never became an exhibit")
    engine = create_engine(settings.database_url.value)
    try:
        async with SqlRecords(engine).unit() as unit:
            case = await unit.case_by_reference("MET-24-0102")
            assert case is not None
            (exhibit,) = await unit.exhibits_of(case.id)
    finally:
        await engine.dispose()
    assert exhibit.sha256 == hashlib.sha256(content).hexdigest()
    assert exhibit.source_details["quickXorHash"] == item.quick_xor_hash
    assert exhibit.source_details["quickXorHashMatches"] is True
    assert exhibit.source_details["eTag"]


class WatchedDirectory:
    """The Graph directory, noting whether each channel-member lookup ran inside a unit."""

    def __init__(self, inner: GraphDirectory) -> None:
        self.inner = inner
        self.source = inner.source
        self.lookups_inside_a_unit: list[bool] = []

    async def officer(self, object_id: str, *, fresh: bool = False) -> Officer | None:
        return await self.inner.officer(object_id, fresh=fresh)

    async def officers(self, object_ids: Iterable[str]) -> Mapping[str, Officer]:
        return await self.inner.officers(object_ids)

    async def channel_members(
        self, team_id: str, channel_id: str, *, fresh: bool = False
    ) -> frozenset[str]:
        self.lookups_inside_a_unit.append(inside_unit())
        return await self.inner.channel_members(team_id, channel_id, fresh=fresh)


async def test_case_teams_are_looked_up_outside_units_of_work(
    base_env: dict[str, str],
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    tenant: FakeTenant,
    directory: GraphDirectory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Graph call inside a unit would hold SQLite's write lock for as long as Graph takes."""
    watched = WatchedDirectory(directory)
    settings = _graph_settings(base_env, EXHIBIT_CASE_TEAM_SECONDS="0")  # every command asks
    await _say(bot_client, connector, settings, watched, "case open MET-24-0110 Theft",
               where="channel_mention")  # fmt: skip
    await _say(bot_client, connector, settings, watched, "case open MET-24-0111 Fraud")  # 1:1
    tenant.graph.delay = 0.3  # slow enough that a lookup inside a unit would be felt

    (ravi,) = await _say(bot_client, connector, settings, watched, "case show MET-24-0110",
                         sender=RAVI)  # fmt: skip
    (listed,) = await _say(bot_client, connector, settings, watched, "case list", sender=RAVI)
    (liam,) = await _say(bot_client, connector, settings, watched, "case list", sender=LIAM)

    assert "Theft" in str(ravi["attachments"][0]["content"])
    assert "MET-24-0110" in str(listed["attachments"][0])
    assert "MET-24-0111" not in str(listed)  # Jane's own, in no channel
    assert "MET-24-0110" not in str(liam["attachments"][0]["content"])
    assert watched.lookups_inside_a_unit
    assert not any(watched.lookups_inside_a_unit)
    assert "inside a unit of work" not in caplog.text
