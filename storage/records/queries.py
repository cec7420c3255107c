"""What one unit of work on SQL reads and writes: cases, exhibits, jobs, shares, custody."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from evidence.custody import (
    GENESIS,
    SYSTEM_ACTOR,
    SYSTEM_CHAIN,
    Action,
    CustodyEntry,
    CustodyEvent,
    seal,
)
from evidence.errors import Conflict
from evidence.model import Case, ChannelBinding, Exhibit, LegalHold
from evidence.records import DuplicateCase, IntakeJob
from evidence.shares import Share, ShareStatus
from storage.records.dialect import insert_into
from storage.records.jobs import JobQueries
from storage.records.rows import (
    case_from_row,
    case_row,
    channel_row,
    entry_from_row,
    entry_row,
    exhibit_from_row,
    exhibit_row,
    hold_row,
    job_from_row,
    job_row,
    share_from_row,
    share_row,
)
from storage.records.sweeps import SweepQueries
from storage.tables import (
    cases,
    custody_checkpoints,
    custody_entries,
    custody_heads,
    exhibit_counters,
    exhibits,
    intake_jobs,
    refusal_tallies,
    shares,
)

if TYPE_CHECKING:
    from storage.records.dialect import Insert


class SqlRecordsUnit(SweepQueries, JobQueries):
    """One transaction's view of the records (the integrity sweep's part: `SweepQueries`;
    background jobs and leases: `JobQueries`)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._dialect = connection.dialect.name

    # -- cases ---------------------------------------------------------------------------

    async def add_case(self, case: Case) -> None:
        """Store a new case; raise `DuplicateCase` if its reference is taken."""
        # ON CONFLICT instead of catching the error: the transaction stays usable.
        inserted = await self._connection.execute(
            self._insert(cases)
            .values(case_row(case))
            .on_conflict_do_nothing(index_elements=[cases.c.reference])
            .returning(cases.c.id)
        )
        if inserted.first() is None:
            raise DuplicateCase(case.reference)

    async def bind_channel(self, case_id: str, channel: ChannelBinding) -> bool:
        """Bind an unbound case to a channel that holds no case; False (nothing changed) if the
        case is bound already or the channel holds another case; `LookupError` if no such case.

        Two units binding one channel to two cases at once: the loser's unique violation is a
        `Conflict`, and its retry sees the channel taken.
        """
        taken = select(cases.c.id).where(cases.c.channel_id == channel.channel_id).exists()
        try:
            updated = await self._connection.execute(
                update(cases)
                .where(cases.c.id == case_id, cases.c.channel_id.is_(None), ~taken)
                .values(channel_row(channel))
            )
        except IntegrityError as error:
            raise Conflict(f"channel bound to another case meanwhile ({case_id})") from error
        if updated.rowcount == 1:
            return True
        if await self.case_by_id(case_id) is None:
            raise LookupError(case_id)
        return False

    async def rename_channel(self, case_id: str, channel_id: str, name: str) -> bool:
        """Store the channel's display name if the case is still bound to `channel_id`."""
        updated = await self._connection.execute(
            update(cases)
            .where(cases.c.id == case_id, cases.c.channel_id == channel_id)
            .values(channel_name=name)
        )
        return bool(updated.rowcount == 1)

    async def set_case_hold(
        self, case_id: str, hold: LegalHold | None, *, expected: LegalHold | None
    ) -> bool:
        """Set or clear the case's legal hold if it still stands as `expected`; False if not."""
        since = cases.c.hold_since
        condition = since.is_(None) if expected is None else since == expected.since
        updated = await self._connection.execute(
            update(cases).where(cases.c.id == case_id, condition).values(hold_row(hold))
        )
        return bool(updated.rowcount == 1)

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
        return [case_from_row(row) for row in rows]

    async def _one_case(self, condition: Any) -> Case | None:
        row = (await self._connection.execute(select(cases).where(condition))).first()
        return None if row is None else case_from_row(row)

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
        await self._connection.execute(exhibits.insert().values(exhibit_row(exhibit)))

    async def exhibit_by_id(self, exhibit_id: str) -> Exhibit | None:
        """The exhibit with this id."""
        row = (
            await self._connection.execute(select(exhibits).where(exhibits.c.id == exhibit_id))
        ).first()
        return None if row is None else exhibit_from_row(row)

    async def exhibit_by_ref(self, case_id: str, initials: str, number: int) -> Exhibit | None:
        """The exhibit `initials/number` of the case."""
        query = select(exhibits).where(
            exhibits.c.case_id == case_id,
            exhibits.c.initials == initials,
            exhibits.c.number == number,
        )
        row = (await self._connection.execute(query)).first()
        return None if row is None else exhibit_from_row(row)

    async def exhibits_of(self, case_id: str) -> Sequence[Exhibit]:
        """The case's exhibits, in the order they were recorded."""
        query = (
            select(exhibits)
            .where(exhibits.c.case_id == case_id)
            .order_by(exhibits.c.created_at, exhibits.c.initials, exhibits.c.number)
        )
        return [exhibit_from_row(row) for row in await self._connection.execute(query)]

    # -- intake jobs ---------------------------------------------------------------------

    async def add_job(self, job: IntakeJob) -> bool:
        """Store a new job; False (and nothing changed) if a job with its id exists."""
        inserted = await self._connection.execute(
            self._insert(intake_jobs)
            .values(job_row(job))
            .on_conflict_do_nothing()  # the id or the idempotency key
            .returning(intake_jobs.c.id)
        )
        return inserted.first() is not None

    async def job(self, job_id: str) -> IntakeJob | None:
        """The job with this id."""
        query = select(intake_jobs).where(intake_jobs.c.id == job_id)
        row = (await self._connection.execute(query)).first()
        return None if row is None else job_from_row(row)

    async def jobs_with_receipt(self, receipt_activity_id: str) -> Sequence[IntakeJob]:
        """The jobs announced by one receipt card."""
        query = select(intake_jobs).where(intake_jobs.c.receipt_activity_id == receipt_activity_id)
        return [job_from_row(row) for row in (await self._connection.execute(query)).all()]

    async def save_job(self, job: IntakeJob) -> None:
        """Replace a job's state; `LookupError` if there is no such job."""
        updated = await self._connection.execute(
            update(intake_jobs).where(intake_jobs.c.id == job.id).values(job_row(job))
        )
        if updated.rowcount != 1:
            raise LookupError(job.id)

    # -- shares --------------------------------------------------------------------------

    async def add_share(self, share: Share) -> bool:
        """Store a new share; False (and nothing stored) if its request key is taken."""
        # ON CONFLICT instead of catching the error: the transaction stays usable.
        inserted = await self._connection.execute(
            self._insert(shares)
            .values(share_row(share))
            .on_conflict_do_nothing(index_elements=[shares.c.request_key])
            .returning(shares.c.id)
        )
        return inserted.first() is not None

    async def share_by_request_key(self, request_key: str) -> Share | None:
        """The share requested with this key (a form's or a message's), if any."""
        return await self._one_share(shares.c.request_key == request_key)

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
        return [share_from_row(row) for row in await self._connection.execute(query)]

    async def update_share(self, share: Share, *, expected: Share) -> bool:
        """Replace a share's state but `downloads` if its status and token are still `expected`'s.

        One conditional UPDATE: on PostgreSQL a concurrent writer holds the row until it
        commits, and the WHERE is then re-evaluated on the row it left, so the later of two
        racing decisions matches nothing (rowcount 0) instead of overwriting the first.
        """
        if share.id != expected.id:
            raise ValueError("a share is updated from a copy of itself")
        row = share_row(share)
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
        return [share_from_row(row) for row in await self._connection.execute(query)]

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
        return None if row is None else share_from_row(row)

    async def _one_share(self, condition: Any) -> Share | None:
        row = (await self._connection.execute(select(shares).where(condition))).first()
        return None if row is None else share_from_row(row)

    # -- custody -------------------------------------------------------------------------

    async def append_custody(self, event: CustodyEvent) -> CustodyEntry:
        """Seal `event` onto the end of its chain and store it.

        A chain whose head row is missing gets it back from its last stored entry, and a
        `custody.head_recovered` entry saying so is sealed first.
        """
        (entry,) = await self.append_custody_all([event])
        return entry

    async def append_custody_all(self, events: Sequence[CustodyEvent]) -> list[CustodyEntry]:
        """Seal `events` onto the ends of their chains, in the order given, and store them.

        Each chain's head is locked and moved once, and the entries go in one multi-row
        insert: the same entries as appending one by one, in far fewer statements.
        """
        locked: dict[str, int] = {}  # chain -> its last sequence when locked
        heads: dict[str, tuple[int, str]] = {}  # chain -> (last sequence, last hash) so far
        sealed: list[CustodyEntry] = []
        rows: list[dict[str, Any]] = []
        for event in events:
            if event.chain not in heads:
                sequence, previous_hash, recovered = await self._lock_head(event.chain)
                locked[event.chain] = sequence
                heads[event.chain] = (sequence, previous_hash)
                if recovered:
                    notice = CustodyEvent(
                        chain=event.chain,
                        actor=SYSTEM_ACTOR,
                        action=Action.CUSTODY_HEAD_RECOVERED,
                        at=event.at,
                        case_id=None if event.chain == SYSTEM_CHAIN else event.chain,
                        details={"last_sequence": sequence, "last_hash": previous_hash},
                    )
                    entry = seal(notice, sequence + 1, previous_hash)
                    rows.append(entry_row(entry))
                    heads[event.chain] = (entry.sequence, entry.hash)
            sequence, previous_hash = heads[event.chain]
            entry = seal(event, sequence + 1, previous_hash)
            rows.append(entry_row(entry))
            heads[event.chain] = (entry.sequence, entry.hash)
            sealed.append(entry)
        if rows:
            await self._connection.execute(custody_entries.insert(), rows)
        for chain, sequence in locked.items():
            last_sequence, last_hash = heads[chain]
            # The lock makes this guard redundant; it is what keeps the chain linear if the
            # lock were ever lost (another isolation level, a hand-written writer).
            moved = await self._connection.execute(
                update(custody_heads)
                .where(custody_heads.c.chain == chain)
                .where(custody_heads.c.last_sequence == sequence)
                .values(last_sequence=last_sequence, last_hash=last_hash)
            )
            if moved.rowcount != 1:
                raise Conflict(f"custody chain {chain!r} moved past {sequence}")
        return sealed

    async def custody(self, chain: str) -> Sequence[CustodyEntry]:
        """Every entry of a chain, in sequence order."""
        query = (
            select(custody_entries)
            .where(custody_entries.c.chain == chain)
            .order_by(custody_entries.c.sequence)
        )
        return [entry_from_row(row) for row in await self._connection.execute(query)]

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
        return [entry_from_row(row) for row in await self._connection.execute(query)]

    async def custody_head(self, chain: str) -> tuple[int, str] | None:
        """The (sequence, hash) of the chain's last entry, as recorded."""
        query = select(custody_heads.c.last_sequence, custody_heads.c.last_hash).where(
            custody_heads.c.chain == chain
        )
        row = (await self._connection.execute(query)).first()
        return None if row is None or row.last_sequence == 0 else (row[0], row[1])

    async def _lock_head(self, chain: str) -> tuple[int, str, bool]:
        """The chain's (last sequence, last hash), locked until the unit ends, and whether this
        unit had to rebuild a missing head row from the chain's last stored entry."""
        locked = (
            select(custody_heads.c.last_sequence, custody_heads.c.last_hash)
            .where(custody_heads.c.chain == chain)
            .with_for_update()  # rendered on PostgreSQL only; SQLite already holds its lock
        )
        row = (await self._connection.execute(locked)).first()
        recovered = False
        if row is None:
            # A new chain starts at GENESIS; a chain whose head row is gone (deleted by hand)
            # continues from its last stored entry, so the case keeps working and says so.
            # A concurrent creator makes this wait for its commit and then do nothing; either
            # way there is a row to lock now.
            last = (
                await self._connection.execute(
                    select(custody_entries.c.sequence, custody_entries.c.hash)
                    .where(custody_entries.c.chain == chain)
                    .order_by(custody_entries.c.sequence.desc())
                    .limit(1)
                )
            ).first()
            start = (0, GENESIS) if last is None else (int(last[0]), str(last[1]))
            inserted = await self._connection.execute(
                self._insert(custody_heads)
                .values(chain=chain, last_sequence=start[0], last_hash=start[1])
                .on_conflict_do_nothing(index_elements=[custody_heads.c.chain])
                .returning(custody_heads.c.chain)
            )
            recovered = last is not None and inserted.first() is not None
            row = (await self._connection.execute(locked)).one()
        return int(row[0]), str(row[1]), recovered

    async def custody_after(self, chain: str, sequence: int) -> Sequence[CustodyEntry]:
        """The chain's entries after `sequence`, in sequence order."""
        query = (
            select(custody_entries)
            .where(custody_entries.c.chain == chain, custody_entries.c.sequence > sequence)
            .order_by(custody_entries.c.sequence)
        )
        return [entry_from_row(row) for row in await self._connection.execute(query)]

    # -- the index of checkpoints taken ----------------------------------------------------

    async def note_checkpoint(
        self, chain: str, sequence: int, entry_hash: str, at: datetime
    ) -> None:
        """Remember that a checkpoint of `chain` at `sequence` was written (once)."""
        await self._connection.execute(
            self._insert(custody_checkpoints)
            .values(chain=chain, sequence=sequence, entry_hash=entry_hash, at=at)
            .on_conflict_do_nothing(
                index_elements=[custody_checkpoints.c.chain, custody_checkpoints.c.sequence]
            )
        )

    async def last_noted_checkpoint(self, chain: str) -> tuple[int, str] | None:
        """The (sequence, entry hash) of the chain's latest noted checkpoint."""
        query = (
            select(custody_checkpoints.c.sequence, custody_checkpoints.c.entry_hash)
            .where(custody_checkpoints.c.chain == chain)
            .order_by(custody_checkpoints.c.sequence.desc())
            .limit(1)
        )
        row = (await self._connection.execute(query)).first()
        return None if row is None else (int(row[0]), str(row[1]))

    async def noted_checkpoints(self, chain: str) -> Sequence[int]:
        """The sequences of every checkpoint noted for the chain, ascending."""
        query = (
            select(custody_checkpoints.c.sequence)
            .where(custody_checkpoints.c.chain == chain)
            .order_by(custody_checkpoints.c.sequence)
        )
        return [int(row[0]) for row in await self._connection.execute(query)]

    async def chains_grown(self, limit: int) -> Sequence[tuple[str, str]]:
        """(case id, region) of case chains whose head is past their latest noted checkpoint."""
        latest = (
            select(
                custody_checkpoints.c.chain,
                func.max(custody_checkpoints.c.sequence).label("sequence"),
            )
            .group_by(custody_checkpoints.c.chain)
            .subquery()
        )
        query = (
            select(cases.c.id, cases.c.region)
            .join(custody_heads, custody_heads.c.chain == cases.c.id)
            .outerjoin(latest, latest.c.chain == cases.c.id)
            .where(custody_heads.c.last_sequence > func.coalesce(latest.c.sequence, 0))
            .order_by(cases.c.id)
            .limit(limit)
        )
        return [(str(row[0]), str(row[1])) for row in await self._connection.execute(query)]

    # -- idempotent intake and refusal tallies ----------------------------------------------

    async def job_by_idempotency_key(self, key: str) -> IntakeJob | None:
        """The job recorded for this idempotency key, if any."""
        query = select(intake_jobs).where(intake_jobs.c.idempotency_key == key)
        row = (await self._connection.execute(query)).first()
        return None if row is None else job_from_row(row)

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

    def _insert(self, table: Table) -> Insert:
        return insert_into(table, self._dialect)
