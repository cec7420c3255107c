"""`Records` on SQL (SQLite or PostgreSQL): cases, exhibits, intake jobs and the custody ledger.

A unit is one connection and one transaction. Numbers and custody sequences are allocated
under a lock that the transaction holds until it ends, so concurrent units queue instead of
colliding, and a unit that rolls back gives its number back. An exhibit number is one upsert
(`INSERT ... ON CONFLICT DO UPDATE SET last_number = last_number + 1 RETURNING`); a custody
append reads the chain's head row, seals the entry, inserts it and moves the head. A share's
download is one conditional `UPDATE ... SET downloads = downloads + 1 WHERE <usable> RETURNING`;
every other change of a share is `UPDATE ... WHERE status = <as read> AND token = <as read>`.

- PostgreSQL: the upsert locks the counter row, the head is read `FOR UPDATE`; row locks last
  until commit. Units that take two such locks in opposite orders can deadlock: PostgreSQL
  aborts one, which surfaces as `Conflict`.
- SQLite: every transaction begins `IMMEDIATE` (see `storage.database`), so writers are
  serialized by the database lock; within one process (one `SqlRecords`) they also queue on
  an asyncio lock instead of polling SQLite's busy handler. A unit that waits longer than the
  busy timeout (another process holding the lock) surfaces as `Conflict`.

Errors::

    Conflict   (evidence.errors) the unit lost a race (deadlock, serialization failure, lock
               timeout): nothing was written; run the whole unit again (`run_unit` does)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evidence.custody import GENESIS, CustodyEntry, CustodyEvent, seal
from evidence.errors import Conflict
from evidence.model import Case, ChannelBinding, Exhibit, ExhibitRef, SourceKind
from evidence.records import DuplicateCase, IntakeJob, JobStatus, unit_scope
from evidence.sharing import Share, ShareStatus
from storage.tables import (
    cases,
    custody_entries,
    custody_heads,
    exhibit_counters,
    exhibits,
    intake_jobs,
    refusal_tallies,
    shares,
)

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

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[SqlRecordsUnit]:
        """A unit of work: commits on normal exit, rolls back on an exception.

        Units do not nest: opening one inside another (or in a task started inside one) raises
        `RuntimeError`.
        """
        with unit_scope():
            try:
                async with self._writer, self._engine.begin() as connection:
                    yield SqlRecordsUnit(connection)
            except DBAPIError as err:
                reason = _retryable(err)
                if reason is None:
                    raise
                raise Conflict(reason) from err


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


class SqlRecordsUnit:
    """One transaction's view of the records."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._postgres = connection.dialect.name == "postgresql"

    # -- cases ---------------------------------------------------------------------------

    async def add_case(self, case: Case) -> None:
        """Store a new case; raise `DuplicateCase` if its reference is taken."""
        # ON CONFLICT instead of catching the error: the transaction stays usable.
        inserted = await self._connection.execute(
            self._insert(cases)
            .values(_case_row(case))
            .on_conflict_do_nothing(index_elements=[cases.c.reference])
            .returning(cases.c.id)
        )
        if inserted.first() is None:
            raise DuplicateCase(case.reference)

    async def bind_channel(self, case_id: str, channel: ChannelBinding) -> None:
        """Bind the case to a Teams channel; `LookupError` if there is no such case."""
        updated = await self._connection.execute(
            update(cases).where(cases.c.id == case_id).values(_channel_row(channel))
        )
        if updated.rowcount != 1:
            raise LookupError(case_id)

    async def case_by_id(self, case_id: str) -> Case | None:
        """The case with this id."""
        return await self._one_case(cases.c.id == case_id)

    async def case_by_reference(self, reference: str) -> Case | None:
        """The case with this reference (exact, as stored upper-case)."""
        return await self._one_case(cases.c.reference == reference)

    async def case_by_channel(self, channel_id: str) -> Case | None:
        """The case bound to this Teams channel."""
        return await self._one_case(cases.c.channel_id == channel_id)

    async def cases(self, limit: int = 500) -> Sequence[Case]:
        """The newest cases first."""
        rows = await self._connection.execute(
            select(cases).order_by(cases.c.created_at.desc(), cases.c.id).limit(limit)
        )
        return [_case(row) for row in rows]

    async def _one_case(self, condition: Any) -> Case | None:
        row = (await self._connection.execute(select(cases).where(condition))).first()
        return None if row is None else _case(row)

    # -- exhibits ------------------------------------------------------------------------

    async def next_exhibit_number(self, case_id: str, initials: str) -> int:
        """The next number for `initials` in the case: 1, 2, ... gap-free once committed."""
        # One statement: insert 1 or increment, and keep the row locked until the unit ends.
        upsert = self._insert(exhibit_counters).values(
            case_id=case_id, initials=initials, last_number=1
        )
        upsert = upsert.on_conflict_do_update(
            index_elements=[exhibit_counters.c.case_id, exhibit_counters.c.initials],
            set_={"last_number": exhibit_counters.c.last_number + 1},
        )
        result = await self._connection.execute(upsert.returning(exhibit_counters.c.last_number))
        return int(result.scalar_one())

    async def add_exhibit(self, exhibit: Exhibit) -> None:
        """Store a new exhibit."""
        await self._connection.execute(exhibits.insert().values(_exhibit_row(exhibit)))

    async def exhibit_by_id(self, exhibit_id: str) -> Exhibit | None:
        """The exhibit with this id."""
        row = (
            await self._connection.execute(select(exhibits).where(exhibits.c.id == exhibit_id))
        ).first()
        return None if row is None else _exhibit(row)

    async def exhibit_by_ref(self, case_id: str, initials: str, number: int) -> Exhibit | None:
        """The exhibit `initials/number` of the case."""
        query = select(exhibits).where(
            exhibits.c.case_id == case_id,
            exhibits.c.initials == initials,
            exhibits.c.number == number,
        )
        row = (await self._connection.execute(query)).first()
        return None if row is None else _exhibit(row)

    async def exhibits_of(self, case_id: str) -> Sequence[Exhibit]:
        """The case's exhibits, in the order they were recorded."""
        query = (
            select(exhibits)
            .where(exhibits.c.case_id == case_id)
            .order_by(exhibits.c.created_at, exhibits.c.initials, exhibits.c.number)
        )
        return [_exhibit(row) for row in await self._connection.execute(query)]

    # -- intake jobs ---------------------------------------------------------------------

    async def add_job(self, job: IntakeJob) -> bool:
        """Store a new job; False (and nothing changed) if a job with its id exists."""
        inserted = await self._connection.execute(
            self._insert(intake_jobs)
            .values(_job_row(job))
            .on_conflict_do_nothing()  # the id or the idempotency key
            .returning(intake_jobs.c.id)
        )
        return inserted.first() is not None

    async def job(self, job_id: str) -> IntakeJob | None:
        """The job with this id."""
        query = select(intake_jobs).where(intake_jobs.c.id == job_id)
        row = (await self._connection.execute(query)).first()
        return None if row is None else _job(row)

    async def jobs_with_receipt(self, receipt_activity_id: str) -> Sequence[IntakeJob]:
        """The jobs announced by one receipt card."""
        query = select(intake_jobs).where(intake_jobs.c.receipt_activity_id == receipt_activity_id)
        return [_job(row) for row in (await self._connection.execute(query)).all()]

    async def save_job(self, job: IntakeJob) -> None:
        """Replace a job's state; `LookupError` if there is no such job."""
        updated = await self._connection.execute(
            update(intake_jobs).where(intake_jobs.c.id == job.id).values(_job_row(job))
        )
        if updated.rowcount != 1:
            raise LookupError(job.id)

    # -- shares --------------------------------------------------------------------------

    async def add_share(self, share: Share) -> None:
        """Store a new share."""
        await self._connection.execute(shares.insert().values(_share_row(share)))

    async def share(self, share_id: str) -> Share | None:
        """The share with this id."""
        return await self._one_share(shares.c.id == share_id)

    async def share_by_token(self, token_sha256: str) -> Share | None:
        """The share whose link token hashes to `token_sha256`."""
        return await self._one_share(shares.c.token_sha256 == token_sha256)

    async def shares_of(self, case_id: str) -> Sequence[Share]:
        """The case's shares, newest first."""
        query = (
            select(shares)
            .where(shares.c.case_id == case_id)
            .order_by(shares.c.created_at.desc(), shares.c.id)
        )
        return [_share(row) for row in await self._connection.execute(query)]

    async def update_share(self, share: Share, *, expected: Share) -> bool:
        """Replace a share's state but `downloads` if its status and token are still `expected`'s.

        One conditional UPDATE: on PostgreSQL a concurrent writer holds the row until it
        commits, and the WHERE is then re-evaluated on the row it left, so the later of two
        racing decisions matches nothing (rowcount 0) instead of overwriting the first.
        """
        if share.id != expected.id:
            raise ValueError("a share is updated from a copy of itself")
        row = _share_row(share)
        del row["downloads"]  # moved by take_download only: no lost update from a stale copy
        token = shares.c.token_sha256
        updated = await self._connection.execute(
            update(shares)
            .where(shares.c.id == share.id)
            .where(shares.c.status == expected.status.value)
            .where(
                token.is_(None) if expected.token_sha256 is None else token == expected.token_sha256
            )
            .values(row)
        )
        return bool(updated.rowcount == 1)

    async def shares_due_to_expire(self, now: datetime) -> Sequence[Share]:
        """Approved shares whose link expired at or before `now`, locked until the unit ends."""
        # FOR UPDATE (PostgreSQL): a second sweeper waits, then re-checks the status and skips
        # what the first one expired; a download waiting on the row then finds it expired.
        query = (
            select(shares)
            .where(shares.c.status == ShareStatus.APPROVED.value)
            .where(shares.c.link_expires_at <= now)
            .order_by(shares.c.link_expires_at, shares.c.id)
            .with_for_update()
        )
        return [_share(row) for row in await self._connection.execute(query)]

    async def take_download(self, share_id: str, now: datetime) -> Share | None:
        """Count one download if the link is still usable, in one conditional UPDATE."""
        # PostgreSQL re-evaluates the WHERE on the row a concurrent UPDATE left, so racing
        # downloads queue on the row lock and the last ones find the limit reached.
        taken = await self._connection.execute(
            update(shares)
            .where(shares.c.id == share_id)
            .where(shares.c.status == ShareStatus.APPROVED.value)
            .where(or_(shares.c.link_expires_at.is_(None), shares.c.link_expires_at > now))
            .where(
                or_(shares.c.max_downloads.is_(None), shares.c.downloads < shares.c.max_downloads)
            )
            .values(downloads=shares.c.downloads + 1)
            .returning(*shares.c)
        )
        row = taken.first()
        return None if row is None else _share(row)

    async def _one_share(self, condition: Any) -> Share | None:
        row = (await self._connection.execute(select(shares).where(condition))).first()
        return None if row is None else _share(row)

    # -- custody -------------------------------------------------------------------------

    async def append_custody(self, event: CustodyEvent) -> CustodyEntry:
        """Seal `event` onto the end of its chain and store it."""
        sequence, previous_hash = await self._lock_head(event.chain)
        entry = seal(event, sequence + 1, previous_hash)
        await self._connection.execute(custody_entries.insert().values(_entry_row(entry)))
        # The lock makes this guard redundant; it is what keeps the chain linear if the lock
        # were ever lost (another isolation level, a hand-written writer).
        moved = await self._connection.execute(
            update(custody_heads)
            .where(custody_heads.c.chain == entry.chain)
            .where(custody_heads.c.last_sequence == sequence)
            .values(last_sequence=entry.sequence, last_hash=entry.hash)
        )
        if moved.rowcount != 1:
            raise Conflict(f"custody chain {entry.chain!r} moved past {sequence}")
        return entry

    async def custody(self, chain: str) -> Sequence[CustodyEntry]:
        """Every entry of a chain, in sequence order."""
        query = (
            select(custody_entries)
            .where(custody_entries.c.chain == chain)
            .order_by(custody_entries.c.sequence)
        )
        return [_entry(row) for row in await self._connection.execute(query)]

    async def custody_about(
        self, chain: str, exhibit_ids: Sequence[str], actions: Sequence[str]
    ) -> Sequence[CustodyEntry]:
        """The chain's entries about these exhibits with these actions, in sequence order."""
        if not exhibit_ids or not actions:
            return []
        query = (
            select(custody_entries)
            .where(
                custody_entries.c.chain == chain,
                custody_entries.c.exhibit_id.in_(list(exhibit_ids)),
                custody_entries.c.action.in_(list(actions)),
            )
            .order_by(custody_entries.c.sequence)
        )
        return [_entry(row) for row in await self._connection.execute(query)]

    async def custody_head(self, chain: str) -> tuple[int, str] | None:
        """The (sequence, hash) of the chain's last entry, as recorded."""
        query = select(custody_heads.c.last_sequence, custody_heads.c.last_hash).where(
            custody_heads.c.chain == chain
        )
        row = (await self._connection.execute(query)).first()
        return None if row is None or row.last_sequence == 0 else (row[0], row[1])

    async def _lock_head(self, chain: str) -> tuple[int, str]:
        """The chain's (last sequence, last hash), locked until the unit ends."""
        locked = (
            select(custody_heads.c.last_sequence, custody_heads.c.last_hash)
            .where(custody_heads.c.chain == chain)
            .with_for_update()  # rendered on PostgreSQL only; SQLite already holds its lock
        )
        row = (await self._connection.execute(locked)).first()
        if row is None:
            # A new chain: create its head at GENESIS. A concurrent creator makes this wait
            # for its commit and then do nothing; either way there is a row to lock now.
            await self._connection.execute(
                self._insert(custody_heads)
                .values(chain=chain, last_sequence=0, last_hash=GENESIS)
                .on_conflict_do_nothing(index_elements=[custody_heads.c.chain])
            )
            row = (await self._connection.execute(locked)).one()
        return int(row[0]), str(row[1])

    # -- idempotent intake and refusal tallies ----------------------------------------------

    async def job_by_idempotency_key(self, key: str) -> IntakeJob | None:
        """The job recorded for this idempotency key, if any."""
        query = select(intake_jobs).where(intake_jobs.c.idempotency_key == key)
        row = (await self._connection.execute(query)).first()
        return None if row is None else _job(row)

    async def tally_refusal(self, chain: str, actor_id: str, window_start: datetime) -> int:
        """Count one refused attempt in the window (one upsert); the window's total."""
        upsert = self._insert(refusal_tallies).values(
            chain=chain, actor_id=actor_id, window_start=window_start, attempts=1
        )
        upsert = upsert.on_conflict_do_update(
            index_elements=[
                refusal_tallies.c.chain,
                refusal_tallies.c.actor_id,
                refusal_tallies.c.window_start,
            ],
            set_={"attempts": refusal_tallies.c.attempts + 1},
        )
        result = await self._connection.execute(upsert.returning(refusal_tallies.c.attempts))
        return int(result.scalar_one())

    async def refused_attempts(self, chain: str, actor_id: str, since: datetime) -> int:
        """Refused attempts counted in windows starting at or after `since`."""
        query = select(func.coalesce(func.sum(refusal_tallies.c.attempts), 0)).where(
            refusal_tallies.c.chain == chain,
            refusal_tallies.c.actor_id == actor_id,
            refusal_tallies.c.window_start >= since,
        )
        return int((await self._connection.execute(query)).scalar_one())

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        return postgresql.insert(table) if self._postgres else sqlite.insert(table)


# -- rows <-> domain ---------------------------------------------------------------------


def _channel_row(channel: ChannelBinding | None) -> dict[str, Any]:
    return {
        "channel_id": channel.channel_id if channel else None,
        "team_id": channel.team_id if channel else None,
        "graph_team_id": channel.graph_team_id if channel else None,
        "conversation_reference": channel.conversation_reference if channel else None,
        "tenant_id": channel.tenant_id if channel else None,
    }


def _case_row(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "reference": case.reference,
        "title": case.title,
        "region": case.region,
        "created_by": case.created_by,
        "created_at": case.created_at,
        **_channel_row(case.channel),
    }


def _case(row: Row[Any]) -> Case:
    channel = None
    if row.channel_id is not None:
        channel = ChannelBinding(
            team_id=row.team_id,
            channel_id=row.channel_id,
            graph_team_id=row.graph_team_id,
            conversation_reference=row.conversation_reference,
            tenant_id=row.tenant_id,
        )
    return Case(
        id=row.id,
        reference=row.reference,
        title=row.title,
        region=row.region,
        created_by=row.created_by,
        created_at=row.created_at,
        channel=channel,
    )


def _exhibit_row(exhibit: Exhibit) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": exhibit.id,
        "case_id": exhibit.case_id,
        "initials": exhibit.ref.initials,
        "number": exhibit.ref.number,
        "produced_by": exhibit.produced_by,
        "produced_by_name": exhibit.produced_by_name,
        "original_name": exhibit.original_name,
        "stored_name": exhibit.stored_name,
        "declared_type": exhibit.declared_type,
        "detected_type": exhibit.detected_type,
        "size": exhibit.size,
        "sha256": exhibit.sha256,
        "region": exhibit.region,
        "blob_name": exhibit.blob_name,
        "source": str(exhibit.source),
        "source_details": dict(exhibit.source_details),
    }
    if exhibit.created_at is not None:  # otherwise the database's CURRENT_TIMESTAMP
        row["created_at"] = exhibit.created_at
    return row


def _exhibit(row: Row[Any]) -> Exhibit:
    return Exhibit(
        id=row.id,
        case_id=row.case_id,
        ref=ExhibitRef(row.initials, row.number),
        produced_by=row.produced_by,
        produced_by_name=row.produced_by_name,
        original_name=row.original_name,
        stored_name=row.stored_name,
        declared_type=row.declared_type,
        detected_type=row.detected_type,
        size=row.size,
        sha256=row.sha256,
        region=row.region,
        blob_name=row.blob_name,
        source=SourceKind(row.source),
        source_details=row.source_details,
        created_at=row.created_at,
    )


def _job_row(job: IntakeJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "case_id": job.case_id,
        "officer_id": job.officer_id,
        "officer_name": job.officer_name,
        "source_kind": job.source_kind,
        "source_url": job.source_url,
        "file_name": job.file_name,
        "declared_type": job.declared_type,
        "declared_size": job.declared_size,
        "status": str(job.status),
        "attempts": job.attempts,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "conversation_reference": job.conversation_reference,
        "receipt_activity_id": job.receipt_activity_id,
        "exhibit_id": job.exhibit_id,
        "error": job.error,
        "source_details": None if job.source_details is None else dict(job.source_details),
        "idempotency_key": job.idempotency_key,
    }


def _job(row: Row[Any]) -> IntakeJob:
    return IntakeJob(
        id=row.id,
        case_id=row.case_id,
        officer_id=row.officer_id,
        officer_name=row.officer_name,
        source_kind=row.source_kind,
        source_url=row.source_url,
        file_name=row.file_name,
        declared_type=row.declared_type,
        declared_size=row.declared_size,
        status=JobStatus(row.status),
        attempts=row.attempts,
        created_at=row.created_at,
        updated_at=row.updated_at,
        conversation_reference=row.conversation_reference,
        receipt_activity_id=row.receipt_activity_id,
        exhibit_id=row.exhibit_id,
        error=row.error,
        source_details=row.source_details,
        idempotency_key=row.idempotency_key,
    )


def _entry_row(entry: CustodyEntry) -> dict[str, Any]:
    return {
        "chain": entry.chain,
        "sequence": entry.sequence,
        "at": entry.at,
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "case_id": entry.case_id,
        "exhibit_id": entry.exhibit_id,
        "action": entry.action,
        "details": dict(entry.details),
        "previous_hash": entry.previous_hash,
        "hash": entry.hash,
    }


def _entry(row: Row[Any]) -> CustodyEntry:
    return CustodyEntry(
        chain=row.chain,
        sequence=row.sequence,
        at=row.at,
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        case_id=row.case_id,
        exhibit_id=row.exhibit_id,
        action=row.action,
        details=row.details,
        previous_hash=row.previous_hash,
        hash=row.hash,
    )


def _share_row(share: Share) -> dict[str, Any]:
    return {
        "id": share.id,
        "case_id": share.case_id,
        "exhibit_ids": list(share.exhibit_ids),
        "requested_by": share.requested_by,
        "requested_by_name": share.requested_by_name,
        "recipient": share.recipient,
        "organisation_type": share.organisation_type,
        "reason": share.reason,
        "days": share.days,
        "status": share.status.value,
        "created_at": share.created_at,
        "request_expires_at": share.request_expires_at,
        "decided_by": share.decided_by,
        "decided_by_name": share.decided_by_name,
        "decided_at": share.decided_at,
        "decision_reason": share.decision_reason,
        "token_sha256": share.token_sha256,
        "link_expires_at": share.link_expires_at,
        "max_downloads": share.max_downloads,
        "downloads": share.downloads,
        "requester_reference": share.requester_reference,
        "approval_activity_id": share.approval_activity_id,
    }


def _share(row: Row[Any]) -> Share:
    return Share(
        id=row.id,
        case_id=row.case_id,
        exhibit_ids=tuple(row.exhibit_ids),
        requested_by=row.requested_by,
        requested_by_name=row.requested_by_name,
        recipient=row.recipient,
        organisation_type=row.organisation_type,
        reason=row.reason,
        days=row.days,
        status=ShareStatus(row.status),
        created_at=row.created_at,
        request_expires_at=row.request_expires_at,
        decided_by=row.decided_by,
        decided_by_name=row.decided_by_name,
        decided_at=row.decided_at,
        decision_reason=row.decision_reason,
        token_sha256=row.token_sha256,
        link_expires_at=row.link_expires_at,
        max_downloads=row.max_downloads,
        downloads=row.downloads,
        requester_reference=row.requester_reference,
        approval_activity_id=row.approval_activity_id,
    )
