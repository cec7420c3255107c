"""Next-step buttons on the exhibit and case cards: each runs its command as if typed.

A click is just another request: it is answered as the typed command would be, with the same
checks, refusals and records; only the next-step commands can be run so, with one word each.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from evidence.custody import Action
from storage.records import SqlRecords
from tests.support.app_records import records as records  # the fixture
from tests.support.conversation import PERSONAL_CHAT, Conversation, card_of, teams_file
from tests.support.people import JANE, LIAM, TOM
from tests.test_sharing import file_url as file_url  # the fixture
from tests.test_sharing import team as team  # the fixture

REAL, ABSENT = "MET-24-0401", "MET-99-0001"
NEXT_STEP = "command.run"


async def _case_with_exhibit(team: Conversation, file_url: str) -> None:
    await team.say(f"case open {REAL} Burglary at 12 High Street")
    await team.say(f"add {REAL}", [teams_file("statement.pdf", file_url)])
    await team.wait_for_update("Exhibit JS/1")


async def _card(team: Conversation, text: str, **kw: Any) -> dict[str, Any]:
    card: dict[str, Any] = card_of(await team.post(team.message(text, **kw)))
    return card


def _buttons(card: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The next-step buttons of a card: title to data."""
    found: dict[str, dict[str, str]] = {}
    for element in card["body"]:
        for action in element.get("actions", []) if element.get("type") == "ActionSet" else []:
            if action.get("verb") == NEXT_STEP:
                found[action["title"]] = action["data"]
    return found


async def test_the_exhibit_card_buttons_answer_as_the_typed_commands(
    team: Conversation, file_url: str
) -> None:
    await _case_with_exhibit(team, file_url)
    buttons = _buttons(await _card(team, f"evidence show {REAL} JS/1"))
    assert list(buttons) == ["Verify", "Custody", "Share"]

    shown, verified = await team.click_next_step(buttons["Verify"])
    assert shown == "Evidence verify: the answer is below."
    assert "Verified: the stored file matches its intake hash." in verified
    assert verified == await team.say(f"evidence verify {REAL} JS/1")

    _, custody = await team.click_next_step(buttons["Custody"])
    assert f"Custody of {REAL} JS/1" in custody
    assert "Chain of custody verified" in custody

    _, form = await team.click_next_step(buttons["Share"])
    typed = await team.say(f"share {REAL} JS/1")
    # Each form has an id of its own (a resubmitted form is one request); the rest is the same.
    assert re.sub(r"'formId': '\w+'", "", form) == re.sub(r"'formId': '\w+'", "", typed)
    assert "Request an external share" in form


async def test_the_case_card_buttons_answer_as_the_typed_commands(
    team: Conversation, file_url: str
) -> None:
    await _case_with_exhibit(team, file_url)
    buttons = _buttons(await _card(team, f"case show {REAL}"))
    assert buttons == {
        "Evidence": {"command": "evidence list", "case": REAL},
        "Shares": {"command": "share list", "case": REAL},
    }
    _, exhibits = await team.click_next_step(buttons["Evidence"])
    assert exhibits == await team.say(f"evidence list {REAL}")
    assert "statement.pdf" in exhibits
    _, shares = await team.click_next_step(buttons["Shares"])
    assert shares == await team.say(f"share list {REAL}")
    assert f"Shares of {REAL}" in shares


async def test_who_may_not_share_gets_no_share_button(team: Conversation, file_url: str) -> None:
    await _case_with_exhibit(team, file_url)
    card = await _card(
        team, f"evidence show {REAL} JS/1 reason audit sample", sender=TOM, where=PERSONAL_CHAT
    )
    assert list(_buttons(card)) == ["Verify", "Custody"]  # an auditor verifies, never shares


@pytest.mark.parametrize("step", ["Verify", "Custody"])
async def test_a_click_off_the_case_reads_as_on_no_case_and_is_recorded(
    team: Conversation, file_url: str, records: SqlRecords, step: str
) -> None:
    await _case_with_exhibit(team, file_url)
    data = _buttons(await _card(team, f"evidence show {REAL} JS/1"))[step]
    answers = {}
    for ref in (ABSENT, REAL):
        _, answer = await team.click_next_step({**data, "case": ref}, sender=LIAM,
                                               where=PERSONAL_CHAT)  # fmt: skip
        answers[ref] = answer.replace(ref, "<REF>")
    assert answers[REAL] == answers[ABSENT]
    assert "that you can see" in answers[REAL]
    assert "statement.pdf" not in answers[REAL]
    async with records.unit() as unit:
        case = await unit.case_by_reference(REAL)
        assert case is not None
        refused = [
            e
            for e in await unit.custody(case.id)
            if e.actor_id == LIAM.object_id and e.action == Action.ACCESS_REFUSED
        ]
    assert len(refused) == 1


@pytest.mark.parametrize(
    "data",
    [
        {"command": "share revoke", "share": "S-0123456789"},  # not a next step
        {"command": "case open", "case": "MET-24-0999"},
        {"command": "custody", "case": f"{REAL} JS/1", "exhibit": "JS/1"},  # two words
        {"command": "share", "exhibit": "JS/1 with lawyer@cps.gov.uk reason trial"},
        {"command": "custody", "exhibit": "JS/1"},  # a field missing
        {"command": ["custody"], "case": REAL, "exhibit": "JS/1"},
        {},
    ],
)
async def test_a_button_runs_only_next_steps_with_one_word_each(
    team: Conversation, file_url: str, data: dict[str, Any]
) -> None:
    await _case_with_exhibit(team, file_url)
    before = len(team.recorder.activities())
    notice, sent = await team.click_next_step(data, sender=JANE)
    assert "Unknown action" in notice
    assert sent == ""
    assert len(team.recorder.activities()) == before  # nothing run, nothing sent
