"""Custody appends from many turns at once, written in shared commits (group commit).

Each `evidence list`, `case show` or `share list` is a consultation that must be on the case's
chain before it is answered (DPA 2018 s.62). One transaction per view made every view wait
for the single SQLite writer, one after another, each paying its own statements and commit.
`GroupedAppends.append(event)` instead queues the entry; a single writer task takes whatever
is queued, seals it in one unit (each chain's head locked and moved once, one multi-row
insert) and commits. Callers that arrive meanwhile form the next group.

Guarantees: `append` returns only once its entry is committed (durable); entries of one chain
are sealed in the order `append` was called; a group that loses a race is run again whole
(`run_unit`), and if it still fails every caller of the group gets the error and nothing of
the group is written.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable

from evidence.custody import CustodyEntry, CustodyEvent
from evidence.records import Records, RecordsUnit, inside_unit, run_unit

MAX_GROUP = 500


def _appending(
    events: list[CustodyEvent],
) -> Callable[[RecordsUnit], Awaitable[list[CustodyEntry]]]:
    async def append(unit: RecordsUnit) -> list[CustodyEntry]:
        return await unit.append_custody_all(events)

    return append


class GroupedAppends:
    """Queues custody events and writes them in shared, durable commits."""

    def __init__(self, records: Records) -> None:
        self._records = records
        self._queued: list[tuple[CustodyEvent, asyncio.Future[CustodyEntry]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def append(self, event: CustodyEvent) -> CustodyEntry:
        """Seal `event` onto its chain; return once it is committed."""
        if inside_unit():
            # The writer needs the write lock the caller's unit may hold: it would wait forever.
            raise RuntimeError("a grouped append was made inside a records unit")
        loop = asyncio.get_running_loop()
        if self._writer is not None and self._writer.get_loop() is not loop:
            # Left by an event loop that has closed (tests run one per test): it will never run
            # again, and nobody waits for what it had queued.
            self._writer = None
            self._queued = [(e, f) for e, f in self._queued if f.get_loop() is loop]
        done: asyncio.Future[CustodyEntry] = loop.create_future()
        self._queued.append((event, done))
        if self._writer is None or self._writer.done():
            # A fresh context: the writer serves every caller, not the one that woke it.
            self._writer = asyncio.create_task(self._write(), context=contextvars.Context())
        # Shielded: a caller that gives up does not cancel the group's commit.
        return await asyncio.shield(done)

    async def _write(self) -> None:
        while self._queued:
            group, self._queued = self._queued[:MAX_GROUP], self._queued[MAX_GROUP:]
            try:
                entries = await run_unit(self._records, _appending([event for event, _ in group]))
            except BaseException as err:
                for _, done in group:
                    if not done.done():
                        done.set_exception(err)
                if not isinstance(err, Exception):
                    raise
                continue
            for (_, done), entry in zip(group, entries, strict=True):
                if not done.done():
                    done.set_result(entry)
