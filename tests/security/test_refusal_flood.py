"""One officer refused over and over cannot flood a case's chain of custody (SQLite, PostgreSQL).

The first few refusals of a window are listed, one entry says the rest are only counted, and the
count of every refused attempt stays recoverable from the records.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from evidence.cases import check_visible
from evidence.custody import Action, verify_chain
from evidence.model import Case, ChannelBinding
from evidence.records import RecordsUnit, run_unit
from evidence.refusals import LISTED_PER_WINDOW, WINDOW, record_refusal, refused_attempts
from storage.records import SqlRecords
from tests.support import people

pytest_plugins = ["tests.support.postgres", "tests.support.record_backends"]

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
JANE, LIAM, SARAH = (people.JANE.officer(), people.LIAM.officer(), people.SARAH.officer())
REFUSAL_ACTIONS = {Action.ACCESS_REFUSED, Action.REFUSALS_SUPPRESSED}


async def _case(records: SqlRecords) -> Case:
    case = Case(
        id=str(uuid.uuid4()),
        reference="MET-26-0042",
        title="Burglary",
        region="uksouth",
        created_by=JANE.object_id,
        created_at=T0,
        channel=ChannelBinding("19:team@thread.tacv2", "19:case@thread.tacv2", None, "{}", "t"),
    )
    async with records.unit() as unit:
        await unit.add_case(case)
    return case


async def _team(_case: Case) -> frozenset[str]:
    return frozenset({JANE.object_id})


async def test_two_hundred_refused_clicks_leave_a_handful_of_entries_and_the_full_count(
    records: SqlRecords,
) -> None:
    case = await _case(records)
    for n in range(200):  # a script clicking a refused button every second
        async with records.unit() as unit:
            decision = await check_visible(
                unit, LIAM, case, _team, now=T0 + timedelta(seconds=n), attempt={"attempt": "x"}
            )
        assert not decision.allowed

    async with records.unit() as unit:
        chain = list(await unit.custody(case.id))
        head = await unit.custody_head(case.id)
        total = await refused_attempts(unit, LIAM.object_id, case.id, T0)
    refusals = [e for e in chain if e.action in REFUSAL_ACTIONS]
    # 200 s fall in at most two 10-minute windows: each lists 5 and says once that it counts.
    assert len(refusals) <= 2 * (LISTED_PER_WINDOW + 1)
    assert sum(e.action == Action.REFUSALS_SUPPRESSED for e in refusals) >= 1
    assert total == 200
    assert verify_chain(case.id, chain, head=head).ok


@pytest.mark.parametrize(
    ("clicks", "listed", "suppressed"),
    [
        (1, 1, 0),
        (LISTED_PER_WINDOW, LISTED_PER_WINDOW, 0),
        (LISTED_PER_WINDOW + 1, 5, 1),
        (50, 5, 1),
    ],
)
async def test_a_window_lists_its_first_refusals_then_one_suppression_entry(
    records: SqlRecords, clicks: int, listed: int, suppressed: int
) -> None:
    case = await _case(records)
    for n in range(clicks):
        async with records.unit() as unit:
            await record_refusal(
                unit, LIAM, case.id, Action.ACCESS_REFUSED, {"n": n}, T0 + timedelta(seconds=n)
            )
    async with records.unit() as unit:
        actions = [e.action for e in await unit.custody(case.id)]
        total = await refused_attempts(unit, LIAM.object_id, case.id, T0)
    assert actions.count(Action.ACCESS_REFUSED) == listed
    assert actions.count(Action.REFUSALS_SUPPRESSED) == suppressed
    assert total == clicks


async def test_windows_officers_and_cases_are_counted_apart(records: SqlRecords) -> None:
    case, other = await _case(records), await _case_other(records)
    for _ in range(8):
        async with records.unit() as unit:
            await record_refusal(unit, LIAM, case.id, Action.ACCESS_REFUSED, {}, T0)
            await record_refusal(unit, SARAH, case.id, Action.ACCESS_REFUSED, {}, T0)
            await record_refusal(unit, LIAM, other.id, Action.ACCESS_REFUSED, {}, T0)
            await record_refusal(unit, LIAM, case.id, Action.ACCESS_REFUSED, {}, T0 + WINDOW)
    async with records.unit() as unit:
        entries = list(await unit.custody(case.id))
        liam_first = await unit.refused_attempts(case.id, LIAM.object_id, T0)
        liam_later = await refused_attempts(unit, LIAM.object_id, case.id, T0 + WINDOW)
        sarah = await refused_attempts(unit, SARAH.object_id, case.id, T0)
        elsewhere = await refused_attempts(unit, LIAM.object_id, other.id, T0)
    liam_listed = [e for e in entries if e.actor_id == LIAM.object_id]
    assert len(liam_listed) == 2 * (LISTED_PER_WINDOW + 1)  # two windows, each capped
    assert (liam_first, liam_later, sarah, elsewhere) == (16, 8, 8, 8)


async def _case_other(records: SqlRecords) -> Case:
    case = Case(
        id=str(uuid.uuid4()),
        reference="MET-26-0043",
        title="Theft",
        region="uksouth",
        created_by=JANE.object_id,
        created_at=T0,
    )
    async with records.unit() as unit:
        await unit.add_case(case)
    return case


async def test_concurrent_refusals_are_all_counted_and_still_capped(records: SqlRecords) -> None:
    """Clicks racing each other (several workers, PostgreSQL row locks) lose no count."""
    case = await _case(records)

    async def click(n: int) -> None:
        async def work(unit: RecordsUnit) -> bool:
            return await record_refusal(unit, LIAM, case.id, Action.ACCESS_REFUSED, {"n": n}, T0)

        await run_unit(records, work)

    await asyncio.gather(*(click(n) for n in range(30)))
    async with records.unit() as unit:
        actions = [e.action for e in await unit.custody(case.id)]
        total = await refused_attempts(unit, LIAM.object_id, case.id, T0)
    assert actions.count(Action.ACCESS_REFUSED) == LISTED_PER_WINDOW
    assert actions.count(Action.REFUSALS_SUPPRESSED) == 1
    assert total == 30
