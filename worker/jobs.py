"""The background job runner: claims durable jobs from the records and runs them.

Every process that runs it (`python -m exhibit` with the worker on, and `python -m exhibit
worker`) takes part: a job is claimed by one runner with a lease (see `evidence.jobs`), the
lease is renewed while the work runs, and the job is finished only while the lease is still
held. A runner that dies leaves its job's lease to expire; another claims it then, counting
an attempt. Work that raises is given back to the queue with a backoff; at the attempts limit
(or when a job keeps being claimed by runners that die) it fails and the officer who asked is
told. A lost lease is noticed at the next renewal: the work is cancelled and records nothing
more (its own state changes are conditional anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from evidence.errors import ExhibitError
from evidence.jobs import Job, JobState, PayloadValue, new_job
from evidence.records import Records, RecordsUnit, run_unit
from worker.integrity import new_owner
from worker.pacing import Clock

logger = logging.getLogger(__name__)

JobWork = Callable[[Job], Awaitable[str]]  # runs the job; a short outcome code
FailureNotice = Callable[[Job], Awaitable[None]]  # tells the officer their job failed
TELL_ATTEMPTS = 3  # claims past the limit spent on telling the officer, before giving up on that


@dataclass(frozen=True, slots=True)
class JobOptions:
    """How jobs are run."""

    lease: timedelta = timedelta(seconds=120)
    max_attempts: int = 3
    concurrency: int = 2
    poll_seconds: float = 5.0  # how often an idle runner looks for jobs others queued
    backoff: timedelta = timedelta(seconds=30)  # times the attempt number, before a retry


@dataclass(slots=True)
class _Progress:
    busy: int = 0  # lanes claiming or running a job
    wakes: int = 0  # times the runner was woken
    settled_at: int = -1  # the wake count as of the last claim that found nothing, none busy
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class JobRunner:
    """Claims and runs background jobs; see the module."""

    def __init__(
        self,
        records: Records,
        options: JobOptions,
        *,
        owner: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._records = records
        self._options = options
        self.owner = owner or new_owner()
        self._clock = clock or Clock()
        self._work: dict[str, JobWork] = {}
        self._notice: FailureNotice | None = None
        self._progress = _Progress()

    def register(self, kind: str, work: JobWork) -> None:
        """Run jobs of `kind` with `work`."""
        self._work[kind] = work

    def on_failure(self, notice: FailureNotice) -> None:
        """Tell the officer with `notice` when a job of theirs fails for good."""
        self._notice = notice

    @property
    def kinds(self) -> Mapping[str, JobWork]:
        """The kinds this runner can run."""
        return dict(self._work)

    async def submit(
        self,
        kind: str,
        dedupe_key: str,
        payload: Mapping[str, PayloadValue],
        *,
        officer_id: str,
        reference: str,
        note: str | None = None,
    ) -> tuple[Job, bool]:
        """Queue a job; `(job, True)`, or `(the unfinished job with that key, False)`.

        A runner in this process starts on it at once; runners elsewhere find it when they next
        look.
        """
        job = new_job(
            kind,
            dedupe_key,
            payload,
            officer_id=officer_id,
            reference=reference,
            note=note,
            now=self._clock.now(),
        )
        added = await run_unit(self._records, lambda unit: unit.add_background_job(job))
        if added[1]:
            self.wake()
        return added

    def wake(self) -> None:
        """Look for jobs now rather than at the next poll."""
        self._progress.wakes += 1
        self._progress.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Run jobs until `stop` is set (`concurrency` at a time); a job still running then is
        cancelled and its lease left to expire, so another runner takes it over."""
        lanes = [
            asyncio.create_task(self._lane(stop)) for _ in range(max(1, self._options.concurrency))
        ]
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([stopping, *lanes], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            for lane in lanes:
                lane.cancel()
            await asyncio.gather(stopping, *lanes, return_exceptions=True)

    async def settle(self) -> None:
        """Until a claim begun after this call found no job with none running here (tests;
        needs `run` going). Jobs waiting for a retry's backoff are not waited for."""
        progress = self._progress
        self.wake()
        target = progress.wakes
        while progress.settled_at < target:
            progress.settled.clear()
            await progress.settled.wait()

    async def _lane(self, stop: asyncio.Event) -> None:
        progress = self._progress
        while not stop.is_set():
            seen = progress.wakes
            progress.busy += 1
            try:
                ran = await self.step()
            except Exception:  # the database is down: try again at the next poll
                logger.exception("Background job runner could not claim a job")
                ran = False
            finally:
                progress.busy -= 1
            if ran or progress.wakes != seen:  # woken meanwhile: a job may have come in
                continue
            if progress.busy == 0:
                progress.settled_at = seen
                progress.settled.set()
            progress.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(progress.wake.wait(), self._options.poll_seconds)

    async def step(self) -> bool:
        """Claim one job and run it to its end here; False when there was none to claim."""
        now = self._clock.now()
        until = now + self._options.lease
        owner = self.owner
        job = await run_unit(
            self._records, lambda unit: unit.claim_background_job(owner, now, until)
        )
        if job is None:
            return False
        if job.attempts > self._options.max_attempts:
            # Claimed again after runners died holding it: give up rather than die again.
            await self._give_up(job, "gave up: no runner finished it")
            return True
        work = self._work.get(job.kind)
        if work is None:
            await self._give_up(job, f"no work for kind {job.kind}")
            return True
        outcome = await self._leased(job, work)
        if outcome is None:
            return True
        if isinstance(outcome, BaseException):
            logger.warning(
                "Background job %s (%s) attempt %d failed: %s",
                job.id,
                job.kind,
                job.attempts,
                type(outcome).__name__,
                exc_info=outcome if not isinstance(outcome, ExhibitError) else None,
            )
            if job.attempts >= self._options.max_attempts:
                await self._give_up(job, f"failed: {type(outcome).__name__}")
            else:
                await self._retry(job)
            return True
        await self._finish(job, JobState.DONE, outcome)
        return True

    async def _leased(self, job: Job, work: JobWork) -> str | BaseException | None:
        """Run `work` while renewing the lease; its outcome, its error, or None if the lease
        was lost (the work then cancelled)."""

        async def working() -> str:
            return await work(job)

        task = asyncio.create_task(working())
        renewing = asyncio.create_task(self._renew(job))
        try:
            await asyncio.wait([task, renewing], return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the runner stops: the lease is left to expire
            task.cancel()
            renewing.cancel()
            raise
        if not task.done():  # renewing ended: the lease was lost
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            logger.warning("Background job %s: lease lost; another runner has it", job.id)
            return None
        renewing.cancel()
        await asyncio.gather(renewing, return_exceptions=True)
        error = task.exception()
        return error if error is not None else task.result()

    async def _renew(self, job: Job) -> None:
        """Renew the lease every third of its length; return when it was lost."""
        every = self._options.lease.total_seconds() / 3
        while True:
            await self._clock.sleep(every)
            now = self._clock.now()
            until = now + self._options.lease
            try:
                held = await run_unit(self._records, functools.partial(_renew, job, until, now))
            except Exception:  # the database did not answer: try again before the lease ends
                logger.warning("Background job %s: lease not renewed this time", job.id)
                continue
            if not held:
                return

    async def _retry(self, job: Job) -> None:
        now = self._clock.now()
        due = now + self._options.backoff * job.attempts
        given = await run_unit(self._records, lambda unit: unit.retry_background_job(job, due, now))
        if not given:
            logger.warning("Background job %s: lease lost before it was given back", job.id)

    async def _give_up(self, job: Job, outcome: str) -> None:
        """Tell the officer, then record the job as failed. If telling fails, the job stays
        claimed until its lease expires and telling is tried again, a few times."""
        if self._notice is not None:
            try:
                await self._notice(job)
            except Exception as err:
                if job.attempts < self._options.max_attempts + TELL_ATTEMPTS:
                    logger.warning(
                        "Background job %s: officer not told (%s); tried again later",
                        job.id,
                        type(err).__name__,
                    )
                    return
                logger.error("Background job %s failed and the officer could not be told", job.id)
        logger.warning("Background job %s (%s) %s", job.id, job.kind, outcome)
        await self._finish(job, JobState.FAILED, outcome)

    async def _finish(self, job: Job, state: JobState, outcome: str) -> None:
        now = self._clock.now()
        done = await run_unit(
            self._records, lambda unit: unit.finish_background_job(job, state, outcome, now)
        )
        if not done:
            logger.warning("Background job %s: lease lost before it was finished", job.id)


async def _renew(job: Job, until: datetime, now: datetime, unit: RecordsUnit) -> bool:
    return await unit.renew_background_job(job, until, now)
