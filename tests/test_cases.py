"""`case open`, `case list`, `case show` through the real app, SQLite and a recording connector."""

from __future__ import annotations

import pytest

from evidence.custody import Action, verify_chain
from exhibit.settings import Settings
from storage.records import SqlRecords
from tests.conftest import BotClientFactory
from tests.support.app_records import records as records  # the fixture
from tests.support.connector import RecordingConnector
from tests.support.conversation import CASE_CHANNEL, Conversation
from tests.support.people import JANE, LIAM, PRIYA, RAVI, SARAH, TOM, channel_members

CHANNEL = "19:exhibit-case-channel@thread.tacv2"


@pytest.fixture
async def chat(
    settings: Settings, bot_client: BotClientFactory, connector: tuple[RecordingConnector, str]
) -> Conversation:
    recorder, url = connector
    recorder.members[CHANNEL] = channel_members(JANE, RAVI, SARAH)
    return Conversation(await bot_client(settings), recorder, url)


async def test_open_list_and_show_in_personal_chat(chat: Conversation) -> None:
    opened = await chat.say("case open met-24-0001 Burglary at 12 High Street")
    assert "Case opened." in opened
    assert "MET-24-0001" in opened
    assert "UK South (London)" in opened
    listed = await chat.say("case list")
    assert "MET-24-0001" in listed
    assert "Burglary at 12 High Street" in listed
    shown = await chat.say("case show MET-24-0001")
    assert "Burglary at 12 High Street" in shown


async def test_region_is_chosen_at_creation(chat: Conversation) -> None:
    opened = await chat.say("case open MET-24-0002 Fraud at the bank region ukwest")
    assert "UK West (Cardiff)" in opened
    assert "Fraud at the bank" in opened


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("case open", "Check the case reference"),
        ("case open 24/0001 Theft", "is not a case reference. Write it like MET-24-0001"),
        ("case open MET-24-0003", "Give the case a title after its reference."),
        ("case open MET-24-0003 " + "x" * 121, "within 120 characters"),
        ("case open MET-24-0003 Theft region mars", "not one of the configured regions"),
        ("case show MET-99-9999", "No case MET-99-9999 that you can see"),
        ("case show", "this conversation is not bound"),
    ],
)
async def test_bad_input_is_explained(chat: Conversation, text: str, problem: str) -> None:
    assert problem in await chat.say(text)


async def test_a_reference_cannot_be_opened_twice(chat: Conversation) -> None:
    await chat.say("case open MET-24-0004 Assault")
    assert "is already in use" in await chat.say("case open MET-24-0004 Assault again")


async def test_opening_in_a_channel_binds_it_and_records_custody(
    chat: Conversation, records: SqlRecords
) -> None:
    opened = await chat.say("case open MET-24-0005 Arson", where=CASE_CHANNEL)
    assert "bound to this channel" in opened
    # Inside the channel, case-scoped commands default to its case.
    assert "Arson" in await chat.say("case show", where=CASE_CHANNEL)
    assert "already bound to case MET-24-0005" in await chat.say(
        "case open MET-24-0006 Another", where=CASE_CHANNEL
    )
    async with records.unit() as unit:
        case = await unit.case_by_reference("MET-24-0005")
        assert case is not None
        assert case.channel is not None
        assert case.channel.channel_id == CHANNEL
        assert case.channel.graph_team_id == "7b3f9e21-4c5d-4e6f-8a7b-9c0d1e2f3a4b"
        entries = await unit.custody(case.id)
        head = await unit.custody_head(case.id)
    assert [e.action for e in entries] == [Action.CASE_OPENED, Action.CASE_VIEWED]
    assert verify_chain(case.id, entries, head=head).ok


async def test_the_case_team_sees_the_case_and_nobody_else_does(
    chat: Conversation, records: SqlRecords
) -> None:
    await chat.say("case open MET-24-0007 Robbery", where=CASE_CHANNEL)
    # Ravi is a member of the channel (paged members, three pages of two): he sees it.
    assert "Robbery" in await chat.say("case show MET-24-0007", sender=RAVI)
    assert "MET-24-0007" in await chat.say("case list", sender=RAVI)
    # Liam is an officer but not in the channel: refused, and the refusal is recorded.
    refused = await chat.say("case show MET-24-0007", sender=LIAM)
    assert "No case MET-24-0007 that you can see" in refused
    assert "MET-24-0007" not in await chat.say("case list", sender=LIAM)
    # The auditor and the admin see every case.
    # Not on the team: they say why (accountable viewing, tests/security).
    assert "Robbery" in await chat.say("case show MET-24-0007 reason audit", sender=TOM)
    assert "Robbery" in await chat.say("case show MET-24-0007 reason audit", sender=PRIYA)
    async with records.unit() as unit:
        case = await unit.case_by_reference("MET-24-0007")
        assert case is not None
        entries = await unit.custody(case.id)
    refusals = [e for e in entries if e.action == Action.ACCESS_REFUSED]
    assert [(e.actor_id, e.details["reason"]) for e in refusals] == [
        (LIAM.object_id, "you are not on the team of case MET-24-0007")
    ]


async def test_members_are_read_page_by_page(chat: Conversation) -> None:
    await chat.say("case open MET-24-0008 Burglary", where=CASE_CHANNEL)
    pages = [r for r in chat.recorder.received if r.path.endswith("/pagedmembers")]
    assert len(pages) == 2  # three members, pages of two


async def test_auditors_cannot_open_cases(chat: Conversation) -> None:
    assert "only officers can open cases" in await chat.say("case open MET-24-0009 X", sender=TOM)


async def test_a_case_opened_in_personal_chat_is_bound_to_a_channel_and_recorded(
    chat: Conversation, records: SqlRecords
) -> None:
    await chat.say("case open MET-24-0010 Theft of a bicycle")
    assert "is already in use" in (
        opened := await chat.say("case open MET-24-0010 Theft", where=CASE_CHANNEL)
    )
    assert "case bind MET-24-0010" in opened
    bound = await chat.say("case bind met-24-0010", where=CASE_CHANNEL)
    assert "Case bound to this channel" in bound
    assert "Theft of a bicycle" in await chat.say("case show", where=CASE_CHANNEL)
    # The channel's members are on the case team now.
    assert "Theft of a bicycle" in await chat.say("case show MET-24-0010", sender=RAVI)
    async with records.unit() as unit:
        case = await unit.case_by_reference("MET-24-0010")
        assert case is not None
        assert case.channel is not None
        assert case.channel.channel_id == CHANNEL
        entries = await unit.custody(case.id)
        head = await unit.custody_head(case.id)
    binds = [e for e in entries if e.action == Action.CASE_BOUND]
    assert [(e.actor_id, e.details["channel"]) for e in binds] == [(JANE.object_id, CHANNEL)]
    assert verify_chain(case.id, entries, head=head).ok


async def test_binding_is_refused_where_it_would_move_or_leak_a_case(
    chat: Conversation, records: SqlRecords
) -> None:
    await chat.say("case open MET-24-0011 Criminal damage")
    # Only in a channel.
    assert "in the team channel that should be" in await chat.say("case bind MET-24-0011")
    # Someone not on the case reads it as absent, and the attempt is recorded.
    assert "No case MET-24-0011 that you can see" in await chat.say(
        "case bind MET-24-0011", sender=LIAM, where=CASE_CHANNEL
    )
    assert "No case MET-99-0001 that you can see" in await chat.say(
        "case bind MET-99-0001", where=CASE_CHANNEL
    )
    # An auditor sees every case but does not bind them.
    assert "only officers can bind" in await chat.say(
        "case bind MET-24-0011", sender=TOM, where=CASE_CHANNEL
    )
    # A channel holds one case; a bound case keeps its channel.
    await chat.say("case open MET-24-0012 Arson", where=CASE_CHANNEL)
    assert "This channel already holds case MET-24-0012" in await chat.say(
        "case bind MET-24-0011", where=CASE_CHANNEL
    )
    assert "already bound to a channel" in await chat.say(
        "case bind MET-24-0012", where=CASE_CHANNEL
    )
    async with records.unit() as unit:
        case = await unit.case_by_reference("MET-24-0011")
        assert case is not None
        assert case.channel is None
        entries = await unit.custody(case.id)
    assert [e.actor_id for e in entries if e.action == Action.ACCESS_REFUSED] == [LIAM.object_id]
