"""Durable background jobs: work that outlives the request (and the process) that asked for it.

A job is a row in the records: its kind, a dedupe key (unique among unfinished jobs, so a
double click or two instances make one job), a payload of ids and flags only, who asked and
the conversation to tell them in, and its state. A runner claims a job with a lease (one
conditional update: a queued job that is due, or a running one whose lease has expired),
renews the lease while the work runs, and finishes the job only while it still holds the lease.
A job whose process died is claimed again once its lease expires; after the attempts limit it
fails, and the officer who asked is told.

`note` is the one piece of free text a job may carry: what the officer typed that the work
records in the case's chain anyway (an approval note, an export's reason). It is erased when
the job finishes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

PayloadValue = str | int | bool | list[str]


class JobKind(StrEnum):
    """The kinds of background job Exhibit runs."""

    VERIFY = "verify"  # `evidence verify` of a large exhibit
    APPROVE = "approve"  # an approval decided after re-verifying a large share's exhibits
    EXPORT = "export"  # a continuity bundle built and offered for `custody export`


class JobState(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"  # waiting for a runner (new, or given back for a later attempt)
    RUNNING = "running"  # a runner holds its lease (or held it, and died)
    DONE = "done"
    FAILED = "failed"  # gave up after the attempts limit; the officer was told

    @property
    def finished(self) -> bool:
        """Whether the job will never run again."""
        return self in (JobState.DONE, JobState.FAILED)


@dataclass(frozen=True, slots=True)
class Job:
    """One unit of background work as recorded."""

    id: str
    kind: str
    dedupe_key: str
    payload: Mapping[str, PayloadValue]  # ids and flags only: no names, file names or titles
    officer_id: str  # Entra object id of who asked: the one told of a failure
    reference: str  # the conversation they asked in (ids only), for proactive messages
    created_at: datetime
    due_at: datetime  # not claimed before (a retry's backoff)
    state: JobState = JobState.QUEUED
    note: str | None = None  # see the module; None once finished
    attempts: int = 0  # claims so far (a claim by a runner that then died counts)
    lease_owner: str | None = None
    lease_until: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    outcome: str | None = None  # a short code: "verified", "approved", "gave up: ..."

    def text(self, name: str) -> str:
        """A payload value that must be text."""
        value = self.payload.get(name)
        if not isinstance(value, str):
            raise ValueError(f"job {self.id}: no {name} in its payload")
        return value

    def texts(self, name: str) -> list[str]:
        """A payload value that must be a list of text (empty if absent)."""
        value = self.payload.get(name, [])
        if not isinstance(value, list):
            raise ValueError(f"job {self.id}: {name} is not a list")
        return [str(item) for item in value]

    def flag(self, name: str) -> bool:
        """A payload flag (False if absent)."""
        return self.payload.get(name) is True


def new_job(
    kind: str,
    dedupe_key: str,
    payload: Mapping[str, PayloadValue],
    *,
    officer_id: str,
    reference: str,
    now: datetime,
    note: str | None = None,
) -> Job:
    """A queued job, due now."""
    return Job(
        id=f"J-{uuid.uuid4().hex}",
        kind=kind,
        dedupe_key=dedupe_key,
        payload=dict(payload),
        officer_id=officer_id,
        reference=reference,
        created_at=now,
        due_at=now,
        note=note,
        updated_at=now,
    )


class JobRecords(Protocol):
    """What a unit of work offers for background jobs and single-runner leases (SQL)."""

    async def add_background_job(self, job: Job) -> tuple[Job, bool]:
        """Record `job`; `(job, True)`, or `(the unfinished job with its key, False)`."""
        ...

    async def background_job(self, job_id: str) -> Job | None:
        """The job as recorded."""
        ...

    async def claim_background_job(self, owner: str, now: datetime, until: datetime) -> Job | None:
        """Take the oldest claimable job (queued and due, or running with an expired lease) for
        `owner` until `until`, counting the attempt; None when there is none.

        One conditional update: of runners racing for a job, exactly one gets it.
        """
        ...

    async def renew_background_job(self, job: Job, until: datetime, now: datetime) -> bool:
        """Extend the lease of `job` as claimed; False when its lease was lost (claimed again)."""
        ...

    async def finish_background_job(
        self, job: Job, state: JobState, outcome: str, now: datetime
    ) -> bool:
        """Finish `job` as claimed (done or failed) and erase its note; False (nothing changed)
        when the lease was lost."""
        ...

    async def retry_background_job(self, job: Job, due: datetime, now: datetime) -> bool:
        """Give `job` as claimed back to the queue, due at `due`; False when the lease was lost."""
        ...

    async def claim_lease(self, name: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take or renew the single-runner lease `name` (free, expired or `owner`'s already)."""
        ...

    async def release_lease(self, name: str, owner: str) -> None:
        """Give the lease `name` up, if `owner` holds it."""
        ...
