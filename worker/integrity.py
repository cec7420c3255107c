"""The integrity sweep: every exhibit of every case re-hashed, once per period, within a budget.

One `step` checks at most one exhibit: it takes (or renews) the sweep's lease in the records,
posts any alert still waiting, starts a pass when one is due, re-hashes the next exhibit in id
order (paced: the sweep sleeps so its reads stay under the bytes-per-second budget, renewing
the lease while it reads), and then, in one unit, moves the pass's cursor on — only if the
lease, pass and cursor are still as read — and records the result in the case's chain
(`exhibit.verified` by Exhibit, with the pass id) and, on a mismatch, an alert to post. A
worker that crashes leaves the cursor after the last exhibit recorded; whoever holds the lease
next resumes there, and nothing is recorded twice. `run` repeats steps until stopped, then
gives the lease up.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from evidence.anchoring import Anchoring
from evidence.custody import SYSTEM_ACTOR
from evidence.errors import BlobMissing, EvidenceStoreError, StoreUnavailable
from evidence.exhibits import Verification, compare, record_verification
from evidence.model import Case, Exhibit
from evidence.ports import EvidenceStore
from evidence.records import Records, RecordsUnit, run_unit
from evidence.stored_blob import StoredBlob
from evidence.sweeps import AlertTarget, IntegrityAlert, SweepState
from storage.telemetry import integrity_failures
from worker.pacing import Clock, Pacer
from worker.ports import IntegrityAlerts

logger = logging.getLogger(__name__)

RETRY_SECONDS = 60.0  # after a step failed (storage or database down)
ALERTS_PER_STEP = 10  # waiting alerts posted per step, oldest first


@dataclass(frozen=True, slots=True)
class SweepOptions:
    """How fast and how often the sweep runs, and how long its lease lasts unrenewed."""

    bytes_per_second: int
    period: timedelta
    lease: timedelta


@dataclass(frozen=True, slots=True)
class SweepParts:
    """What the sweep works with, built by the composition root."""

    records: Records
    store: EvidenceStore
    alerts: IntegrityAlerts
    anchoring: Anchoring  # the chain each exhibit is compared with, checked against checkpoints
    clock: Clock = field(default_factory=Clock)


class Outcome(StrEnum):
    """What one step did."""

    CHECKED = "checked"  # one exhibit re-hashed and its result recorded
    FINISHED = "finished"  # the pass had no exhibit left and is recorded as finished
    IDLE = "idle"  # no pass is due yet
    BUSY = "busy"  # another worker holds the lease (or took it meanwhile)
    UNAVAILABLE = "unavailable"  # storage did not answer: nothing recorded, tried again later


@dataclass(frozen=True, slots=True)
class Step:
    """One step's outcome, and how long to wait before the next (seconds)."""

    outcome: Outcome
    wait: float = 0.0
    exhibit_id: str | None = None
    matches: bool | None = None
    pass_id: str | None = None


class LeaseLost(Exception):
    """Another worker holds the sweep's lease now: stop working on the pass."""


def new_owner() -> str:
    """A lease owner name for this process: unique, and naming no person."""
    return f"worker-{os.getpid()}-{uuid.uuid4().hex[:12]}"


class IntegritySweep:
    """Re-hashes every exhibit once per period, one worker at a time; see the module."""

    def __init__(self, parts: SweepParts, options: SweepOptions, *, owner: str | None = None):
        self._parts = parts
        self._options = options
        self.owner = owner or new_owner()
        self.pacer = Pacer(options.bytes_per_second, parts.clock)
        self._renewed: datetime | None = None

    @property
    def alerts(self) -> IntegrityAlerts:
        """Where mismatches are posted."""
        return self._parts.alerts

    async def step(self) -> Step:
        """Check at most one exhibit (see the module); never sleeps but to pace its reads."""
        records, clock = self._parts.records, self._parts.clock
        now = clock.now()
        state = await self._claim(now)
        if state is None:
            return Step(Outcome.BUSY, wait=self._lease_seconds / 2)
        await self.post_waiting_alerts()
        if not state.running:
            if not state.due(now, self._options.period):
                due = state.next_due(self._options.period)
                until_due = (due - now).total_seconds() if due else 0.0
                return Step(Outcome.IDLE, wait=max(1.0, min(self._lease_seconds / 3, until_due)))
            state = await self._start_pass(state, now)
            if state is None:
                return Step(Outcome.BUSY, wait=self._lease_seconds / 2)
        current = state
        exhibit = await run_unit(records, lambda unit: unit.exhibit_after(current.cursor))
        if exhibit is None:
            return await self._finish(current)
        try:
            result = await self._verify(exhibit)
        except LeaseLost:
            return Step(Outcome.BUSY, wait=self._lease_seconds / 2)
        except StoreUnavailable as err:
            logger.warning(
                "Integrity sweep: storage of exhibit %s did not answer (%s); tried again later",
                exhibit.id,
                type(err).__name__,
            )
            return Step(Outcome.UNAVAILABLE, wait=RETRY_SECONDS, pass_id=current.pass_id)
        return await self._record(current, exhibit, result)

    async def run(self, stop: asyncio.Event) -> None:
        """Step until `stop` is set (or the task is cancelled), then give the lease up."""
        try:
            while not stop.is_set():
                try:
                    wait = (await self.step()).wait
                except Exception:  # the next step tries again; the cursor did not move
                    logger.exception("Integrity sweep step failed")
                    wait = RETRY_SECONDS
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), wait)
        finally:
            await self.release()

    async def release(self) -> None:
        """Give the lease up (if held), so another worker can take over at once."""
        try:
            await run_unit(self._parts.records, lambda unit: unit.release_sweep(self.owner))
        except Exception as err:  # it expires on its own
            logger.warning("Integrity sweep lease not released: %s", type(err).__name__)
        self._renewed = None

    async def post_waiting_alerts(self) -> None:
        """Post the alerts not yet delivered everywhere; each failure is kept for next time."""
        records = self._parts.records

        async def waiting(unit: RecordsUnit) -> list[tuple[IntegrityAlert, Case | None]]:
            alerts = await unit.open_integrity_alerts(ALERTS_PER_STEP)
            return [(alert, await unit.case_by_id(alert.case_id)) for alert in alerts]

        for alert, case in await run_unit(records, waiting):
            left = set(alert.pending)
            if case is not None:
                for target in sorted(alert.pending):
                    try:
                        await self._parts.alerts.post(alert, case, target)
                    except Exception as err:  # kept, and tried again at the next step
                        logger.warning(
                            "Integrity alert %s not posted to the %s (attempt %d): %s",
                            alert.id,
                            target,
                            alert.attempts + 1,
                            type(err).__name__,
                        )
                    else:
                        left.discard(target)
            tried = replace(alert, pending=frozenset(left), attempts=alert.attempts + 1)
            await run_unit(records, functools.partial(_save_alert, alert=tried))

    @property
    def _lease_seconds(self) -> float:
        return self._options.lease.total_seconds()

    async def _claim(self, now: datetime) -> SweepState | None:
        until = now + self._options.lease
        state = await run_unit(
            self._parts.records, lambda unit: unit.claim_sweep(self.owner, now, until)
        )
        if state is not None:
            self._renewed = now
        return state

    async def _start_pass(self, state: SweepState, now: datetime) -> SweepState | None:
        started = replace(
            state,
            pass_id=f"P-{now:%Y%m%d}-{uuid.uuid4().hex[:8].upper()}",
            started_at=now,
            cursor=None,
            finished_at=None,
            checked=0,
            mismatches=0,
            bytes_read=0,
        )
        if not await run_unit(
            self._parts.records, lambda unit: unit.save_sweep(started, expected=state)
        ):
            return None
        logger.info("Integrity sweep pass %s started", started.pass_id)
        return started

    async def _finish(self, state: SweepState) -> Step:
        finished = replace(state, finished_at=self._parts.clock.now())
        if not await run_unit(
            self._parts.records, lambda unit: unit.save_sweep(finished, expected=state)
        ):
            return Step(Outcome.BUSY, wait=self._lease_seconds / 2)
        logger.info(
            "Integrity sweep pass %s finished: %d exhibit(s), %d mismatch(es), %d bytes read",
            state.pass_id,
            state.checked,
            state.mismatches,
            state.bytes_read,
        )
        return Step(Outcome.FINISHED, pass_id=state.pass_id)

    async def _verify(self, exhibit: Exhibit) -> Verification:
        """Re-hash the exhibit's blob, paced, renewing the lease; compared as everywhere else."""
        read = 0

        async def progress(total: int) -> None:
            nonlocal read
            await self.pacer.read(total - read)
            read = total
            await self._keep_lease()

        case = await run_unit(self._parts.records, lambda unit: unit.case_by_id(exhibit.case_id))
        if case is None:  # an exhibit always has its case
            raise LookupError(exhibit.case_id)
        check = await self._parts.anchoring.check(case)
        stored: StoredBlob | None
        try:
            stored = await self._parts.store.rehash(
                exhibit.region, exhibit.blob_name, on_progress=progress
            )
        except BlobMissing:
            return compare(exhibit, None, check=check)
        except StoreUnavailable:
            raise
        except EvidenceStoreError as err:  # refused or unrecognised: it cannot be vouched for
            problem = f"the stored file cannot be read ({type(err).__name__})"
            return compare(exhibit, None, problem, check=check)
        return compare(exhibit, stored, check=check)

    async def _keep_lease(self) -> None:
        """Renew the lease a third of the way through it; `LeaseLost` if someone else has it."""
        now = self._parts.clock.now()
        if self._renewed is not None and now - self._renewed < self._options.lease / 3:
            return
        if await self._claim(now) is None:
            raise LeaseLost

    async def _record(self, state: SweepState, exhibit: Exhibit, result: Verification) -> Step:
        now = self._parts.clock.now()
        pass_id = state.pass_id
        assert pass_id is not None  # noqa: S101 (a running pass has an id)
        moved = replace(
            state,
            cursor=exhibit.id,
            checked=state.checked + 1,
            mismatches=state.mismatches + (0 if result.matches else 1),
            bytes_read=state.bytes_read + (result.stored.size if result.stored else 0),
            lease_expires_at=now + self._options.lease,
        )
        expected = replace(state, lease_owner=self.owner)

        async def record(unit: RecordsUnit) -> bool:
            if not await unit.save_sweep(moved, expected=expected):
                return False
            case = await unit.case_by_id(exhibit.case_id)
            if case is None:  # an exhibit always has its case; never record half a result
                raise LookupError(exhibit.case_id)
            await record_verification(unit, SYSTEM_ACTOR, case, result, now=now, pass_id=pass_id)
            if not result.matches:
                await unit.add_integrity_alert(
                    _alert(pass_id, exhibit, result, now, self._parts.alerts.targets(case))
                )
            return True

        if not await run_unit(self._parts.records, record):
            return Step(Outcome.BUSY, wait=self._lease_seconds / 2)
        self._renewed = now
        if not result.matches:
            integrity_failures.add(1, {"exhibit.found_by": "sweep"})
            logger.error(
                "Integrity sweep pass %s: exhibit %s does not match its intake record (%s)",
                pass_id,
                exhibit.id,
                result.problem,
            )
            await self.post_waiting_alerts()
        return Step(Outcome.CHECKED, exhibit_id=exhibit.id, matches=result.matches, pass_id=pass_id)


async def _save_alert(unit: RecordsUnit, *, alert: IntegrityAlert) -> None:
    await unit.save_integrity_alert(alert)


def _alert(
    pass_id: str,
    exhibit: Exhibit,
    result: Verification,
    now: datetime,
    targets: frozenset[AlertTarget],
) -> IntegrityAlert:
    if not targets:
        logger.error(
            "Integrity alert for exhibit %s has nowhere to go: the case has no channel and no "
            "security channel is set (EXHIBIT_SECURITY_CHANNEL_ID)",
            exhibit.id,
        )
    return IntegrityAlert(
        id=f"A-{uuid.uuid4().hex[:12].upper()}",
        pass_id=pass_id,
        case_id=exhibit.case_id,
        exhibit_id=exhibit.id,
        exhibit_ref=str(exhibit.ref),
        region=exhibit.region,
        expected_sha256=result.exhibit.sha256,
        expected_size=result.exhibit.size,
        found_sha256=result.stored.sha256 if result.stored else None,
        found_size=result.stored.size if result.stored else None,
        problem=result.problem or "the stored file does not match",
        found_at=now,
        pending=targets,
    )
