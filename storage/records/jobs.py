"""Background jobs and single-runner leases on SQL.

A job is claimed with one `UPDATE ... WHERE id = (the oldest claimable) AND <still claimable>
RETURNING`: PostgreSQL skips rows another claim has locked (`FOR UPDATE SKIP LOCKED`) and
re-checks the condition on the row it waited for; SQLite runs one writer at a time. Every later
change is `WHERE` the lease owner and the attempt count are still as claimed, so a runner whose
lease expired and was claimed again changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, Table, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evidence.jobs import Job, JobState
from storage.tables import background_jobs, service_leases

if TYPE_CHECKING:
    from storage.records.dialect import Insert

OPEN = (JobState.QUEUED.value, JobState.RUNNING.value)


class JobQueries:
    """What a unit of work reads and writes for background jobs and leases."""

    _connection: AsyncConnection

    def _insert(self, table: Table) -> Insert:
        raise NotImplementedError

    async def add_background_job(self, job: Job) -> tuple[Job, bool]:
        """Record `job`; `(job, True)`, or `(the unfinished job with its key, False)`."""
        inserted = await self._connection.execute(
            self._insert(background_jobs)
            .values(_row(job))
            .on_conflict_do_nothing()
            .returning(background_jobs.c.id)
        )
        if inserted.first() is not None:
            return job, True
        c = background_jobs.c
        query = select(background_jobs).where(c.dedupe_key == job.dedupe_key, c.state.in_(OPEN))
        row = (await self._connection.execute(query)).first()
        if row is None:  # the id itself was taken: never by chance (random ids)
            raise RuntimeError(f"job {job.id} could not be recorded")
        return _job(row), False

    async def background_job(self, job_id: str) -> Job | None:
        """The job as recorded."""
        query = select(background_jobs).where(background_jobs.c.id == job_id)
        row = (await self._connection.execute(query)).first()
        return None if row is None else _job(row)

    async def claim_background_job(self, owner: str, now: datetime, until: datetime) -> Job | None:
        """Take the oldest claimable job for `owner` until `until` (see the module)."""
        c = background_jobs.c
        claimable = or_(
            and_(c.state == JobState.QUEUED.value, c.due_at <= now),
            and_(c.state == JobState.RUNNING.value, c.lease_until <= now),
        )
        oldest = (
            select(c.id)
            .where(claimable)
            .order_by(c.due_at, c.created_at, c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claimed = await self._connection.execute(
            update(background_jobs)
            .where(c.id == oldest, claimable)
            .values(
                state=JobState.RUNNING.value,
                lease_owner=owner,
                lease_until=until,
                attempts=c.attempts + 1,
                updated_at=now,
            )
            .returning(*background_jobs.c)
        )
        row = claimed.first()
        return None if row is None else _job(row)

    async def renew_background_job(self, job: Job, until: datetime, now: datetime) -> bool:
        """Extend the lease of `job` as claimed; False when it was lost."""
        renewed = await self._connection.execute(
            update(background_jobs).where(*_held(job)).values(lease_until=until, updated_at=now)
        )
        return renewed.rowcount == 1

    async def finish_background_job(
        self, job: Job, state: JobState, outcome: str, now: datetime
    ) -> bool:
        """Finish `job` as claimed, erasing its note; False when the lease was lost."""
        if not state.finished:
            raise ValueError(f"{state} is not a finished state")
        finished = await self._connection.execute(
            update(background_jobs)
            .where(*_held(job))
            .values(
                state=state.value,
                outcome=outcome[:200],
                note=None,
                lease_owner=None,
                lease_until=None,
                finished_at=now,
                updated_at=now,
            )
        )
        return finished.rowcount == 1

    async def retry_background_job(self, job: Job, due: datetime, now: datetime) -> bool:
        """Give `job` as claimed back to the queue, due at `due`; False when the lease was lost."""
        given_back = await self._connection.execute(
            update(background_jobs)
            .where(*_held(job))
            .values(
                state=JobState.QUEUED.value,
                lease_owner=None,
                lease_until=None,
                due_at=due,
                updated_at=now,
            )
        )
        return given_back.rowcount == 1

    async def claim_lease(self, name: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take or renew the lease `name` if it is free, expired or `owner`'s already."""
        await self._connection.execute(
            self._insert(service_leases)
            .values(name=name)
            .on_conflict_do_nothing(index_elements=[service_leases.c.name])
        )
        lease = service_leases.c
        claimed = await self._connection.execute(
            update(service_leases)
            .where(
                lease.name == name,
                or_(lease.owner.is_(None), lease.owner == owner, lease.expires_at <= now),
            )
            .values(owner=owner, expires_at=until)
        )
        return claimed.rowcount == 1

    async def release_lease(self, name: str, owner: str) -> None:
        """Give the lease `name` up, if `owner` holds it."""
        await self._connection.execute(
            update(service_leases)
            .where(service_leases.c.name == name, service_leases.c.owner == owner)
            .values(owner=None, expires_at=None)
        )


def _held(job: Job) -> tuple[Any, ...]:
    c = background_jobs.c
    return (
        c.id == job.id,
        c.state == JobState.RUNNING.value,
        c.lease_owner == job.lease_owner,
        c.attempts == job.attempts,
    )


def _row(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "dedupe_key": job.dedupe_key,
        "payload": dict(job.payload),
        "officer_id": job.officer_id,
        "reference": job.reference,
        "note": job.note,
        "state": job.state.value,
        "attempts": job.attempts,
        "lease_owner": job.lease_owner,
        "lease_until": job.lease_until,
        "created_at": job.created_at,
        "updated_at": job.updated_at or job.created_at,
        "due_at": job.due_at,
        "finished_at": job.finished_at,
        "outcome": job.outcome,
    }


def _job(row: Row[Any]) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        dedupe_key=row.dedupe_key,
        payload=dict(row.payload),
        officer_id=row.officer_id,
        reference=row.reference,
        note=row.note,
        state=JobState(row.state),
        attempts=row.attempts,
        lease_owner=row.lease_owner,
        lease_until=row.lease_until,
        created_at=row.created_at,
        updated_at=row.updated_at,
        due_at=row.due_at,
        finished_at=row.finished_at,
        outcome=row.outcome,
    )
