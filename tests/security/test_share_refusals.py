"""Refusals about shares return nothing: no case data, no existence or state oracle.

Someone off a case who clicks a share's card (approve, reject, refresh) or types `share revoke`
/ `share link` gets the same bare words whether the share exists or not, and whatever its state;
the attempt on an existing share is recorded. Someone on the case who is refused (four eyes)
still sees the card, with the refusal on it.
"""

from __future__ import annotations

import re

import pytest

from evidence.custody import Action
from evidence.shares import ShareStatus
from storage.records import SqlRecords
from tests.support.app_records import records as records  # the fixture
from tests.support.conversation import Conversation
from tests.support.people import JANE, LIAM, RAVI, SARAH, channel_members
from tests.test_sharing import CHANNEL, _case_with_exhibit, _share_id
from tests.test_sharing import file_url as file_url  # the fixture
from tests.test_sharing import team as team  # the fixture

UNKNOWN = "S-0000000000"
# What a refusal to someone off the case must never carry.
LEAKS = (
    *("cps.gov.uk", "trial bundle", "statement.pdf", "MET-24-", "JS/1", "Jane Smith"),
    *("pending", "Waiting", "approved", "Approved", "revoked", "Revoked", "not active"),
)


def bare(answer: str, share_id: str) -> str:
    """The answer with the share id taken out: what must read the same for every share."""
    return answer.replace(share_id, "S-…")


def assert_leaks_nothing(answer: str) -> None:
    for secret in LEAKS:
        assert secret not in answer, secret
    assert re.search(r"[0-9a-f]{64}", answer) is None  # no SHA-256
    assert "FactSet" not in answer


async def a_share(team: Conversation, file_url: str, reference: str, state: ShareStatus) -> str:
    """A share of `reference` in `state`: pending, approved (by Sarah) or revoked (by Jane)."""
    await _case_with_exhibit(team, file_url, reference)
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason trial bundle"))
    if state is not ShareStatus.PENDING:
        assert "Approved" in await team.click_share("share.approve", share_id, sender=SARAH)
    if state is ShareStatus.REVOKED:
        assert "Share revoked" in await team.say(f"share revoke {share_id}")
    return share_id


async def refusals_by(records: SqlRecords, share_id: str, officer: str) -> list[str]:
    async with records.unit() as unit:
        share = await unit.share(share_id)
        assert share is not None
        entries = await unit.custody(share.case_id)
    return [
        str(e.details.get("attempt"))
        for e in entries
        if e.action == Action.SHARE_REFUSED
        and e.actor_id == officer
        and e.details.get("share") == share_id
    ]


@pytest.mark.parametrize("verb", ["share.approve", "share.reject", "share.refresh"])
@pytest.mark.parametrize("state", [ShareStatus.PENDING, ShareStatus.APPROVED])
async def test_a_card_click_off_the_case_reads_as_an_unknown_share(
    team: Conversation, file_url: str, records: SqlRecords, verb: str, state: ShareStatus
) -> None:
    share_id = await a_share(team, file_url, "MET-24-0401", state)

    answer = await team.click_share(verb, share_id, sender=LIAM, reason="looks fine")
    unknown = await team.click_share(verb, UNKNOWN, sender=LIAM, reason="looks fine")

    assert bare(answer, share_id) == bare(unknown, UNKNOWN)
    assert f"There is no share {share_id} that you can act on" in answer
    assert_leaks_nothing(answer)
    attempt = {"share.approve": "approve", "share.reject": "reject"}.get(verb, "view")
    assert await refusals_by(records, share_id, LIAM.object_id) == [attempt]
    async with records.unit() as unit:
        stored = await unit.share(share_id)
    assert stored is not None
    assert stored.status is state


@pytest.mark.parametrize("command", ["share revoke", "share link"])
async def test_commands_off_the_case_tell_neither_existence_nor_state(
    team: Conversation, file_url: str, records: SqlRecords, command: str
) -> None:
    answers = {}
    shares = {
        state: await a_share(team, file_url, f"MET-24-04{10 + n}", state)
        for n, state in enumerate((ShareStatus.PENDING, ShareStatus.APPROVED, ShareStatus.REVOKED))
    }
    for state, share_id in shares.items():
        answers[state] = bare(await team.say(f"{command} {share_id}", sender=LIAM), share_id)
    unknown = bare(await team.say(f"{command} {UNKNOWN}", sender=LIAM), UNKNOWN)

    assert set(answers.values()) == {unknown}
    assert "that you can act on" in unknown
    assert_leaks_nothing(unknown)
    attempt = "revoke" if command == "share revoke" else "new link"
    for state, share_id in shares.items():
        assert await refusals_by(records, share_id, LIAM.object_id) == [attempt], state
        async with records.unit() as unit:
            stored = await unit.share(share_id)
        assert stored is not None
        assert stored.status is state


async def test_a_removed_member_repeating_their_own_decision_is_told_nothing(
    team: Conversation, file_url: str
) -> None:
    """The repeat path (a double click answers the share as it stands) checks the team too."""
    share_id = await a_share(team, file_url, "MET-24-0420", ShareStatus.APPROVED)
    team.recorder.members[CHANNEL] = channel_members(JANE, RAVI)  # Sarah has left the channel

    answer = await team.click_share("share.approve", share_id, sender=SARAH)

    assert "that you can act on" in answer
    assert_leaks_nothing(answer)


async def test_someone_on_the_case_who_is_refused_sees_the_card_with_the_refusal(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0421")
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason x", sender=RAVI))

    own = await team.click_share("share.approve", share_id, sender=RAVI)  # four eyes

    assert "Refused: nobody may decide their own share request (four eyes)." in own
    assert "a@cps.gov.uk" in own  # on the case: the card itself
    assert await refusals_by(records, share_id, RAVI.object_id) == ["approve"]


async def test_the_share_list_of_a_case_one_is_not_on_shows_no_share(
    team: Conversation, file_url: str
) -> None:
    share_id = await a_share(team, file_url, "MET-24-0422", ShareStatus.APPROVED)

    listed = await team.say("share list MET-24-0422", sender=LIAM)

    assert share_id not in listed
    assert "cps.gov.uk" not in listed
    assert "Approved" not in listed
