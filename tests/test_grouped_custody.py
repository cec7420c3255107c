"""Grouped custody appends and read units, on SQLite and PostgreSQL.

Views (`evidence list`, `case show`, `share list`) are read in read units and recorded with
`Records.append_grouped`: concurrent appends share commits, yet each is committed before its
caller goes on, and each chain stays linear in the order of the calls.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from evidence.custody import verify_chain
from storage.database import create_engine
from storage.records import SqlRecords
from tests.test_records_contract import make_case, make_event, new_id

pytest_plugins = ["tests.support.postgres", "tests.support.record_backends"]


def count_commits(engine: AsyncEngine) -> list[int]:
    """A counter of the transactions `engine` commits."""
    commits = [0]

    @event.listens_for(engine.sync_engine, "commit")
    def _commit(_connection: Any) -> None:
        commits[0] += 1

    return commits


async def test_concurrent_appends_share_commits_and_keep_call_order(
    records: SqlRecords, engine: AsyncEngine
) -> None:
    chain = new_id()
    commits = count_commits(engine)

    entries = await asyncio.gather(
        *(records.append_grouped(make_event(chain, n)) for n in range(60))
    )

    # Each caller got its own entry, in the order of the calls.
    assert [e.details["n"] for e in entries] == list(range(60))
    assert [e.sequence for e in entries] == list(range(1, 61))
    assert commits[0] < 60  # grouped: fewer commits than appends
    async with records.unit() as unit:
        stored = await unit.custody(chain)
        head = await unit.custody_head(chain)
    assert [e.hash for e in stored] == [e.hash for e in entries]
    assert verify_chain(chain, stored, head).ok


async def test_an_append_is_committed_when_it_returns(
    records: SqlRecords, database_url: str
) -> None:
    chain = new_id()
    entry = await records.append_grouped(make_event(chain, 1))
    other = create_engine(database_url)  # another process's view of the database
    try:
        async with SqlRecords(other).read_unit() as unit:
            assert [e.hash for e in await unit.custody(chain)] == [entry.hash]
    finally:
        await other.dispose()


async def test_grouped_appends_continue_chains_written_by_units(records: SqlRecords) -> None:
    chains = [new_id(), new_id()]
    async with records.unit() as unit:
        await unit.append_custody(make_event(chains[0], 0))
    await asyncio.gather(
        *(records.append_grouped(make_event(chains[n % 2], n)) for n in range(1, 21))
    )
    async with records.unit() as unit:
        await unit.append_custody(make_event(chains[1], 21))
    for chain, length in ((chains[0], 11), (chains[1], 11)):
        async with records.read_unit() as unit:
            stored = await unit.custody(chain)
            head = await unit.custody_head(chain)
        assert [e.sequence for e in stored] == list(range(1, length + 1))
        assert verify_chain(chain, stored, head).ok


async def test_a_grouped_append_inside_a_unit_is_refused(records: SqlRecords) -> None:
    with pytest.raises(RuntimeError, match="inside a records unit"):
        async with records.unit():
            await records.append_grouped(make_event(new_id(), 1))


async def test_a_read_unit_does_not_wait_for_the_writer(records: SqlRecords) -> None:
    """A read while a write unit is open (holding SQLite's write lock, or PostgreSQL's row
    locks) answers from the last committed state instead of queueing behind it."""
    case = make_case()
    async with records.unit() as unit:
        await unit.add_case(case)
    read: list[str | None] = []
    async with records.unit() as writing:
        await writing.append_custody(make_event(case.id, 1))
        # Another turn's task (a fresh context: not inside this unit). The timeout guards
        # against a hang; it measures nothing.
        async with asyncio.timeout(30):
            reader = asyncio.create_task(
                _read_case(records, case.reference, read), context=contextvars.Context()
            )
            await reader
    assert read == [case.id]


async def _read_case(records: SqlRecords, reference: str, into: list[str | None]) -> None:
    async with records.read_unit() as unit:
        found = await unit.case_by_reference(reference)
        into.append(found.id if found else None)
