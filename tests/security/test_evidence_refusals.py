"""No existence oracle and no data in refusals: commands and card clicks by someone off a case.

Each command or click is made twice by Liam, an officer on no case team: once naming a case
that does not exist, once naming Jane's real case. What he sees must read the same (the
reference he typed aside) and hold nothing of the case; the real case records his refusal.
"""

from __future__ import annotations

import asyncio

import pytest

from evidence.custody import Action, CustodyEvent
from storage.records import SqlRecords
from tests.support.app_records import records as records  # the fixture
from tests.support.conversation import PERSONAL_CHAT, Conversation, teams_file
from tests.support.people import LIAM, RAVI
from tests.test_sharing import file_url as file_url  # the fixture
from tests.test_sharing import team as team  # the fixture

REAL, ABSENT = "MET-24-0301", "MET-99-0001"
TITLE = "Burglary at 12 High Street"
PLACEHOLDER = "<REF>"

COMMANDS = [
    "case show {ref}",
    "evidence list {ref}",
    "evidence show {ref} JS/1",
    "evidence verify {ref} JS/1",
    "custody {ref} JS/1",
    "share list {ref}",
    "add {ref}",  # with a file
]


async def _real_case(team: Conversation, file_url: str) -> str:
    """Jane's case in the channel, with one exhibit; the receipt card's activity id."""
    await team.say(f"case open {REAL} {TITLE}")
    await team.say(f"add {REAL}", [teams_file("statement.pdf", file_url)])
    for _ in range(100):
        for request in team.recorder.received:
            if request.method == "PUT" and "Exhibit JS/1" in str(request.body):
                return request.path.rsplit("/", 1)[1]
        await asyncio.sleep(0.1)
    raise AssertionError("the exhibit was not recorded")


def _case_data(records_text: str, exhibit_id: str, sha256: str) -> list[str]:
    leaked = [TITLE, "statement.pdf", sha256, exhibit_id, "uksouth", "Jane Smith"]
    return [item for item in leaked if item in records_text]


async def _refusals(records: SqlRecords) -> list[str]:
    async with records.unit() as unit:
        case = await unit.case_by_reference(REAL)
        assert case is not None
        return [
            str(e.details.get("attempt", "view"))
            for e in await unit.custody(case.id)
            if e.actor_id == LIAM.object_id
            and e.action in {Action.ACCESS_REFUSED, Action.INTAKE_REFUSED}
        ]


@pytest.mark.parametrize("command", COMMANDS)
async def test_a_command_on_a_case_not_yours_reads_as_on_no_case(
    team: Conversation, file_url: str, records: SqlRecords, command: str
) -> None:
    await _real_case(team, file_url)
    async with records.unit() as unit:
        case = await unit.case_by_reference(REAL)
        assert case is not None
        (exhibit,) = await unit.exhibits_of(case.id)
    files = [teams_file("mine.pdf", file_url)] if command.startswith("add") else None
    answers = {}
    for ref in (ABSENT, REAL):
        answers[ref] = await team.say(
            command.format(ref=ref), sender=LIAM, where=PERSONAL_CHAT, attachments=files
        )
    absent = answers[ABSENT].replace(ABSENT, PLACEHOLDER)
    real = answers[REAL].replace(REAL, PLACEHOLDER)
    assert real == absent
    assert "that you can see" in real
    assert _case_data(real, exhibit.id, exhibit.sha256) == []
    assert len(await _refusals(records)) == 1  # recorded for the real case


CLICKS = [
    ("exhibit.review", {"receipt": "{receipt}"}),
    ("exhibit.review", {}),
    ("exhibit.flag", {"comment": "looks wrong"}),
    ("exhibit.refresh", {"receipt": "{receipt}"}),
]


@pytest.mark.parametrize(("verb", "extra"), CLICKS)
async def test_a_click_on_a_case_not_yours_returns_a_bare_notice(
    team: Conversation, file_url: str, records: SqlRecords, verb: str, extra: dict[str, str]
) -> None:
    receipt = await _real_case(team, file_url)
    async with records.unit() as unit:
        case = await unit.case_by_reference(REAL)
        assert case is not None
        (exhibit,) = await unit.exhibits_of(case.id)
        await unit.append_custody(
            # A flag by Ravi with a comment: what a refused click used to show back.
            CustodyEvent(
                case.id,
                RAVI.actor(),
                Action.EXHIBIT_FLAGGED,
                case.created_at,
                case.id,
                exhibit.id,
                {"comment": "secret flag comment"},
            )
        )

    def data(exhibit_id: str, receipt_id: str) -> dict[str, str]:
        filled = {k: v.format(receipt=receipt_id) for k, v in extra.items()}
        return {"exhibitId": exhibit_id, **filled} if verb != "exhibit.refresh" else filled

    forged = await team.click(verb, data("no-such-exhibit", "no-such-receipt"), sender=LIAM)
    refused = await team.click(verb, data(exhibit.id, receipt), sender=LIAM)

    assert refused == forged
    assert "This card is not available to you." in refused
    leaked = _case_data(refused, exhibit.id, exhibit.sha256)
    assert leaked == []
    assert "secret flag comment" not in refused
    assert REAL not in refused
    assert len(await _refusals(records)) == 1


async def test_opening_a_taken_reference_says_only_that_it_is_taken(
    team: Conversation, file_url: str
) -> None:
    await _real_case(team, file_url)
    answer = await team.say(f"case open {REAL} Something else", sender=LIAM, where=PERSONAL_CHAT)
    assert f"The case reference {REAL} is already in use" in answer
    assert TITLE not in answer
    assert "uksouth" not in answer
    # The hint (`case bind`) reads the same for everyone: no channel of the real case is named.
    assert "channel" not in answer.replace("case channel", "").replace("no channel yet", "")
