"""Racing decisions on one share cannot undo each other (SQLite and a real PostgreSQL).

Every change of a share is conditional on the state it was decided on: of two approvals one
wins and the other is told so; a revocation racing a new link always ends revoked. The
barrier tests force the worst interleaving — both read, then both write — on PostgreSQL, where
units run side by side (SQLite runs one writing unit at a time, so there the stale copies are
made by reading in one unit and writing in another).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from evidence.custody import Action
from evidence.links import LinkState, link_state
from evidence.model import Case
from evidence.officers import Officer
from evidence.records import RecordsUnit, run_unit
from evidence.share_cases import ShareDecision, decide_share, reissue_link
from evidence.shares import Share, ShareAction, ShareStatus
from evidence.sharing import new_link_token
from exhibit.settings import Settings
from storage.database import create_engine
from storage.records import SqlRecords
from tests.support import people
from tests.support.conversation import Conversation
from tests.test_sharing import _case_with_exhibit, _share_id
from tests.test_sharing import file_url as file_url  # the fixture
from tests.test_sharing import team as team  # the fixture

pytest_plugins = ["tests.support.postgres", "tests.support.record_backends"]

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
JANE, RAVI, SARAH = (people.JANE.officer(), people.RAVI.officer(), people.SARAH.officer())
MEMBERS = frozenset({JANE.object_id, RAVI.object_id, SARAH.object_id})
ITERATIONS = 15
POSTGRES_ONLY = pytest.mark.parametrize(
    "backend", [pytest.param("postgresql", marks=pytest.mark.postgres)]
)


@pytest.fixture
async def case(records: SqlRecords) -> Case:
    case = Case(str(uuid.uuid4()), "MET-26-0042", "Robbery", "uksouth", JANE.object_id, T0)
    async with records.unit() as unit:
        await unit.add_case(case)
    return case


async def a_share(records: SqlRecords, case: Case, *, approved: bool = False) -> Share:
    share = Share(
        id=f"S-{uuid.uuid4().hex[:10].upper()}",
        case_id=case.id,
        exhibit_ids=(str(uuid.uuid4()),),
        requested_by=JANE.object_id,
        requested_by_name=JANE.display_name,
        recipient="lawyer@cps.gov.uk",
        organisation_type="cps",
        reason="trial bundle",
        days=7,
        status=ShareStatus.PENDING,
        created_at=T0,
        request_expires_at=T0 + timedelta(days=7),
    )
    if approved:
        share = replace(
            share,
            status=ShareStatus.APPROVED,
            decided_by=RAVI.object_id,
            decided_by_name=RAVI.display_name,
            decided_at=T0,
            token_sha256=new_link_token().sha256,
            link_expires_at=T0 + timedelta(days=7),
        )
    async with records.unit() as unit:
        await unit.add_share(share)
    return share


def approve(
    officer: Officer, share: Share, case: Case
) -> Callable[[RecordsUnit], Awaitable[ShareDecision]]:
    async def work(unit: RecordsUnit) -> ShareDecision:
        return await decide_share(
            unit, officer, share.id, case, MEMBERS, ShareAction.APPROVE,
            note=None, token=new_link_token(), integrity_problem=None, now=NOW,
        )  # fmt: skip

    return work


def decide(
    officer: Officer, action: ShareAction, share: Share, case: Case, note: str | None = None
) -> Callable[[RecordsUnit], Awaitable[ShareDecision]]:
    async def work(unit: RecordsUnit) -> ShareDecision:
        return await decide_share(
            unit, officer, share.id, case, MEMBERS, action,
            note=note, token=None, integrity_problem=None, now=NOW,
        )  # fmt: skip

    return work


def reissue(share: Share, case: Case) -> Callable[[RecordsUnit], Awaitable[ShareDecision]]:
    async def work(unit: RecordsUnit) -> ShareDecision:
        return await reissue_link(
            unit, JANE, share.id, case, MEMBERS, token=new_link_token(), now=NOW
        )

    return work


async def stored(records: SqlRecords, share: Share) -> tuple[Share, list[str]]:
    """The share as recorded now, and the custody actions recorded about it."""
    async with records.unit() as unit:
        found = await unit.share(share.id)
        entries = await unit.custody(share.case_id)
    assert found is not None
    return found, [e.action for e in entries if e.details.get("share") == share.id]


class Interleaved:
    """A real records unit that, after its first read of the share, waits until every racer
    has read it (`barrier`) and then until it is its turn to write (`turn`, if given)."""

    def __init__(self, unit: RecordsUnit, barrier: asyncio.Barrier, turn: asyncio.Event | None):
        self._unit = unit
        self._barrier = barrier
        self._turn = turn
        self._read = False

    async def share(self, share_id: str) -> Share | None:
        found = await self._unit.share(share_id)
        if not self._read:
            self._read = True
            await self._barrier.wait()
            if self._turn is not None:
                await self._turn.wait()
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._unit, name)


async def read_both_then_write(
    records: SqlRecords,
    first: Callable[[RecordsUnit], Awaitable[ShareDecision]],
    second: Callable[[RecordsUnit], Awaitable[ShareDecision]],
) -> tuple[ShareDecision, ShareDecision]:
    """Both units read the share; `first` writes and commits; then `second` writes."""
    barrier = asyncio.Barrier(2)
    first_committed = asyncio.Event()

    async def run_first() -> ShareDecision:
        async with records.unit() as unit:
            outcome = await first(cast(RecordsUnit, Interleaved(unit, barrier, None)))
        first_committed.set()
        return outcome

    async def run_second() -> ShareDecision:
        async with records.unit() as unit:
            return await second(cast(RecordsUnit, Interleaved(unit, barrier, first_committed)))

    async with asyncio.timeout(20):
        one, two = await asyncio.gather(run_first(), run_second())
    return one, two


async def test_two_approvals_at_once_approve_once(records: SqlRecords, case: Case) -> None:
    for _ in range(ITERATIONS):
        share = await a_share(records, case)
        outcomes = await asyncio.gather(
            run_unit(records, approve(RAVI, share, case)),
            run_unit(records, approve(SARAH, share, case)),
        )
        after, actions = await stored(records, share)
        (winner,) = [o for o in outcomes if o.changed]
        (loser,) = [o for o in outcomes if not o.changed]
        assert actions.count(Action.SHARE_APPROVED) == 1
        assert after.status is ShareStatus.APPROVED
        assert after.token_sha256 == winner.share.token_sha256  # one token: the winner's
        assert after.decided_by == winner.share.decided_by
        assert loser.refused is not None
        assert f"{winner.share.decided_by_name} approved" in loser.refused or (
            "already approved" in loser.refused
        )


@POSTGRES_ONLY
async def test_an_approval_that_read_pending_loses_to_one_committed_meanwhile(
    records: SqlRecords, case: Case
) -> None:
    share = await a_share(records, case)

    sarah, ravi = await read_both_then_write(
        records, approve(SARAH, share, case), approve(RAVI, share, case)
    )

    after, actions = await stored(records, share)
    assert sarah.changed
    assert not ravi.changed
    assert ravi.lost_race
    assert ravi.refused == "Sarah Okafor approved this share a moment ago"
    assert actions == [Action.SHARE_APPROVED]  # one approval, the loser not recorded at all
    assert after.decided_by == SARAH.object_id
    assert after.token_sha256 == sarah.share.token_sha256


@POSTGRES_ONLY
@pytest.mark.parametrize("rejected_first", [True, False], ids=["reject-wins", "approve-wins"])
async def test_approve_racing_reject_applies_one(
    records: SqlRecords, case: Case, rejected_first: bool
) -> None:
    share = await a_share(records, case)
    reject = decide(RAVI, ShareAction.REJECT, share, case, note="not relevant")
    approval = approve(SARAH, share, case)
    first, second = (reject, approval) if rejected_first else (approval, reject)

    won, lost = await read_both_then_write(records, first, second)

    after, actions = await stored(records, share)
    assert won.changed
    assert lost.lost_race
    expected = ShareStatus.REJECTED if rejected_first else ShareStatus.APPROVED
    assert after.status is expected
    assert len([a for a in actions if a in {Action.SHARE_APPROVED, Action.SHARE_REJECTED}]) == 1
    assert (after.token_sha256 is None) is rejected_first


async def test_revoke_racing_new_links_always_ends_revoked(records: SqlRecords, case: Case) -> None:
    for _ in range(ITERATIONS):
        share = await a_share(records, case, approved=True)
        revoked, renewed = await asyncio.gather(
            run_unit(records, decide(JANE, ShareAction.REVOKE, share, case)),
            run_unit(records, reissue(share, case)),
        )
        await assert_dead(records, share)
        _after, actions = await stored(records, share)
        assert revoked.changed
        assert actions.count(Action.SHARE_REVOKED) == 1
        assert actions.count(Action.SHARE_LINK_REISSUED) == (1 if renewed.changed else 0)


@POSTGRES_ONLY
@pytest.mark.parametrize("revoke_first", [True, False], ids=["revoke-first", "new-link-first"])
async def test_revoke_and_new_link_read_together_end_revoked(
    records: SqlRecords, case: Case, revoke_first: bool
) -> None:
    share = await a_share(records, case, approved=True)
    revoke = decide(JANE, ShareAction.REVOKE, share, case)
    first, second = (
        (revoke, reissue(share, case)) if revoke_first else (reissue(share, case), revoke)
    )

    one, two = await read_both_then_write(records, first, second)

    revoked, renewed = (one, two) if revoke_first else (two, one)
    await assert_dead(records, share)
    after, actions = await stored(records, share)
    assert revoked.changed
    assert actions.count(Action.SHARE_REVOKED) == 1
    if revoke_first:
        assert renewed.lost_race
        assert renewed.refused == "Jane Smith revoked this share a moment ago"
        assert Action.SHARE_LINK_REISSUED not in actions
        assert after.token_sha256 == share.token_sha256
    else:
        assert renewed.changed


async def test_a_change_made_from_a_stale_copy_is_not_applied(
    records: SqlRecords, case: Case
) -> None:
    """The port's contract, on both backends: read in one unit, write in another."""
    share = await a_share(records, case, approved=True)
    async with records.unit() as unit:
        copy_a = await unit.share(share.id)
        copy_b = await unit.share(share.id)
    assert copy_a is not None
    assert copy_b is not None
    revoked = replace(copy_a, status=ShareStatus.REVOKED)
    renewed = replace(copy_b, token_sha256=new_link_token().sha256)

    async with records.unit() as unit:
        assert await unit.update_share(revoked, expected=copy_a)
    async with records.unit() as unit:
        assert not await unit.update_share(renewed, expected=copy_b)
        assert not await unit.update_share(replace(revoked, status=ShareStatus.APPROVED),
                                           expected=copy_a)  # fmt: skip

    after, _ = await stored(records, share)
    assert after.status is ShareStatus.REVOKED
    assert after.token_sha256 == share.token_sha256


async def assert_dead(records: SqlRecords, share: Share) -> None:
    """No link of the share works any more: revoked on the record, no download counted."""
    after, _ = await stored(records, share)
    assert after.status is ShareStatus.REVOKED
    assert link_state(after, NOW) is LinkState.REVOKED
    async with records.unit() as unit:
        assert await unit.take_download(share.id, NOW) is None
        for token in {share.token_sha256, after.token_sha256}:
            assert token is not None
            found = await unit.share_by_token(token)
            assert found is None or link_state(found, NOW) is LinkState.REVOKED


async def test_two_approvers_clicking_together_give_one_link(
    team: Conversation, file_url: str, settings: Settings
) -> None:
    """Through the bot (SQLite): one approval, one link card, the other approver told."""
    await _case_with_exhibit(team, file_url, "MET-24-0701")
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason x"))

    answers = await asyncio.gather(
        team.click_share("share.approve", share_id, sender=people.RAVI),
        team.click_share("share.approve", share_id, sender=people.SARAH),
    )

    engine = create_engine(settings.database_url.get_secret_value())
    try:
        async with SqlRecords(engine).unit() as unit:
            share = await unit.share(share_id)
            assert share is not None
            actions = [e.action for e in await unit.custody(share.case_id)]
    finally:
        await engine.dispose()
    assert actions.count(Action.SHARE_APPROVED) == 1
    assert len([b for b in team.recorder.activities() if "Share approved" in str(b)]) == 1
    winner = str(share.decided_by_name)
    assert sum(f"Approved by {winner}" in answer for answer in answers) == 2
    assert any("a moment ago" in a or "already approved" in a for a in answers)
