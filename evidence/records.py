"""The records port: cases, exhibits, intake jobs and custody, kept transactionally.

A `Records` store hands out units of work; everything done through one `RecordsUnit` commits
together or not at all. Exhibit numbers and custody sequences are allocated inside the unit, so
a unit that fails leaves no gap and no half-written entry.

A unit that loses a race with another one is rolled back and raises `Conflict`
(`evidence.errors`); `run_unit(records, work)` runs `work` in a unit and again in a fresh one
after a `Conflict`. Units do not nest: an implementation opens its units in `unit_scope()`,
which refuses a unit inside another and lets `inside_unit()` tell code that must not do slow
work while a unit holds the database's locks.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from evidence.custody import CustodyEntry, CustodyEvent
from evidence.errors import Conflict, ExhibitError
from evidence.jobs import JobRecords
from evidence.model import Case, ChannelBinding, Exhibit, LegalHold
from evidence.shares import Share
from evidence.sweeps import IntegrityAlert, SweepState

logger = logging.getLogger(__name__)

T = TypeVar("T")

UNIT_ATTEMPTS = 5
FIRST_BACKOFF_SECONDS = 0.02

# Set while a task (or a task it started) is inside a unit. A nested unit is a second
# transaction that could wait forever on the first one's locks (always, on SQLite).
_inside_unit: ContextVar[bool] = ContextVar("inside_unit", default=False)


class DuplicateCase(ExhibitError):
    """A case with this reference already exists."""

    def __init__(self, reference: str) -> None:
        super().__init__(reference)
        self.reference = reference


class JobStatus(StrEnum):
    """Where an intake job is."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class IntakeJob:
    """One file to bring in.

    `id` is random (it is also the exhibit's id and names the blob, so it must not be guessable
    from anything a Teams user sees); `idempotency_key` is derived from where the file came from
    (conversation, activity, attachment position), so a redelivered activity finds its job.
    """

    id: str
    case_id: str
    officer_id: str
    officer_name: str
    source_kind: str
    source_url: str
    file_name: str
    declared_type: str
    declared_size: int | None
    status: JobStatus
    attempts: int
    created_at: datetime
    updated_at: datetime
    conversation_reference: str  # JSON, to update the receipt card
    receipt_activity_id: str | None = None
    exhibit_id: str | None = None
    error: str | None = None
    source_details: dict[str, Any] | None = None
    idempotency_key: str | None = None  # None only for jobs recorded before keys existed


class RecordsUnit(JobRecords, Protocol):
    """One transaction's view of the records (background jobs and leases: `JobRecords`)."""

    async def add_case(self, case: Case) -> None:
        """Store a new case; raise `DuplicateCase` if its reference is taken."""
        ...

    async def bind_channel(self, case_id: str, channel: ChannelBinding) -> bool:
        """Bind an unbound case to a channel holding no case; False (nothing changed) if the
        case is already bound or the channel holds another case. `LookupError`: no such case."""
        ...

    async def rename_channel(self, case_id: str, channel_id: str, name: str) -> bool:
        """Store `name` as the display name of the case's channel if the case is still bound to
        `channel_id`; False (nothing changed) otherwise."""
        ...

    async def case_by_id(self, case_id: str) -> Case | None:
        """The case with this id."""
        ...

    async def set_case_hold(
        self, case_id: str, hold: LegalHold | None, *, expected: LegalHold | None
    ) -> bool:
        """Set (or, with None, clear) the case's legal hold if it still stands as `expected`.

        The condition is the hold's `since` (or no hold): a decision taken on a copy another
        unit has changed meanwhile is not applied (False, nothing changed).
        """
        ...

    async def case_by_reference(self, reference: str) -> Case | None:
        """The case with this reference (exact, as stored upper-case)."""
        ...

    async def case_by_channel(self, channel_id: str) -> Case | None:
        """The case bound to this Teams channel."""
        ...

    async def cases(self, limit: int = 500) -> Sequence[Case]:
        """The newest cases first."""
        ...

    async def next_exhibit_number(self, case_id: str, initials: str) -> int:
        """The next number for `initials` in the case: 1, 2, ... gap-free once committed."""
        ...

    async def add_exhibit(self, exhibit: Exhibit) -> None:
        """Store a new exhibit."""
        ...

    async def exhibit_by_id(self, exhibit_id: str) -> Exhibit | None:
        """The exhibit with this id."""
        ...

    async def exhibit_by_ref(self, case_id: str, initials: str, number: int) -> Exhibit | None:
        """The exhibit `initials/number` of the case."""
        ...

    async def exhibits_of(self, case_id: str) -> Sequence[Exhibit]:
        """The case's exhibits, in the order they were recorded."""
        ...

    async def add_job(self, job: IntakeJob) -> bool:
        """Store a new job; False (and nothing changed) if its id or idempotency key exists."""
        ...

    async def job(self, job_id: str) -> IntakeJob | None:
        """The job with this id."""
        ...

    async def jobs_with_receipt(self, receipt_activity_id: str) -> Sequence[IntakeJob]:
        """The jobs announced by one receipt card (any order)."""
        ...

    async def save_job(self, job: IntakeJob) -> None:
        """Replace a job's state."""
        ...

    async def add_share(self, share: Share) -> bool:
        """Store a new share; False (and nothing stored) if its `request_key` is taken."""
        ...

    async def share_by_request_key(self, request_key: str) -> Share | None:
        """The share requested with this key (a form's or a message's), if any."""
        ...

    async def share(self, share_id: str) -> Share | None:
        """The share with this id."""
        ...

    async def share_by_token(self, token_sha256: str) -> Share | None:
        """The share whose link token hashes to `token_sha256`."""
        ...

    async def shares_of(self, case_id: str) -> Sequence[Share]:
        """The case's shares, newest first."""
        ...

    async def update_share(self, share: Share, *, expected: Share) -> bool:
        """Replace a share's state (all but `downloads`) if it still stands as `expected` was read.

        The condition is the status and link token hash of `expected`: a decision or a new link
        worked out from a copy that another unit has changed meanwhile is not applied (False,
        nothing changed), so a race can never undo a decision or revive a revoked link. False
        too if there is no such share. `downloads` only moves through `take_download`.
        """
        ...

    async def shares_due_to_expire(self, now: datetime) -> Sequence[Share]:
        """Approved shares whose link expired at or before `now`, locked until the unit ends."""
        ...

    async def take_download(self, share_id: str, now: datetime) -> Share | None:
        """Count one download if the link is still usable, atomically; None if it is not.

        Usable: approved, `now` before `link_expires_at`, fewer than `max_downloads` taken.
        Concurrent callers can never take more than `max_downloads` between them.
        """
        ...

    async def append_custody(self, event: CustodyEvent) -> CustodyEntry:
        """Seal `event` onto the end of its chain and store it.

        A chain whose head row is missing gets it back from its last stored entry, and a
        `custody.head_recovered` entry saying so is sealed first.
        """
        ...

    async def append_custody_all(self, events: Sequence[CustodyEvent]) -> list[CustodyEntry]:
        """`append_custody` of each event in turn (as one batch: each chain moved once)."""
        ...

    async def custody(self, chain: str) -> Sequence[CustodyEntry]:
        """Every entry of a chain, in sequence order."""
        ...

    async def custody_about(
        self, chain: str, exhibit_ids: Sequence[str], actions: Sequence[str]
    ) -> Sequence[CustodyEntry]:
        """The chain's entries about these exhibits with these actions, in sequence order.

        For views that need a few kinds of entry (reviews) of a long chain, often.
        """
        ...

    async def custody_head(self, chain: str) -> tuple[int, str] | None:
        """The (sequence, hash) of the chain's last entry, as recorded."""
        ...

    async def custody_after(self, chain: str, sequence: int) -> Sequence[CustodyEntry]:
        """The chain's entries after `sequence`, in sequence order."""
        ...

    async def note_checkpoint(
        self, chain: str, sequence: int, entry_hash: str, at: datetime
    ) -> None:
        """Remember that a checkpoint of `chain` at `sequence` was written (once)."""
        ...

    async def last_noted_checkpoint(self, chain: str) -> tuple[int, str] | None:
        """The (sequence, entry hash) of the chain's latest noted checkpoint."""
        ...

    async def noted_checkpoints(self, chain: str) -> Sequence[int]:
        """The sequences of every checkpoint noted for the chain, ascending."""
        ...

    async def chains_grown(self, limit: int) -> Sequence[tuple[str, str]]:
        """(case id, region) of case chains whose head is past their latest noted checkpoint."""
        ...

    async def job_by_idempotency_key(self, key: str) -> IntakeJob | None:
        """The job recorded for this idempotency key, if any."""
        ...

    async def tally_refusal(self, chain: str, actor_id: str, window_start: datetime) -> int:
        """Count one refused attempt by `actor_id` on `chain` in the window; the window's total."""
        ...

    async def refused_attempts(self, chain: str, actor_id: str, since: datetime) -> int:
        """Refused attempts by `actor_id` on `chain` counted in windows starting from `since`."""
        ...

    async def sweep_state(self) -> SweepState | None:
        """The integrity sweep's progress and lease as recorded (None before the first claim)."""
        ...

    async def claim_sweep(self, owner: str, now: datetime, until: datetime) -> SweepState | None:
        """Take or renew the sweep's lease until `until`: if free, expired at `now`, or `owner`'s.

        The state with the lease; None (nothing changed) when another owner holds it. Of
        concurrent claimers exactly one gets it.
        """
        ...

    async def save_sweep(self, state: SweepState, *, expected: SweepState) -> bool:
        """Save the sweep's progress (and lease expiry) if still as `expected` was read.

        The condition is `expected`'s lease owner, pass id and cursor: False, nothing changed,
        when another worker has taken the lease or moved the pass on meanwhile.
        """
        ...

    async def release_sweep(self, owner: str) -> None:
        """Give the sweep's lease up, if `owner` holds it; the progress stays."""
        ...

    async def exhibit_after(self, exhibit_id: str | None) -> Exhibit | None:
        """The exhibit after `exhibit_id` in id order over every case (the first, with None)."""
        ...

    async def add_integrity_alert(self, alert: IntegrityAlert) -> None:
        """Keep a new integrity alert until it has been posted everywhere it should go."""
        ...

    async def open_integrity_alerts(self, limit: int = 10) -> Sequence[IntegrityAlert]:
        """Integrity alerts still to be posted somewhere, oldest first."""
        ...

    async def save_integrity_alert(self, alert: IntegrityAlert) -> None:
        """Record where an alert is still to go (`pending`) and how often it was tried."""
        ...


class Records(Protocol):
    """Where records are kept (SQL)."""

    def unit(self) -> AbstractAsyncContextManager[RecordsUnit]:
        """A unit of work: commits on normal exit, rolls back on an exception.

        Raises `Conflict` when the unit lost a race and was rolled back (run it again: see
        `run_unit`), `RuntimeError` when opened inside another unit (see `unit_scope`).
        """
        ...

    def read_unit(self) -> AbstractAsyncContextManager[RecordsUnit]:
        """A unit that only reads: one consistent snapshot, taking no write lock, so it does
        not queue behind writers. Nothing may be written through it (PostgreSQL refuses)."""
        ...

    async def append_grouped(self, event: CustodyEvent) -> CustodyEntry:
        """Seal `event` onto its chain, outside any unit, in a commit shared with whoever
        appends at the same moment; return once it is committed (durable).

        Entries of one chain keep the order of the calls. Raises what the commit raised (after
        retries of a lost race), `RuntimeError` when called inside a unit.
        """
        ...


def inside_unit() -> bool:
    """Whether the running task is inside a unit of work (and so may hold the write lock)."""
    return _inside_unit.get()


@contextmanager
def unit_scope() -> Iterator[None]:
    """Mark the running task as inside a unit; `RuntimeError` if it already is."""
    if _inside_unit.get():
        raise RuntimeError("a records unit was opened inside another one")
    entered = _inside_unit.set(True)
    try:
        yield
    finally:
        _inside_unit.reset(entered)


async def run_unit(
    records: Records, work: Callable[[RecordsUnit], Awaitable[T]], attempts: int = UNIT_ATTEMPTS
) -> T:
    """Run `work` in a unit of `records`, again in a fresh unit after a `Conflict`.

    `work` may run more than once: it should do nothing but records calls. Waits a random,
    doubling delay between attempts; the last attempt's `Conflict` propagates.
    """
    delay = FIRST_BACKOFF_SECONDS
    for attempt in range(1, attempts):
        try:
            return await _run_once(records, work)
        except Conflict as conflict:
            logger.info("Unit conflict (%s), attempt %d of %d", conflict.reason, attempt, attempts)
        await asyncio.sleep(random.uniform(0, delay))  # noqa: S311 (jitter, not a secret)
        delay *= 2
    return await _run_once(records, work)


class _ReadUnits:
    """`records` whose units are read units."""

    def __init__(self, records: Records) -> None:
        self._records = records

    def unit(self) -> AbstractAsyncContextManager[RecordsUnit]:
        return self._records.read_unit()

    def read_unit(self) -> AbstractAsyncContextManager[RecordsUnit]:
        return self._records.read_unit()

    async def append_grouped(self, event: CustodyEvent) -> CustodyEntry:
        return await self._records.append_grouped(event)


def reading(records: Records) -> Records:
    """`records` handing out read units from `unit()` (for `run_unit` and its callers)."""
    return _ReadUnits(records)


async def _run_once(records: Records, work: Callable[[RecordsUnit], Awaitable[T]]) -> T:
    async with records.unit() as unit:
        result = await work(unit)
    return result


CHAIN_READS = 5


async def read_chain(
    unit: RecordsUnit, chain: str, after: int = 0
) -> tuple[list[CustodyEntry], tuple[int, str] | None]:
    """The chain's entries (those after sequence `after`) and its head row, as of one moment.

    They take several statements, and a unit on PostgreSQL (READ COMMITTED) sees in each what
    had committed before it: another instance appending between the entries and the head would
    make the head look ahead of the last entry, which is what entries deleted from the end look
    like. An append moves the head in the transaction that adds the entry, so the entries are
    read first, and while the head is ahead the entries after the last one read are read too.
    A head still ahead after a few rounds, or one behind the entries, is reported as it is.
    """
    entries = list(await (unit.custody_after(chain, after) if after else unit.custody(chain)))
    head = await unit.custody_head(chain)
    for _ in range(CHAIN_READS):
        last = entries[-1].sequence if entries else after
        if head is None or head[0] <= last:
            break
        entries += await unit.custody_after(chain, last)
        head = await unit.custody_head(chain)
    return entries, head
