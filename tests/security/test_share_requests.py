"""A share request is made once: the form submitted twice (or twice at once), a message Teams
delivers again. Before issue 13 each of these made a second identical request."""

from __future__ import annotations

import asyncio
from typing import Any

from evidence.custody import Action
from storage.records import SqlRecords
from tests.support.app_records import records as records  # the fixture
from tests.support.conversation import Conversation
from tests.support.people import JANE, RAVI
from tests.test_sharing import _case_with_exhibit, _share_id
from tests.test_sharing import file_url as file_url  # the fixture
from tests.test_sharing import team as team  # the fixture


def _form(form_id: str, **fields: str) -> dict[str, Any]:
    """The share form's Action.Execute data: the card's own data and the inputs as filled."""
    return {"exhibitAction": "share.form", "formId": form_id, "exhibits": "JS/1",
            "recipient": "clerk@justice.gov.uk", "organisation": "court", "days": "10",
            "reason": "hearing on Monday", **fields}  # fmt: skip


async def _requests(records: SqlRecords, reference: str) -> tuple[int, int]:
    """How many shares the case has, and how many `share.requested` entries its chain."""
    async with records.unit() as unit:
        case = await unit.case_by_reference(reference)
        assert case is not None
        shares = await unit.shares_of(case.id)
        entries = await unit.custody(case.id)
    return len(shares), [e.action for e in entries].count(Action.SHARE_REQUESTED)


async def test_the_share_form_submitted_twice_makes_one_request(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0401")
    form = await team.say("share JS/1")
    assert "'verb': 'share.form'" in form  # a Universal Action: the answer replaces the form
    assert "'formId': '" in form

    first = await team.click("share.form", _form("form-a"), sender=JANE)
    second = await team.click("share.form", _form("form-a"), sender=JANE)

    assert "Share requested" in first
    assert "Share already requested" in second
    assert _share_id(second) == _share_id(first)
    assert await _requests(records, "MET-24-0401") == (1, 1)
    approval_cards = [b for b in team.recorder.activities() if "share.approve" in str(b)]
    assert len(approval_cards) == 1


async def test_the_same_form_submitted_twice_at_once_makes_one_request(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0402")

    answers = await asyncio.gather(
        *(team.click("share.form", _form("form-b"), sender=JANE) for _ in range(4))
    )

    assert len({_share_id(answer) for answer in answers}) == 1
    assert sum("Share requested" in answer for answer in answers) == 1
    assert await _requests(records, "MET-24-0402") == (1, 1)


async def test_a_form_is_its_submitters_own_and_a_new_form_a_new_request(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0403")

    janes = await team.click("share.form", _form("form-c"), sender=JANE)
    ravis = await team.click("share.form", _form("form-c"), sender=RAVI)
    another = await team.click("share.form", _form("form-d"), sender=JANE)

    assert len({_share_id(janes), _share_id(ravis), _share_id(another)}) == 3
    assert "Jane" not in ravis  # nothing of Jane's request is answered to Ravi
    assert await _requests(records, "MET-24-0403") == (3, 3)


async def test_a_redelivered_share_message_makes_one_request(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0404")
    message = team.message("share JS/1 with a@cps.gov.uk reason trial", activity_id="m-share-1")

    first = str(await team.post(message))
    again = str(await team.post(message))

    assert "Share requested" in first
    assert "Share already requested" in again
    assert await _requests(records, "MET-24-0404") == (1, 1)


async def test_a_form_that_cannot_be_requested_comes_back_as_filled(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0405")

    answer = await team.click(
        "share.form", _form("form-e", recipient="someone@gmail.com"), sender=JANE
    )
    fixed = await team.click("share.form", _form("form-e"), sender=JANE)

    assert "not on the list of organisations" in answer
    assert "'value': 'someone@gmail.com'" in answer
    assert "'formId': 'form-e'" in answer
    assert "Share requested" in fixed
    assert await _requests(records, "MET-24-0405") == (1, 1)
