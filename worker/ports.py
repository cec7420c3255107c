"""What the worker needs from the rest of Exhibit, and how it reports jobs to officers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from evidence.anchoring import Anchoring
from evidence.checkpoints import CheckpointSigner, CheckpointStore
from evidence.model import Case
from evidence.ports import EvidenceStore
from evidence.records import IntakeJob, Records
from evidence.sweeps import AlertTarget, IntegrityAlert
from storage.queue import Lease  # the queue's value type; the adapter class is not named here


class JobQueue(Protocol):
    """The intake queue as the worker uses it; each call raises `QueueUnavailable` when down."""

    async def receive(self, *, hold_seconds: int, limit: int = 1) -> list[Lease]:
        """Up to `limit` messages, each invisible to others for `hold_seconds`."""
        ...

    async def extend(self, lease: Lease, hold_seconds: int) -> Lease:
        """Keep the message invisible for another `hold_seconds` (a new pop receipt)."""
        ...

    async def retry_later(self, lease: Lease, delay_seconds: int) -> None:
        """Let the message reappear after `delay_seconds` (a backoff)."""
        ...

    async def delete(self, lease: Lease) -> None:
        """The job is finished: remove its message."""
        ...


class Download(Protocol):
    """An open download: what the source says about it, and its bytes."""

    @property
    def declared_size(self) -> int | None: ...
    @property
    def content_type(self) -> str | None: ...
    def chunks(self) -> AsyncIterator[bytes]: ...
    async def aclose(self) -> None: ...


class SourceOpener(Protocol):
    """Opens the bytes of a job's file, wherever Teams put them."""

    async def open(self, job: IntakeJob) -> Download:
        """Start downloading; raise a `SourceError` (or a retryable one) when it cannot."""
        ...


@dataclass(frozen=True, slots=True)
class JobFailure:
    """Why a job failed, for the wording the officer sees (the worker words nothing itself)."""

    error: BaseException | None = None  # the error that ended it, when there was one
    size_limit: int | None = None  # the file was announced larger than this many bytes
    attempts: int | None = None  # given up after this many attempts


class JobReports(Protocol):
    """How the worker tells officers about their jobs; the Teams side implements it."""

    async def job_changed(
        self, job: IntakeJob, case: Case, progress: Mapping[str, int] | None = None
    ) -> None:
        """`job` moved on (bytes received, recorded, failed): redraw what the officer sees.

        Never raises: the card is a courtesy, the record is what counts.
        """
        ...

    def failure_reason(self, failure: JobFailure) -> str:
        """What the officer is told about a failure (recorded with the job)."""
        ...


class IntegrityAlerts(Protocol):
    """How the integrity sweep tells people of a mismatch; the Teams side implements it."""

    def targets(self, case: Case) -> frozenset[AlertTarget]:
        """Where an alert about `case` should go (its channel if bound, the security channel)."""
        ...

    async def post(self, alert: IntegrityAlert, case: Case, target: AlertTarget) -> None:
        """Post the alert card to `target`; raises when it could not be posted (tried again)."""
        ...


@dataclass(frozen=True, slots=True)
class WorkerParts:
    """The adapters the worker works with, built by the composition root."""

    records: Records
    queue: JobQueue
    store: EvidenceStore
    reports: JobReports
    now: Callable[[], datetime]
    checkpoint_signer: CheckpointSigner
    checkpoint_store: CheckpointStore

    @property
    def anchoring(self) -> Anchoring:
        """Checkpoints of the custody chains, taken once an intake is recorded."""
        return Anchoring(self.records, self.checkpoint_signer, self.checkpoint_store, self.now)
