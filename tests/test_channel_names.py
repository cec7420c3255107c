"""The case card names the bound channel: learnt when it is bound, kept current on rename.

The real app on SQLite; Teams is the recording connector (its list of a team's channels, as
TeamsInfo asks for it). Graph as a source is in tests/test_graph_mode.py; renames that must
not count in tests/security/test_channel_renames.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from evidence.model import Case
from exhibit.settings import Settings
from storage.records import SqlRecords
from tests.conftest import TENANT, BotClientFactory
from tests.support.app_records import records as records  # the fixture
from tests.support.connector import RecordingConnector
from tests.support.conversation import CASE_CHANNEL, Conversation, card_of
from tests.support.people import JANE, RAVI, SARAH, channel_members

TEAM = "19:exhibit-team-general@thread.tacv2"  # the team's id, also its General channel's
CHANNEL = "19:exhibit-case-channel@thread.tacv2"
UNKNOWN = "bound (name not known yet)"


@pytest.fixture
async def chat(
    settings: Settings, bot_client: BotClientFactory, connector: tuple[RecordingConnector, str]
) -> Conversation:
    recorder, url = connector
    recorder.members[CHANNEL] = channel_members(JANE, RAVI, SARAH)
    recorder.members[TEAM] = channel_members(JANE, RAVI, SARAH)
    return Conversation(await bot_client(settings), recorder, url)


async def bound_case(records: SqlRecords, reference: str) -> Case:
    async with records.unit() as unit:
        case = await unit.case_by_reference(reference)
    assert case is not None
    assert case.channel is not None
    return case


def channel_fact(card: Any) -> str:
    """The value of the case card's "Channel" fact."""
    if isinstance(card, dict):
        if card.get("title") == "Channel" and "value" in card:
            return str(card["value"])
        card = list(card.values())
    if isinstance(card, list):
        for item in card:
            if found := channel_fact(item):
                return found
    return ""


async def card(chat: Conversation, text: str, **changes: Any) -> Any:
    """The card the bot answers `text` with."""
    return card_of(await chat.post(chat.message(text, **changes)))


def renamed(chat: Conversation, name: Any, **changes: Any) -> dict[str, Any]:
    """Teams' `channelRenamed` event: in the team's conversation, naming the channel."""
    activity = chat.message(None, where=CASE_CHANNEL)
    del activity["text"], activity["entities"]
    activity["type"] = "conversationUpdate"
    activity["conversation"]["id"] = TEAM
    activity["channelData"] = {
        "eventType": "channelRenamed",
        "channel": {"id": CHANNEL, "name": name},
        "team": {"id": TEAM},
        "tenant": {"id": TENANT},
    }
    activity.update(changes)
    return activity


async def test_the_name_teams_sends_with_the_message_is_shown_and_kept(
    chat: Conversation, records: SqlRecords
) -> None:
    activity = chat.message("case open MET-24-0201 Arson", where=CASE_CHANNEL)
    activity["channelData"]["channel"]["name"] = "Arson *squad* <at>all</at>"
    opened = card_of(await chat.post(activity))
    # User text, shown literally: no Markdown, no mention.
    assert channel_fact(opened) == "Arson \\*squad\\* <\u2060at>all<\u2060/at>"
    case = await bound_case(records, "MET-24-0201")
    assert case.channel is not None
    assert case.channel.name == "Arson *squad* <at>all</at>"
    # Teams gave the name: nobody was asked.
    assert not [r for r in chat.recorder.received if r.path.startswith("/v3/teams/")]


async def test_binding_learns_the_name_from_the_teams_channel_list(
    chat: Conversation, records: SqlRecords
) -> None:
    chat.recorder.team_channels[TEAM] = [{"id": TEAM}, {"id": CHANNEL, "name": "Op Kestrel"}]
    await chat.say("case open MET-24-0202 Theft from a van")
    bound = await card(chat, "case bind MET-24-0202", where=CASE_CHANNEL)
    assert "Case bound to this channel" in str(bound)
    assert channel_fact(bound) == "Op Kestrel"
    assert channel_fact(await card(chat, "case show MET-24-0202")) == "Op Kestrel"
    case = await bound_case(records, "MET-24-0202")
    assert case.channel is not None
    assert case.channel.name == "Op Kestrel"


async def test_the_general_channel_is_called_general(
    chat: Conversation, records: SqlRecords
) -> None:
    # Teams lists the General channel with the team's id and no name.
    chat.recorder.team_channels[TEAM] = [{"id": TEAM}, {"id": CHANNEL, "name": "Op Kestrel"}]
    activity = chat.message("case open MET-24-0203 Fraud", where=CASE_CHANNEL)
    activity["conversation"]["id"] = f"{TEAM};messageid={activity['id']}"
    activity["channelData"]["channel"]["id"] = TEAM
    activity["channelData"]["teamsChannelId"] = TEAM
    assert channel_fact(card_of(await chat.post(activity))) == "General"


async def test_a_name_nobody_can_tell_is_said_honestly(
    chat: Conversation, records: SqlRecords
) -> None:
    # The connector does not know the team (no list): never an id on the card.
    opened = await card(chat, "case open MET-24-0204 Assault", where=CASE_CHANNEL)
    assert channel_fact(opened) == UNKNOWN
    assert CHANNEL not in str(opened)
    case = await bound_case(records, "MET-24-0204")
    assert case.channel is not None
    assert case.channel.name is None


async def test_a_rename_in_teams_is_shown_on_the_case_card(
    chat: Conversation, records: SqlRecords
) -> None:
    chat.recorder.team_channels[TEAM] = [{"id": TEAM}, {"id": CHANNEL, "name": "Op Kestrel"}]
    await chat.say("case open MET-24-0205 Robbery", where=CASE_CHANNEL)
    before = len(chat.recorder.activities())
    response = await chat.client.post("/api/messages", json=renamed(chat, "Op Kestrel  (closed)"))
    assert response.status in (200, 202)
    case = await bound_case(records, "MET-24-0205")
    assert case.channel is not None
    assert case.channel.name == "Op Kestrel (closed)"
    assert len(chat.recorder.activities()) == before  # an event is not answered
    assert channel_fact(await card(chat, "case show MET-24-0205")) == "Op Kestrel (closed)"


async def test_a_case_bound_before_names_were_kept_learns_it_in_its_channel(
    chat: Conversation, records: SqlRecords
) -> None:
    opened = await card(chat, "case open MET-24-0208 Theft", where=CASE_CHANNEL)
    assert channel_fact(opened) == UNKNOWN
    # Asked from elsewhere: nothing to learn it from.
    chat.recorder.team_channels[TEAM] = [{"id": TEAM}, {"id": CHANNEL, "name": "Op Kestrel"}]
    assert channel_fact(await card(chat, "case show MET-24-0208")) == UNKNOWN
    # In the channel itself: learnt, shown and kept.
    shown = await card(chat, "case show", where=CASE_CHANNEL)
    assert channel_fact(shown) == "Op Kestrel"
    case = await bound_case(records, "MET-24-0208")
    assert case.channel is not None
    assert case.channel.name == "Op Kestrel"
