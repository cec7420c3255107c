"""DPA 2018 s.62: an auditor or admin not on a case says why they consult it, and it is logged."""

from __future__ import annotations

import pytest

from evidence.custody import Action, CustodyEntry
from exhibit.settings import Settings
from storage.records import SqlRecords
from tests.conftest import BotClientFactory
from tests.support.app_records import records as records  # the fixture
from tests.support.connector import RecordingConnector
from tests.support.conversation import CASE_CHANNEL, PERSONAL_CHAT, Conversation
from tests.support.people import JANE, PRIYA, RAVI, TOM, channel_members

CHANNEL = "19:exhibit-case-channel@thread.tacv2"
CONSULT = "consult"


@pytest.fixture
async def chat(
    settings: Settings, bot_client: BotClientFactory, connector: tuple[RecordingConnector, str]
) -> Conversation:
    recorder, url = connector
    recorder.members[CHANNEL] = channel_members(JANE, RAVI)
    conversation = Conversation(await bot_client(settings), recorder, url)
    await conversation.say("case open MET-24-0201 Burglary at the depot", where=CASE_CHANNEL)
    return conversation


async def chain(records: SqlRecords) -> list[CustodyEntry]:
    async with records.unit() as unit:
        case = await unit.case_by_reference("MET-24-0201")
        assert case is not None
        return list(await unit.custody(case.id))


@pytest.mark.parametrize("who", [TOM, PRIYA])
@pytest.mark.parametrize(
    "command", ["case show MET-24-0201", "evidence list MET-24-0201", "share list MET-24-0201"]
)
async def test_without_a_reason_they_are_asked_for_one_and_shown_nothing(
    chat: Conversation, records: SqlRecords, who: object, command: str
) -> None:
    asked = await chat.say(command, sender=who)  # type: ignore[arg-type]
    assert "Why are you looking?" in asked
    assert "Burglary at the depot" not in asked
    assert "'verb': 'consult'" in asked
    assert f"'command': '{command}'" in asked
    assert [e.action for e in await chain(records)] == [Action.CASE_OPENED]


async def test_the_reason_cards_button_shows_the_case_and_records_the_reason(
    chat: Conversation, records: SqlRecords
) -> None:
    shown = await chat.click(
        CONSULT,
        {"command": "case show MET-24-0201", "reason": "PSD complaint 2026/14 review"},
        sender=TOM,
        where=PERSONAL_CHAT,
    )
    assert "Burglary at the depot" in shown
    viewed = (await chain(records))[-1]
    assert viewed.action == Action.CASE_VIEWED
    assert viewed.actor_id == TOM.object_id
    assert viewed.details == {"reason": "PSD complaint 2026/14 review"}


async def test_a_reason_typed_with_the_command_is_recorded_with_the_view(
    chat: Conversation, records: SqlRecords
) -> None:
    listed = await chat.say("evidence list MET-24-0201 reason audit of disclosure", sender=PRIYA)
    assert "Why are you looking?" not in listed
    viewed = (await chain(records))[-1]
    assert viewed.details == {"view": "exhibits", "reason": "audit of disclosure"}
    assert "Check the reason" in await chat.say("case show MET-24-0201 reason x", sender=TOM)


async def test_the_case_team_needs_no_reason(chat: Conversation, records: SqlRecords) -> None:
    shown = await chat.say("case show MET-24-0201", sender=RAVI)
    assert "Burglary at the depot" in shown
    assert (await chain(records))[-1].details == {}


async def test_the_button_runs_only_consultations(chat: Conversation, records: SqlRecords) -> None:
    for command in ("case hold on MET-24-0201", "case open MET-24-0299 Mine", "whoami"):
        answer = await chat.click(CONSULT, {"command": command, "reason": "because"}, sender=PRIYA)
        assert "On legal hold" not in answer
        assert "Case opened" not in answer
    assert [e.action for e in await chain(records)] == [Action.CASE_OPENED]
