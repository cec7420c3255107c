"""The bot with the Graph directory: whoami from Entra, outages, case teams and case channels.

The directory is the real GraphDirectory (msgraph-sdk, azure-identity) talking to a fake tenant:
an HTTPS token endpoint and a fake Graph speaking its documented JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.settings import Settings, load_settings
from graph.graph_directory import GraphDirectory, open_graph_directory
from tests.conftest import BotClientFactory
from tests.fakes.graph_server import Fault
from tests.fakes.tenant import (
    CLIENT_ID,
    CLIENT_SECRET,
    TENANT_ID,
    FakeTenant,
    Tls,
    fake_tenant,
    make_test_tls,
)
from tests.support.activities import load_activity
from tests.support.connector import RecordingConnector

JANE = "1a7e2c3d-0001-4f00-8000-000000000001"
RAVI = "1a7e2c3d-0002-4f00-8000-000000000002"
LIAM = "1a7e2c3d-0006-4f00-8000-000000000006"
OFFICERS_GROUP = "5e0a0000-0000-4000-8000-0000000000a1"
APPROVERS_GROUP = "5e0a0000-0000-4000-8000-0000000000a2"
TEAM = "7b3f9e21-4c5d-4e6f-8a7b-9c0d1e2f3a4b"
CHANNEL = "19:exhibit-case-channel@thread.tacv2"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_test_tls(tmp_path_factory.mktemp("tls"))


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
    opened = await open_graph_directory(
        tenant.config(role_groups={OFFICERS_GROUP: "officer", APPROVERS_GROUP: "approver"})
    )
    yield opened
    await opened.aclose()


def _graph_settings(base_env: dict[str, str], **extra: str) -> Settings:
    return load_settings(
        {
            **base_env,
            "EXHIBIT_DIRECTORY": "graph",
            "EXHIBIT_GRAPH_TENANT_ID": TENANT_ID,
            "EXHIBIT_GRAPH_CLIENT_ID": CLIENT_ID,
            "EXHIBIT_GRAPH_CLIENT_SECRET": CLIENT_SECRET,
            "EXHIBIT_ROLE_GROUPS": f"{OFFICERS_GROUP}=officer,{APPROVERS_GROUP}=approver",
            **extra,
        }
    )


async def _say(
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    settings: Settings,
    directory: GraphDirectory,
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
    assert "Not allowed" in str(liam["attachments"][0]["content"])


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
