"""The unit of work on SQL: one connection, one transaction, a lost race surfaced as `Conflict`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

from opentelemetry import trace
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from evidence.custody import CustodyEntry, CustodyEvent
from evidence.errors import Conflict
from evidence.records import unit_scope
from storage.database import DEFERRED_BEGIN
from storage.records.grouped import GroupedAppends
from storage.records.queries import SqlRecordsUnit
from storage.telemetry import span

tracer = trace.get_tracer("exhibit.storage")

# SQLSTATEs that mean "lost a race, try again": serialization_failure, deadlock_detected,
# lock_not_available.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
# sqlite3 result codes SQLITE_BUSY and SQLITE_LOCKED, with any extended code.
RETRYABLE_SQLITE_CODES = frozenset({5, 6})


class SqlRecords:
    """Records kept in a SQL database through an async SQLAlchemy engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # SQLite admits one writer: let this process's units queue here rather than poll.
        self._writer: AbstractAsyncContextManager[object] = (
            asyncio.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )
        self._grouped = GroupedAppends(self)
        # A read unit takes no write lock: a deferred BEGIN on SQLite (WAL lets it read beside
        # the writer), a READ ONLY transaction on PostgreSQL (a write in it fails).
        self._read_options: dict[str, object] = (
            dict(DEFERRED_BEGIN)
            if engine.dialect.name == "sqlite"
            else {"postgresql_readonly": True}
        )

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[SqlRecordsUnit]:
        """A unit of work: commits on normal exit, rolls back on an exception.

        Units do not nest: opening one inside another (or in a task started inside one) raises
        `RuntimeError`.
        """
        async with (
            self._observed("exhibit.db.unit"),
            self._writer,
            self._engine.begin() as connection,
        ):
            yield SqlRecordsUnit(connection)

    @asynccontextmanager
    async def read_unit(self) -> AsyncIterator[SqlRecordsUnit]:
        """A unit that only reads: one consistent snapshot, no write lock, nothing written."""
        async with self._observed("exhibit.db.read_unit"), self._engine.connect() as connection:
            await connection.execution_options(**self._read_options)
            async with connection.begin():
                yield SqlRecordsUnit(connection)

    @asynccontextmanager
    async def _observed(self, name: str) -> AsyncIterator[None]:
        """One unit's scope and span; a lost race raised as `Conflict`."""
        system = self._engine.dialect.name
        with unit_scope(), span(tracer, name, {"db.system.name": system}):
            try:
                yield
            except DBAPIError as err:
                reason = _retryable(err)
                if reason is None:
                    raise
                raise Conflict(reason) from err

    async def append_grouped(self, event: CustodyEvent) -> CustodyEntry:
        """Seal `event` onto its chain outside any unit, in a commit shared with concurrent
        callers (`storage.records.grouped`); return once it is committed."""
        return await self._grouped.append(event)


def _retryable(err: DBAPIError) -> str | None:
    """Why `err` is a lost race, or None when it is a real error."""
    orig: Any = err.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return f"SQLSTATE {sqlstate}"
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in RETRYABLE_SQLITE_CODES:
        return getattr(orig, "sqlite_errorname", None) or f"SQLite error {code}"
    return None
