"""Durable background jobs on SQLite and PostgreSQL: claimed by one runner at a time with a
lease, taken over when a runner dies, finished after a restart, made once for a double request,
failed (and the officer told through the recording connector) after the attempts limit.

Leases are moved past on a fake wall clock, never waited for."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.commands.evidence import verify_job
from evidence.custody import Action
from evidence.errors import StoreUnavailable
from evidence.jobs import Job, JobKind, JobState, new_job
from evidence.records import Records
from exhibit.composition import SERVICES
from exhibit.settings import Settings, load_settings
from storage.database import create_engine
from storage.records import SqlRecords
from storage.tables import background_jobs
from tests.conftest import BotClientFactory
from tests.support.connector import RecordingConnector
from tests.support.conversation import Conversation, teams_file
from worker.jobs import JobOptions, JobRunner
from worker.pacing import Clock
from worker.sweeper import PassLease

pytest_plugins = ["tests.support.postgres", "tests.support.record_backends"]

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=120)
REFERENCE = '{"conversation": {"id": "a:1"}}'
CCTV = os.urandom(300_000)


class WallClock:
    """Wall time that moves only when told to; sleeps are real (renewals wait out the test)."""

    def __init__(self) -> None:
        self.at = START

    def now(self) -> datetime:
        return self.at

    def clock(self) -> Clock:
        return Clock(now=self.now)


def runner_on(records: Records, clock: WallClock, owner: str, **options: object) -> JobRunner:
    return JobRunner(
        records,
        JobOptions(lease=LEASE, backoff=timedelta(0), **options),  # type: ignore[arg-type]
        owner=owner,
        clock=clock.clock(),
    )


async def submit(runner: JobRunner, key: str, kind: str = "test") -> Job:
    job, created = await runner.submit(
        kind, key, {"case_id": "c-1"}, officer_id="oid-1", reference=REFERENCE
    )
    assert created
    return job


async def job_of(records: Records, job_id: str) -> Job:
    async with records.unit() as unit:
        job = await unit.background_job(job_id)
    assert job is not None
    return job


@pytest.fixture
async def second_engine(database_url: str, records: SqlRecords) -> AsyncIterator[AsyncEngine]:
    """Another engine on the same database: a second process."""
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


# --- the records and the runner -----------------------------------------------------------------


async def test_two_runners_never_run_the_same_job(
    records: SqlRecords, second_engine: AsyncEngine
) -> None:
    clock = WallClock()
    runners = [
        runner_on(records, clock, "runner-a"),
        runner_on(SqlRecords(second_engine), clock, "runner-b"),
    ]
    ran: list[tuple[str, str]] = []
    for runner in runners:

        async def work(job: Job, owner: str = runner.owner) -> str:
            ran.append((job.id, owner))
            await asyncio.sleep(0)  # let the other runner claim meanwhile
            return "done"

        runner.register("test", work)
    jobs = [await submit(runners[0], f"job {number}") for number in range(16)]

    async def drain(runner: JobRunner) -> None:
        while await runner.step():
            pass

    await asyncio.gather(*(drain(runner) for runner in runners))

    assert sorted(job_id for job_id, _ in ran) == sorted(job.id for job in jobs)  # each once
    assert {owner for _, owner in ran} == {"runner-a", "runner-b"}  # both took part
    for job in jobs:
        finished = await job_of(records, job.id)
        assert finished.state is JobState.DONE
        assert finished.attempts == 1
        assert finished.outcome == "done"


async def test_a_runner_that_dies_leaves_its_job_to_another_once_the_lease_expires(
    records: SqlRecords, second_engine: AsyncEngine
) -> None:
    clock = WallClock()
    dying = runner_on(records, clock, "runner-a")
    other = runner_on(SqlRecords(second_engine), clock, "runner-b")
    started = asyncio.Event()
    claimed: list[Job] = []

    async def hangs(job: Job) -> str:
        claimed.append(job)
        started.set()
        await asyncio.Event().wait()
        return "never"

    async def works(job: Job) -> str:
        return "finished by b"

    dying.register("test", hangs)
    other.register("test", works)
    job = await submit(dying, "the job")
    step = asyncio.create_task(dying.step())
    await started.wait()
    step.cancel()  # runner-a's process dies: nothing more is written
    with pytest.raises(asyncio.CancelledError):
        await step

    assert not await other.step()  # the lease still holds runner-b off
    clock.at += LEASE
    assert await other.step()

    finished = await job_of(records, job.id)
    assert finished.state is JobState.DONE
    assert finished.outcome == "finished by b"
    assert finished.attempts == 2
    async with records.unit() as unit:  # runner-a, back from the dead, changes nothing
        assert not await unit.finish_background_job(claimed[0], JobState.DONE, "late", clock.at)
        assert not await unit.renew_background_job(claimed[0], clock.at + LEASE, clock.at)
    assert (await job_of(records, job.id)).outcome == "finished by b"


async def test_a_lost_lease_is_noticed_and_the_work_stopped(records: SqlRecords) -> None:
    clock = WallClock()
    runner = JobRunner(
        records,
        JobOptions(lease=timedelta(seconds=3), backoff=timedelta(0)),
        owner="runner-a",
        clock=clock.clock(),
    )
    started, stopped = asyncio.Event(), asyncio.Event()

    async def slow(job: Job) -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()
        return "never"

    runner.register("test", slow)
    job = await submit(runner, "the job")
    step = asyncio.create_task(runner.step())
    await started.wait()
    clock.at += timedelta(seconds=10)  # runner-a stalled past its lease: runner-b takes it
    async with records.unit() as unit:
        taken = await unit.claim_background_job("runner-b", clock.at, clock.at + LEASE)
    assert taken is not None
    assert taken.id == job.id

    assert await step  # at its next renewal (a second later) runner-a finds the lease gone
    assert stopped.is_set()
    after = await job_of(records, job.id)
    assert after.lease_owner == "runner-b"
    assert after.state is JobState.RUNNING


async def test_work_that_keeps_failing_fails_at_the_limit_and_the_officer_is_told(
    records: SqlRecords,
) -> None:
    clock = WallClock()
    runner = runner_on(records, clock, "runner-a", max_attempts=3)
    told: list[Job] = []

    async def fails(job: Job) -> str:
        raise StoreUnavailable("uksouth", "blob", "storage down")

    async def tell(job: Job) -> None:
        told.append(job)

    runner.register("test", fails)
    runner.on_failure(tell)
    job = await submit(runner, "the job")
    for _ in range(3):
        assert told == []
        assert await runner.step()

    assert not await runner.step()
    failed = await job_of(records, job.id)
    assert failed.state is JobState.FAILED
    assert failed.outcome == "failed: StoreUnavailable"
    assert failed.attempts == 3
    assert [job.id for job in told] == [job.id]


async def test_a_job_whose_runners_keep_dying_fails_and_the_officer_is_told(
    records: SqlRecords,
) -> None:
    clock = WallClock()
    told: list[str] = []
    job = new_job("test", "k", {}, officer_id="oid-1", reference=REFERENCE, now=clock.at)
    async with records.unit() as unit:
        await unit.add_background_job(job)
    for attempt in range(2):  # two runners die holding it
        async with records.unit() as unit:
            assert await unit.claim_background_job(f"dead-{attempt}", clock.at, clock.at + LEASE)
        clock.at += LEASE
    runner = runner_on(records, clock, "runner-c", max_attempts=2)

    async def never(job: Job) -> str:
        raise AssertionError("a job past its attempts is not run again")

    async def tell(job: Job) -> None:
        told.append(job.id)

    runner.register("test", never)
    runner.on_failure(tell)
    assert await runner.step()

    failed = await job_of(records, job.id)
    assert failed.state is JobState.FAILED
    assert failed.outcome == "gave up: no runner finished it"
    assert told == [job.id]


async def test_a_double_request_makes_one_job_until_it_is_finished(records: SqlRecords) -> None:
    clock = WallClock()
    runner = runner_on(records, clock, "runner-a")
    runner.register("test", lambda job: asyncio.sleep(0, "done"))
    first = await submit(runner, "verify e-1 oid-1")

    again, created = await runner.submit(
        "test", "verify e-1 oid-1", {}, officer_id="oid-1", reference=REFERENCE
    )
    assert not created
    assert again.id == first.id
    assert await runner.step()
    assert not await runner.step()

    later, created = await runner.submit(
        "test", "verify e-1 oid-1", {}, officer_id="oid-1", reference=REFERENCE, note="why"
    )
    assert created  # the first is finished: the same request may be made again
    assert later.id != first.id
    assert (await job_of(records, later.id)).note == "why"
    assert await runner.step()
    assert (await job_of(records, later.id)).note is None  # erased when finished


async def test_a_periodic_pass_is_run_by_one_lease_holder_at_a_time(
    records: SqlRecords, second_engine: AsyncEngine
) -> None:
    clock = WallClock()
    hold = timedelta(minutes=3)
    first = PassLease(records, "share-sweep", "instance-a", hold, clock.now)
    second = PassLease(SqlRecords(second_engine), "share-sweep", "instance-b", hold, clock.now)

    held = await asyncio.gather(first.held(), second.held())
    assert sorted(held) == [False, True]
    holder, waiting = (first, second) if held[0] else (second, first)
    assert await holder.held()  # renewed
    assert not await waiting.held()
    clock.at += hold  # the holder died
    assert await waiting.held()
    assert not await holder.held()
    await waiting.release()  # a clean stop hands over at once
    assert await holder.held()


# --- the app: `evidence verify` of a large exhibit as a job -------------------------------------


@pytest.fixture
async def file_url() -> AsyncIterator[str]:
    async def serve(_request: web.Request) -> web.Response:
        return web.Response(body=CCTV)

    app = web.Application()
    app.router.add_get("/cctv.mp4", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/cctv.mp4"))
    await server.close()


@pytest.fixture
def job_settings(base_env: dict[str, str], database_url: str) -> Settings:
    """Every verification in the background; retries at once; the backend under test."""
    return load_settings(
        {
            **base_env,
            "EXHIBIT_DATABASE_URL": database_url,
            "EXHIBIT_VERIFY_INLINE_BYTES": "0",
            "EXHIBIT_JOB_BACKOFF_SECONDS": "0",
            "EXHIBIT_JOB_MAX_ATTEMPTS": "2",
        }
    )


async def with_exhibit(conversation: Conversation, reference: str, file_url: str) -> None:
    await conversation.say(f"case open {reference} Robbery")
    await conversation.say(f"add {reference}", [teams_file("cctv.mp4", file_url)])
    await conversation.wait_for_update("Exhibit JS/1")


def verified_cards(recorder: RecordingConnector) -> list[str]:
    return [str(b) for b in recorder.activities() if "Verified: the stored file" in str(b)]


async def jobs_of(settings: Settings, kind: str) -> list[Job]:
    """The jobs of `kind` (the records port lists none: the table read as an operator would)."""
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        async with engine.connect() as connection:
            query = select(background_jobs.c.id).where(background_jobs.c.kind == kind)
            ids = list((await connection.execute(query)).scalars())
        records = SqlRecords(engine)
        return [await job_of(records, job_id) for job_id in ids]
    finally:
        await engine.dispose()


async def without_runner(
    job_settings: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    file_url: str,
    reference: str,
) -> Conversation:
    """An exhibit recorded in case `reference` by one instance, which stops; then an instance
    that queues jobs but runs none (its runner off)."""
    recorder, url = connector
    first = Conversation(await bot_client(job_settings), recorder, url)
    await with_exhibit(first, reference, file_url)
    await first.client.close()
    no_runner = job_settings.model_copy(update={"run_worker": False})
    return Conversation(await bot_client(no_runner), recorder, url)


async def test_a_restart_finishes_queued_work_and_a_double_request_makes_one_job(
    job_settings: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    file_url: str,
) -> None:
    recorder, url = connector
    # An instance that queues jobs but runs none (its runner off), then stops.
    queuing = await without_runner(job_settings, bot_client, connector, file_url, "MET-24-0150")

    answer = await queuing.say("evidence verify MET-24-0150 JS/1")
    again = await queuing.say("evidence verify MET-24-0150 JS/1")
    queued = await jobs_of(job_settings, JobKind.VERIFY)
    await queuing.client.close()

    assert "Re-hashing MET-24-0150 JS/1" in answer
    assert "Already verifying" in again
    assert [job.state for job in queued] == [JobState.QUEUED]
    assert set(queued[0].payload) == {"case_id", "exhibit_id"}  # ids only
    assert "Jane" not in queued[0].reference  # the reference keeps ids, not names
    assert verified_cards(recorder) == []

    restarted = Conversation(await bot_client(job_settings), recorder, url)
    services = restarted.client.app[SERVICES]
    await services.jobs.settle()

    assert len(verified_cards(recorder)) == 1
    (done,) = await jobs_of(job_settings, JobKind.VERIFY)
    assert done.state is JobState.DONE
    async with services.records.unit() as unit:
        case = await unit.case_by_reference("MET-24-0150")
        assert case is not None
        actions = [entry.action for entry in await unit.custody(case.id)]
    assert actions.count(Action.EXHIBIT_VERIFIED) == 1


async def test_a_verification_that_keeps_failing_is_reported_to_the_officer(
    job_settings: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    file_url: str,
) -> None:
    recorder, url = connector
    officer = Conversation(await bot_client(job_settings), recorder, url)
    await with_exhibit(officer, "MET-24-0151", file_url)
    services = officer.client.app[SERVICES]

    async def storage_down(job: Job) -> str:  # the re-hash's store does not answer, each time
        raise StoreUnavailable("uksouth", "blob", "storage down")

    services.jobs.register(JobKind.VERIFY, storage_down)
    before = len(recorder.activities())

    await officer.say("evidence verify MET-24-0151 JS/1")
    await services.jobs.settle()

    told = [str(b) for b in recorder.activities()[before:] if "did not finish" in str(b)]
    assert len(told) == 1
    assert "Verification did not finish" in told[0]
    assert "MET-24-0151 JS/1" in told[0]
    (failed,) = await jobs_of(job_settings, JobKind.VERIFY)
    assert failed.state is JobState.FAILED
    assert failed.attempts == 2
    assert failed.outcome == "failed: StoreUnavailable"


async def test_a_verification_run_again_after_its_runner_died_is_recorded_once(
    job_settings: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    file_url: str,
) -> None:
    recorder, _url = connector
    officer = await without_runner(job_settings, bot_client, connector, file_url, "MET-24-0152")
    services = officer.client.app[SERVICES]
    await officer.say("evidence verify MET-24-0152 JS/1")
    (job,) = await jobs_of(job_settings, JobKind.VERIFY)

    # The first attempt recorded the verification; its runner died before the job was finished
    # (while telling the officer, say), so the next claim runs the same job again.
    assert await verify_job(services, job) == "verified"
    assert await verify_job(services, replace(job, attempts=2)) == "verified"

    assert len(verified_cards(recorder)) == 2  # told each time: the first may never have arrived
    async with services.records.unit() as unit:
        case = await unit.case_by_reference("MET-24-0152")
        assert case is not None
        verified = [e for e in await unit.custody(case.id) if e.action == Action.EXHIBIT_VERIFIED]
    assert len(verified) == 1
    assert verified[0].details["job"] == job.id
