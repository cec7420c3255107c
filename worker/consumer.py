"""The ingest worker: queue message -> source -> SHA-256 -> regional blob -> exhibit -> card.

Runs inside the bot process by default, or alone (`python -m exhibit worker`) when scaled out.
A job is safe to run again at every step: the blob name is the job's, the commit is
create-only, and recording the exhibit happens once per job. While it works, the worker keeps
its queue message invisible; if it dies, the message reappears and another worker resumes.

A worker runs `concurrency` jobs at once, and at most `slots_per_officer` of them for one
officer: a job over that is put back on the queue for `busy_delay_seconds` (not failed, not an
attempt), so one officer's slow downloads never hold every slot; when one of that officer's
jobs ends, the worker makes one put-back message visible again at once, so an officer alone on
the queue loses little time. A source that sends too
slowly is cut by the download itself (`SourceTooSlow`); the job is tried once more, in case the
network was to blame, and then fails: a drip is far more likely broken or hostile than passing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import replace

from opentelemetry import trace

from evidence.errors import (
    BlobExists,
    EvidenceRefused,
    ExhibitError,
    SourceTooSlow,
    StoreRejected,
    Transient,
)
from evidence.file_names import sanitize_file_name
from evidence.file_types import detect_type
from evidence.intake import Received, complete_intake, fail_intake
from evidence.model import Case, Exhibit, SourceKind
from evidence.records import IntakeJob, JobStatus, RecordsUnit, run_unit
from evidence.stored_blob import StoredBlob
from storage.queue import Lease, QueueUnavailable
from storage.telemetry import span
from worker.options import WorkerOptions
from worker.ports import JobFailure, JobReports, SourceOpener, WorkerParts
from worker.telemetry import ingest_bytes, job_duration, tracer

logger = logging.getLogger(__name__)

HEAD_BYTES = 4096
PROGRESS_EVERY_SECONDS = 3.0
SLOW_SOURCE_ATTEMPTS = 2  # a source cut for sending too slowly is tried once more, no more


class Permanent(Exception):
    """A failure that trying again will not fix; `failure` says why, for the officer."""

    def __init__(self, failure: JobFailure) -> None:
        super().__init__(type(failure.error).__name__ if failure.error else "permanent")
        self.failure = failure


class IntakeWorker:
    """Takes intake jobs off the queue and sees each through."""

    def __init__(
        self,
        parts: WorkerParts,
        sources: SourceOpener,
        options: WorkerOptions | None = None,
    ) -> None:
        self._parts = parts
        self._records = parts.records
        self._queue = parts.queue
        self._store = parts.store
        self._reports = parts.reports
        self._sources = sources
        self._options = options or WorkerOptions()
        self._running: Counter[str] = Counter()  # jobs under way, by officer
        self._put_back: dict[str, deque[tuple[Lease, float]]] = {}  # by officer, with when
        self._wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set."""
        slots = asyncio.Semaphore(self._options.concurrency)
        running: set[asyncio.Task[None]] = set()
        relay = asyncio.create_task(self._wake_on(stop))
        while not stop.is_set():
            await slots.acquire()
            try:
                leases = await self._queue.receive(hold_seconds=self._options.hold_seconds)
            except QueueUnavailable as err:
                logger.warning("Ingest queue unavailable: %s", type(err).__name__)
                leases = []
            if not leases:
                slots.release()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._options.poll_seconds)
                self._wake.clear()
                continue
            task = asyncio.create_task(self._guarded(leases[0], slots))
            running.add(task)
            task.add_done_callback(running.discard)
        relay.cancel()
        await self._drain(running)
        await asyncio.gather(relay, return_exceptions=True)

    async def _drain(self, running: set[asyncio.Task[None]]) -> None:
        """Let the jobs under way finish for `drain_seconds`; put the rest back on the queue."""
        if not running:
            logger.info("Ingest worker drained: no job under way")
            return
        under_way = set(running)  # `running` shrinks as jobs end
        logger.info("Ingest worker draining: %d job(s) under way", len(under_way))
        _done, late = await asyncio.wait(under_way, timeout=self._options.drain_seconds)
        for task in late:
            task.cancel()  # process() puts the job's message back before it ends
        await asyncio.gather(*late, return_exceptions=True)
        logger.info("Ingest worker drained: %d finished, %d put back", len(under_way) - len(late),
                    len(late))  # fmt: skip

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    async def _guarded(self, lease: Lease, slots: asyncio.Semaphore) -> None:
        officer: str | None = None
        try:
            officer = await self._take_officer_slot(lease)
            if officer is not None:
                await self.process(lease)
        except Exception:  # one job's failure must never stop the worker
            logger.exception("Job %s could not be processed", lease.job_id)
        finally:
            if officer:
                self._running[officer] -= 1
                await self._bring_back(officer)
            slots.release()

    async def _take_officer_slot(self, lease: Lease) -> str | None:
        """The job's officer, now counted as running one more job; None when they are at the
        cap, in which case the message goes back to the queue for a while, untouched."""
        job = await run_unit(self._records, lambda unit: unit.job(lease.job_id))
        officer = job.officer_id if job is not None else ""
        # No await between the check and the count: concurrent jobs cannot both pass.
        if officer and self._running[officer] >= self._options.officer_cap:
            logger.info("Job %s waits: its officer has every slot allowed", lease.job_id)
            with contextlib.suppress(QueueUnavailable):
                held = await self._queue.extend(lease, self._options.busy_delay_seconds)
                waiting = self._put_back.setdefault(officer, deque(maxlen=16))
                waiting.append((held, time.monotonic()))
            return None
        if officer:
            self._running[officer] += 1
        return officer

    async def _bring_back(self, officer: str) -> None:
        """Make one of `officer`'s put-back messages visible now: a slot of theirs is free."""
        waiting = self._put_back.get(officer)
        while waiting:
            lease, since = waiting.popleft()
            if time.monotonic() - since >= self._options.busy_delay_seconds:
                continue  # visible again by itself (and perhaps taken since)
            try:
                await self._queue.extend(lease, 0)
            except QueueUnavailable:
                continue  # its receipt is stale: another worker has it, or it was put back anew
            self._wake.set()
            break
        if not waiting:
            self._put_back.pop(officer, None)

    async def process(self, lease: Lease) -> None:
        """See one job through, or leave its message for a later attempt; in an
        `exhibit.intake.job` span (attempt, bytes, outcome code)."""
        started = time.monotonic()
        with span(tracer, "exhibit.intake.job") as current:
            outcome = await self._process(lease)
            current.set_attribute("exhibit.outcome", outcome)
        job_duration.record(time.monotonic() - started, {"exhibit.outcome": outcome})

    async def _process(self, lease: Lease) -> str:
        records = self._records
        now = self._parts.now()

        async def claim(unit: RecordsUnit) -> tuple[IntakeJob | None, Case | None]:
            # Read, check and mark running in one unit: a run that finished meanwhile is
            # never overwritten by a stale copy.
            found, case = await _job_and_case(unit, lease.job_id)
            if found is None or case is None or found.status in _DONE:
                return found, case
            running = replace(
                found, status=JobStatus.RUNNING, attempts=found.attempts + 1, updated_at=now
            )
            await unit.save_job(running)
            return running, case

        job, case = await run_unit(records, claim)
        if job is None or case is None:
            logger.warning("Message for unknown job %s dropped", lease.job_id)
            await self._queue.delete(lease)
            return "dropped"
        if job.status in _DONE:
            await self._queue.delete(lease)
            return "done_already"
        trace.get_current_span().set_attribute("exhibit.job.attempt", job.attempts)
        held = _Held(lease)
        keeper = asyncio.create_task(self._keep_invisible(held))
        failure: BaseException | None = None
        exhibit: Exhibit | None = None
        interrupted = False
        try:
            exhibit = await self._ingest(job, case)
        except asyncio.CancelledError:
            interrupted = True
            raise
        except Exception as err:  # judged below, once the lease is no longer being extended
            failure = err
        finally:
            # Stopped, not cancelled: an extension already sent must be seen through, or the
            # message's newest pop receipt would be lost.
            held.stop.set()
            await keeper
            if interrupted:
                await self._put_back_now(held.lease)
        # Extending the lease changes its pop receipt: act on the message with the newest.
        lease = held.lease
        if isinstance(failure, Permanent):
            await self._fail(job, case, failure.failure)
            await self._queue.delete(lease)
            return "failed"
        if failure is not None:  # anything else may be passing: try again, within limits
            reason = self._reports.failure_reason(JobFailure(error=failure))
            if job.attempts >= self._options.max_attempts:
                await self._fail(job, case, JobFailure(error=failure, attempts=job.attempts))
                await self._queue.delete(lease)
                return "failed"
            delay = min(300, self._options.backoff_seconds * 2 ** (job.attempts - 1))
            logger.warning("Job %s attempt %d failed (%s); again in %d s",
                           job.id, job.attempts, reason, delay,
                           exc_info=not isinstance(failure, ExhibitError))  # fmt: skip
            with contextlib.suppress(QueueUnavailable):
                await self._queue.retry_later(lease, delay)
            return "retry"
        logger.info("Job %s recorded as exhibit %s", job.id, exhibit.id if exhibit else None)
        await self._reports.job_changed(job, case)
        await self._queue.delete(lease)
        return "recorded"

    async def _put_back_now(self, lease: Lease) -> None:
        """The worker is stopping mid-job: make the message visible again at once, so another
        worker resumes now rather than when the hold runs out (the job is safe to run again)."""
        try:
            await self._queue.extend(lease, 0)
        except QueueUnavailable:
            logger.warning("Job %s not put back; it returns when its hold ends", lease.job_id)
            return
        logger.info("Job %s put back on the queue: the worker is stopping", lease.job_id)

    async def _ingest(self, job: IntakeJob, case: Case) -> Exhibit:
        limit = self._options.max_file_bytes
        if job.declared_size is not None and job.declared_size > limit:
            raise Permanent(JobFailure(size_limit=limit))
        try:
            download = await self._sources.open(job)
        except ExhibitError as err:
            if self._may_retry(err, job):
                raise
            raise Permanent(JobFailure(error=err)) from err
        head = bytearray()

        async def chunks() -> AsyncIterator[bytes]:
            async for chunk in download.chunks():
                if len(head) < HEAD_BYTES:
                    head.extend(chunk[: HEAD_BYTES - len(head)])
                yield chunk

        blob_name = f"{case.id}/{job.id}"
        declared = job.declared_type or download.content_type or "application/octet-stream"
        stored_name = sanitize_file_name(job.file_name)
        if job.declared_size is None and download.declared_size is not None:
            job = replace(job, declared_size=download.declared_size)
        progress = _Progress(self._reports, job, case)  # with the size the source declared
        try:
            stored = await self._store.put(
                case.region,
                blob_name,
                chunks(),
                content_type=declared,
                metadata={"case": case.id, "job": job.id},
                tags={"case": case.reference, "job": job.id},
                quick_xor=job.source_kind == SourceKind.SHAREPOINT.value,
                max_size=limit,
                on_progress=progress.report,
            )
            ingest_bytes.add(stored.size)
            detected = detect_type(bytes(head))
        except BlobExists:
            # A previous attempt committed the blob and died before recording it.
            existing = await self._store.describe(case.region, blob_name)
            if existing is None:
                raise
            stored = existing
            detected = detect_type(await self._head_of(case.region, blob_name))
        except (EvidenceRefused, StoreRejected) as err:
            raise Permanent(JobFailure(error=err)) from err
        except ExhibitError as err:
            if self._may_retry(err, job):
                raise
            raise Permanent(JobFailure(error=err)) from err
        finally:
            await download.aclose()
        trace.get_current_span().set_attribute("exhibit.job.bytes", stored.size)
        # Read after the commit: a hold set before it is seen here; one set after it found the
        # blob when it listed the case's blobs.
        on_hold = await run_unit(self._records, lambda unit: _on_hold(unit, case.id))
        await self._store.protect(case.region, blob_name, legal_hold=on_hold)
        received = Received(
            stored=stored,
            stored_name=stored_name,
            detected_type=detected,
            initials=str((job.source_details or {}).get("initials") or "XX"),
            source_details=_source_details(job, stored),
        )
        now = self._parts.now()

        async def record(unit: RecordsUnit) -> Exhibit:
            return await complete_intake(unit, job, case, received, now=now)

        exhibit = await run_unit(self._records, record)
        await self._parts.anchoring.after_decision(case)  # committed: anchor it (never raises)
        try:
            await self._store.add_tags(case.region, blob_name, {"exhibit": str(exhibit.ref)})
        except (ExhibitError, ValueError) as err:  # recorded already; tags only help searching
            logger.warning("Tags of exhibit %s not set: %s", exhibit.id, type(err).__name__)
        return exhibit

    def _may_retry(self, err: ExhibitError, job: IntakeJob) -> bool:
        if isinstance(err, SourceTooSlow):
            return job.attempts < min(SLOW_SOURCE_ATTEMPTS, self._options.max_attempts)
        return isinstance(err, Transient)

    async def _head_of(self, region: str, blob_name: str) -> bytes:
        return await self._store.read_head(region, blob_name, HEAD_BYTES)

    async def _fail(self, job: IntakeJob, case: Case, failure: JobFailure) -> None:
        now = self._parts.now()
        reason = self._reports.failure_reason(failure)

        async def record(unit: RecordsUnit) -> IntakeJob:
            return await fail_intake(unit, job, reason, now=now)

        await run_unit(self._records, record)
        logger.info("Job %s failed: %s", job.id, reason)
        await self._reports.job_changed(job, case)

    async def _keep_invisible(self, held: _Held) -> None:
        hold = self._options.hold_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(held.stop.wait(), hold / 3)
            if held.stop.is_set():
                return
            try:
                held.lease = await self._queue.extend(held.lease, hold)
            except QueueUnavailable:
                logger.warning("Could not extend the lease of job %s", held.lease.job_id)


class _Held:
    """The newest lease of a message being worked on (each extension gives a new receipt)."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.stop = asyncio.Event()


class _Progress:
    """Shows bytes received on the receipt card, at most every few seconds."""

    def __init__(self, reports: JobReports, job: IntakeJob, case: Case) -> None:
        self._reports = reports
        self._job = job
        self._case = case
        self._last = time.monotonic()

    async def report(self, received: int) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_EVERY_SECONDS:
            return
        self._last = now
        await self._reports.job_changed(self._job, self._case, {self._job.id: received})


_DONE = frozenset({JobStatus.COMPLETED, JobStatus.FAILED})


async def _on_hold(unit: RecordsUnit, case_id: str) -> bool:
    case = await unit.case_by_id(case_id)
    return case is not None and case.hold is not None


async def _job_and_case(unit: RecordsUnit, job_id: str) -> tuple[IntakeJob | None, Case | None]:
    job = await unit.job(job_id)
    if job is None:
        return None, None
    return job, await unit.case_by_id(job.case_id)


def _source_details(job: IntakeJob, stored: StoredBlob) -> dict[str, object]:
    details: dict[str, object] = {"kind": job.source_kind}
    extra = job.source_details or {}
    expected = extra.get("quickXorHash")
    if stored.quick_xor_hash is not None:
        details["quickXorHash"] = stored.quick_xor_hash
        if expected:
            details["quickXorHashExpected"] = expected
            details["quickXorHashMatches"] = expected == stored.quick_xor_hash
    for key in ("eTag", "driveItemSize", "uniqueId"):
        if key in extra:
            details[key] = extra[key]
    return details
