"""A case channel's name comes only from its own team: other renames are ignored, unsigned ones
refused at the edge. The real app on SQLite, Teams as the recording connector."""

from __future__ import annotations

from typing import Any

import pytest

from exhibit.settings import load_settings
from storage.records import SqlRecords
from tests.conftest import BOT_APP_ID, TENANT, BotClientFactory
from tests.support.app_records import records as records  # the fixture
from tests.support.conversation import CASE_CHANNEL, Conversation
from tests.test_channel_names import CHANNEL, TEAM, bound_case, renamed
from tests.test_channel_names import chat as chat  # the fixture


@pytest.mark.parametrize(
    ("why", "changes"),
    [
        ("another team's event", {"team": {"id": "19:another-team@thread.tacv2"}}),
        ("a channel bound to no case", {"channel": {"id": "19:other@thread.tacv2", "name": "X"}}),
        ("sent in a personal chat", {"conversation": "a:personal-chat"}),
        ("no name", {"channel": {"id": CHANNEL, "name": "   "}}),
        ("not a rename", {"eventType": "channelCreated"}),
    ],
)
async def test_a_rename_not_from_the_bound_channels_team_is_ignored(
    chat: Conversation, records: SqlRecords, why: str, changes: dict[str, Any]
) -> None:
    chat.recorder.team_channels[TEAM] = [{"id": TEAM}, {"id": CHANNEL, "name": "Op Kestrel"}]
    await chat.say("case open MET-24-0206 Burglary", where=CASE_CHANNEL)
    activity = renamed(chat, "Renamed by someone else")
    conversation = changes.pop("conversation", None)
    if conversation is not None:
        activity["conversation"] = {"id": conversation, "conversationType": "personal",
                                    "tenantId": TENANT}  # fmt: skip
    activity["channelData"].update(changes)
    response = await chat.client.post("/api/messages", json=activity)
    assert response.status in (200, 202), why
    case = await bound_case(records, "MET-24-0206")
    assert case.channel is not None
    assert case.channel.name == "Op Kestrel", why


async def test_an_unsigned_rename_is_refused_at_the_edge(
    chat: Conversation,
    records: SqlRecords,
    base_env: dict[str, str],
    bot_client: BotClientFactory,
) -> None:
    chat.recorder.team_channels[TEAM] = [{"id": TEAM}, {"id": CHANNEL, "name": "Op Kestrel"}]
    await chat.say("case open MET-24-0207 Criminal damage", where=CASE_CHANNEL)
    # The same records behind a bot with credentials: an activity without a token is refused.
    env = {k: v for k, v in base_env.items() if k != "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS"}
    env |= {
        "EXHIBIT_BOT_APP_ID": BOT_APP_ID,
        "EXHIBIT_BOT_TENANT_ID": TENANT,
        "EXHIBIT_BOT_CLIENT_SECRET": "not-used-in-tests",
        "EXHIBIT_ALLOWED_SERVICE_URL_HOSTS": "127.0.0.1",
    }
    signed_only = await bot_client(load_settings(env))
    response = await signed_only.post("/api/messages", json=renamed(chat, "Forged"))
    assert response.status == 401
    case = await bound_case(records, "MET-24-0207")
    assert case.channel is not None
    assert case.channel.name == "Op Kestrel"
