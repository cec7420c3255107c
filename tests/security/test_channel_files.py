"""Files read through Graph are fetched only from where the case's files live.

Exhibit reads channel files with its own tenant-wide file permission: without a check, an
officer could post a link to any SharePoint or OneDrive file in the tenant and have Exhibit copy
it into a case. The real bot, the real msgraph-sdk and the fake Graph: a file in the case
channel's drive (or, in a chat, the sender's OneDrive) is taken; one anywhere else is refused
before any byte is fetched, and the refusal is recorded without its URL.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from evidence.custody import Action
from exhibit.settings import Settings, load_settings
from graph.graph_directory import GraphDirectory, open_graph_directory
from storage.database import create_engine
from storage.records import SqlRecords
from tests.conftest import ConversationFactory
from tests.fakes.graph_server import reference_attachment
from tests.fakes.tenant import FakeTenant, Tls, fake_tenant
from tests.support.conversation import CASE_CHANNEL, card_of
from tests.support.graph_mode import (
    CHANNEL,
    OFFICERS_GROUP,
    ROLE_GROUPS,
    TEAM,
    graph_env,
)
from tests.support.people import JANE, RAVI

OTHER_TEAM = "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f"
OTHER_CHANNEL = "19:another-teams-channel@thread.tacv2"
GROUP_CHAT = "19:meeting-chat@thread.v2"
CONTENT = b"%PDF-1.7\n" + os.urandom(20_000)


@pytest.fixture
async def tenant(tls: Tls) -> AsyncIterator[FakeTenant]:
    async with fake_tenant(tls) as running:
        graph = running.graph
        graph.add_user(JANE.object_id, "Jane Smith", givenName="Jane", surname="Smith",
                       groups=[OFFICERS_GROUP])  # fmt: skip
        graph.add_user(RAVI.object_id, "Ravi Patel", groups=[OFFICERS_GROUP])
        graph.add_channel(TEAM, CHANNEL, [JANE.object_id, RAVI.object_id])
        graph.add_channel(OTHER_TEAM, OTHER_CHANNEL, [JANE.object_id])
        yield running


@pytest.fixture
async def directory(tenant: FakeTenant) -> AsyncIterator[GraphDirectory]:
    opened = await open_graph_directory(tenant.config(role_groups=ROLE_GROUPS))
    yield opened
    await opened.aclose()


@pytest.fixture
def graph_settings(base_env: dict[str, str], tenant: FakeTenant, tls: Tls) -> Settings:
    return load_settings(
        graph_env(
            base_env,
            EXHIBIT_GRAPH_AUTHORITY_HOST=tenant.tokens.authority,
            EXHIBIT_GRAPH_CA_BUNDLE=str(tls.material.ca_file),
            EXHIBIT_GRAPH_BASE_URL=tenant.graph.base_url,
            EXHIBIT_DOWNLOAD_HOSTS="127.0.0.1,*.sharepoint.com",
        )
    )


def _drive(tenant: FakeTenant, where: str) -> str:
    graph = tenant.graph
    drives = {
        "case channel": graph.channel_drive(TEAM, CHANNEL),
        "another team's channel": graph.channel_drive(OTHER_TEAM, OTHER_CHANNEL),
        "the sender's OneDrive": graph.user_drive(JANE.object_id),
        "a colleague's OneDrive": graph.user_drive(RAVI.object_id),
    }
    return drives[where]


async def _records_of(settings: Settings) -> tuple[list[dict[str, Any]], int]:
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        async with SqlRecords(engine).unit() as unit:
            case = await unit.case_by_reference("MET-24-0400")
            assert case is not None
            entries = await unit.custody(case.id)
            jobs = [e for e in entries if e.action == Action.INTAKE_STARTED]
            refusals = [dict(e.details) for e in entries if e.action == Action.ACCESS_REFUSED]
            return refusals, len(jobs)
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("conversation", "lives_in", "taken"),
    [
        ("channel", "case channel", True),
        ("channel", "another team's channel", False),
        ("channel", "the sender's OneDrive", False),
        ("groupChat", "the sender's OneDrive", True),
        ("groupChat", "a colleague's OneDrive", False),
        ("groupChat", "case channel", False),
    ],
)
async def test_only_files_where_the_case_keeps_them_are_fetched(
    graph_settings: Settings,
    converse: ConversationFactory,
    tenant: FakeTenant,
    directory: GraphDirectory,
    conversation: str,
    lives_in: str,
    taken: bool,
) -> None:
    talk = await converse(graph_settings, directory=directory, where=CASE_CHANNEL)
    assert "Case opened" in await talk.say("case open MET-24-0400 Theft")
    file_url = "https://met.sharepoint.com/sites/Elsewhere/Shared Documents/payroll.pdf"
    tenant.graph.add_drive_item(file_url, "payroll.pdf", CONTENT, drive_id=_drive(tenant, lives_in))
    message_id = "1732570000200"
    attachment = reference_attachment("payroll.pdf", file_url)
    activity = talk.message("add MET-24-0400", activity_id=message_id)
    if conversation == "channel":
        tenant.graph.add_channel_message(TEAM, CHANNEL, message_id, attachments=[attachment])
        activity["conversation"]["id"] = f"{CHANNEL};messageid={message_id}"
    else:
        tenant.graph.add_chat_message(GROUP_CHAT, message_id, attachments=[attachment])
        activity["conversation"] = {
            "isGroup": True, "conversationType": "groupChat", "id": GROUP_CHAT,
            "tenantId": activity["conversation"]["tenantId"],
        }  # fmt: skip
        activity["channelData"] = {"tenant": activity["channelData"]["tenant"]}

    answer = str(card_of(await talk.post(activity)))

    if taken:
        assert "Receiving 1 file for MET-24-0400" in answer
        for _ in range(100):
            if tenant.graph.file_requests:
                break
            await asyncio.sleep(0.1)
        assert tenant.graph.file_requests  # the bytes were fetched
        assert (await _records_of(graph_settings))[1] == 1
        return
    refusals, jobs = await _records_of(graph_settings)
    assert "not in the case channel's files" in answer
    assert jobs == 0
    assert tenant.graph.file_requests == []  # nothing fetched
    assert tenant.graph.http_requests["GET /shares/{id}/driveItem/content"] == 0
    (refusal,) = refusals
    assert refusal["files"] == ["payroll.pdf"]
    assert "sharepoint" not in str(refusal).lower()  # names and reason, never the URL
