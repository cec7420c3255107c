"""Intake survives what production will do to it, with real processes and no mocks.

- a `python -m exhibit worker` process killed (SIGKILL) mid-upload: a new worker finishes the job;
- a worker stopped (SIGTERM, as `docker stop` and Container Apps do) mid-upload: it finishes the
  job within its drain time, or puts the message back at once and exits cleanly;
- a worker that died after committing the blob but before recording it: the next one adopts
  the blob and records it once;
- the storage emulator stopped mid-ingest and started again on the same data: nothing is lost.

The bot runs in-process without a worker (it only receives files and queues jobs); workers are
child processes sharing its SQLite file, Azurite and queue. Files come from a local server that
sends slowly on demand, so that what breaks, breaks mid-transfer. Triple delivery of one
activity is covered in test_intake.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob.aio import BlobClient
from azure.storage.queue.aio import QueueClient

from devtools.devstack import Children, Ports, make_accounts, start_azurite
from evidence.custody import Action, verify_chain
from evidence.intake import idempotency_key
from evidence.model import Case, Exhibit
from evidence.records import IntakeJob, JobStatus
from exhibit.settings import load_settings
from storage.blobs import (
    API_VERSION,
    ClientPolicy,
    RegionAccount,
    RegionalBlobServices,
    blob_service,
)
from storage.database import create_engine
from storage.evidence_store import BLOCK_SIZE, BlobEvidenceStore
from storage.records import SqlRecords
from tests.conftest import BotClientFactory
from tests.support.connector import RecordingConnector
from tests.support.conversation import Conversation, teams_file
from tests.support.slow_files import SlowFiles, serve_slow_files
from tests.support.waiting import until

PERSONAL_CHAT = "a:exhibit-personal-chat"  # the conversation of tests/fixtures/personal_message


MIB = 1024 * 1024
BIG_BYTES = 40 * MIB
# 160 pieces of 256 KiB, 30 ms apart: at least 4.8 s per transfer, so a kill or an outage
# started once the first 8 MiB block is staged lands well before the body ends.
SLOW_PAUSE = 0.03
# 2.4 s: a worker holding a job this long extends its hold on the message (every hold / 3), as
# it does with any real upload; a fully fast transfer would hide what happens after that.
STEADY_PAUSE = 0.015
HOLD_SECONDS = 5  # a dead worker's message reappears this soon
REGIONS = ("uksouth", "ukwest")
WORKER = [sys.executable, "-m", "exhibit", "worker", "--env-file", os.devnull]
# The test's own storage client: fail fast while polling rather than back off for 15 s.
QUICK = ClientPolicy(connect_timeout=3, read_timeout=20, retries=1, first_backoff=1)


@pytest.fixture(scope="module")
def big() -> bytes:
    """A 40 MiB file (five 8 MiB blocks) of random bytes."""
    return os.urandom(BIG_BYTES)


@dataclass
class Rig:
    """The in-process bot (no worker), worker processes, and views into what they recorded."""

    env: dict[str, str]
    officer: Conversation
    files: SlowFiles
    records: SqlRecords
    store: BlobEvidenceStore
    blobs: RegionalBlobServices
    workers: Children

    def spawn_worker(self, name: str, **settings: str) -> subprocess.Popen[bytes]:
        """Start `python -m exhibit worker` with the bot's own settings (and `settings`);
        output in `<name>.log`."""
        return self.workers.spawn(name, WORKER, {**self.env, **settings})

    def log_of(self, name: str) -> str:
        """What worker `name` has written so far."""
        return (self.workers.log_dir / f"{name}.log").read_text(encoding="utf-8")

    async def visible_messages(self) -> list[str]:
        """The job ids of the messages any worker could take from the queue now."""
        queue = QueueClient.from_connection_string(
            self.env.get("EXHIBIT_QUEUE_CONNECTION_STRING")
            or self.env["EXHIBIT_REGION_UKSOUTH_CONNECTION_STRING"],
            self.env["EXHIBIT_QUEUE_NAME"],
            api_version=API_VERSION,
        )
        async with queue:
            return [str(m.content) for m in await queue.peek_messages(max_messages=32)]

    async def staging(self, case: Case, job: str, worker: subprocess.Popen[bytes]) -> None:
        """Wait until `worker` has staged a block of the job's blob (it is mid-upload)."""

        async def staged() -> int | None:
            assert worker.poll() is None, f"the worker exited early; {self.explain()}"
            return await self.uncommitted_blocks(case.region, f"{case.id}/{job}") or None

        await until("the worker staging blocks", staged, 30, self.explain)

    async def exited(self, worker: subprocess.Popen[bytes]) -> int:
        """Wait (30 s at most) for `worker` to exit; its exit code."""

        async def code() -> int | None:
            return worker.poll()

        return await until("the worker exiting", code, 30, self.explain)

    def explain(self) -> str:
        """Where to look when an assertion fails."""
        logs = sorted(self.workers.log_dir.glob("*.log"))
        return "worker logs: " + (", ".join(str(log) for log in logs) or "none yet")

    def assert_no_worker_errors(self) -> None:
        """No job left a worker with an unhandled error (the worker logs those at ERROR)."""
        for log in sorted(self.workers.log_dir.glob("*.log")):
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
            errors = [n for n, line in enumerate(lines) if " ERROR " in line]
            assert not errors, f"{log} logs an error:\n" + "\n".join(
                lines[errors[0] : errors[0] + 40]
            )

    async def open_case(self, reference: str) -> Case:
        """Open a case through the bot and return it as recorded."""
        await self.officer.say(f"case open {reference} Reliability")
        async with self.records.unit() as unit:
            case = await unit.case_by_reference(reference)
        assert case is not None, f"case {reference} was not opened"
        return case

    async def ask(self, text: str) -> str:
        """Send `text`; the bot's reply (a post, never a worker's late redraw of a receipt)."""
        recorder = self.officer.recorder
        before = len(recorder.received)
        await self.officer.say(text)

        async def reply() -> str | None:
            posts = [r for r in recorder.received[before:] if r.method == "POST"]
            return str(posts[0].body["attachments"][0]["content"]) if posts else None

        return await until(f"a reply to {text!r}", reply, 10, self.explain)

    async def send_file(self, case: Case, name: str, content: bytes, activity_id: str) -> str:
        """Send one file to the case; the id of the intake job it became."""
        receipt = await self.officer.say(
            f"add {case.reference}",
            [teams_file(name, self.files.link(name, content))],
            activity_id=activity_id,
        )
        assert f"Receiving 1 file for {case.reference}" in receipt
        key = idempotency_key(PERSONAL_CHAT, activity_id, 0)
        async with self.records.unit() as unit:
            found = await unit.job_by_idempotency_key(key)
        assert found is not None, f"no job for {activity_id}"
        return found.id

    async def job(self, job: str) -> IntakeJob:
        """The job as recorded now."""
        async with self.records.unit() as unit:
            found = await unit.job(job)
        assert found is not None, f"job {job} is not recorded"
        return found

    async def exhibits(self, case: Case) -> list[Exhibit]:
        """The case's exhibits as recorded now."""
        async with self.records.unit() as unit:
            return list(await unit.exhibits_of(case.id))

    def blob(self, region: str, blob_name: str) -> BlobClient:
        """A plain Blob client for a blob of the evidence container."""
        return self.blobs.client(region).get_blob_client(self.store.container, blob_name)

    async def uncommitted_blocks(self, region: str, blob_name: str) -> int:
        """Blocks staged for `blob_name` and not (yet) committed."""
        try:
            _committed, uncommitted = await self.blob(region, blob_name).get_block_list(
                "uncommitted"
            )
        except ResourceNotFoundError:
            return 0
        return len(uncommitted)

    async def finished(self, job: str, worker: subprocess.Popen[bytes]) -> IntakeJob:
        """Wait (45 s at most) until the job completes or fails; the worker must stay up."""

        async def settled() -> IntakeJob | None:
            assert worker.poll() is None, f"the worker exited ({worker.returncode}); " + (
                self.explain()
            )
            current = await self.job(job)
            return current if current.status in {JobStatus.COMPLETED, JobStatus.FAILED} else None

        return await until(f"job {job} finished", settled, 45, self.explain)

    async def assert_recorded_once(self, case: Case, job: str, content: bytes) -> Exhibit:
        """Exactly one exhibit, of exactly these bytes, in the case's region only, one custody."""
        digest = hashlib.sha256(content).hexdigest()
        blob_name = f"{case.id}/{job}"
        exhibits = await self.exhibits(case)
        assert [e.id for e in exhibits] == [job], f"{exhibits}; {self.explain()}"
        (exhibit,) = exhibits
        assert (exhibit.sha256, exhibit.size, exhibit.region, exhibit.blob_name) == (
            digest, len(content), case.region, blob_name)  # fmt: skip
        assert str(exhibit.ref) == "JS/1"
        # The bytes are committed once, in the case's region and nowhere else, and hash anew
        # to what was recorded (the staged blocks of a dead attempt are not part of them).
        assert await self.store.locate(blob_name) == (case.region,)
        rehashed = await self.store.rehash(case.region, blob_name)
        assert (rehashed.sha256, rehashed.size) == (digest, len(content))
        described = await self.store.describe(case.region, blob_name)
        assert described is not None
        assert described.sha256 == digest
        async with self.records.unit() as unit:
            chain = list(await unit.custody(case.id))
            head = await unit.custody_head(case.id)
        completed = [entry for entry in chain if entry.action == Action.INTAKE_COMPLETED]
        assert len(completed) == 1, f"{[e.action for e in chain]}; {self.explain()}"
        assert completed[0].exhibit_id == job
        assert completed[0].details["sha256"] == digest
        assert [e.action for e in chain].count(Action.INTAKE_STARTED) == 1
        assert Action.INTAKE_FAILED not in [e.action for e in chain]
        report = verify_chain(case.id, chain, head=head)
        assert report.ok, report.problem
        return exhibit


@asynccontextmanager
async def rig(
    env: Mapping[str, str],
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    log_dir: Path,
) -> AsyncIterator[Rig]:
    """The bot in-process with no worker of its own, a slow file server, and worker children."""
    full = {**env, "EXHIBIT_RUN_WORKER": "false", "EXHIBIT_INTAKE_HOLD_SECONDS": str(HOLD_SECONDS)}
    settings = load_settings(full)
    recorder, url = connector
    officer = Conversation(await bot_client(settings), recorder, url)
    engine = create_engine(settings.database_url.get_secret_value())
    blobs = RegionalBlobServices(
        {
            region: blob_service(
                RegionAccount(region, full[f"EXHIBIT_REGION_{region.upper()}_CONNECTION_STRING"]),
                policy=QUICK,
            )
            for region in REGIONS
        }
    )
    workers = Children(log_dir)
    try:
        async with serve_slow_files() as files:
            yield Rig(
                full,
                officer,
                files,
                SqlRecords(engine),
                BlobEvidenceStore(blobs),
                blobs,
                workers,
            )
    finally:
        await asyncio.to_thread(workers.stop)
        await blobs.aclose()
        await engine.dispose()


@pytest.fixture
async def intake(
    base_env: dict[str, str],
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    tmp_path: Path,
) -> AsyncIterator[Rig]:
    """A rig on the session's Azurite."""
    async with rig(base_env, bot_client, connector, tmp_path / "logs") as ready:
        yield ready


async def test_a_worker_killed_mid_upload_is_replaced_and_the_job_recorded_once(
    intake: Rig, big: bytes
) -> None:
    case = await intake.open_case("MET-24-0101")
    intake.files.pause = SLOW_PAUSE
    job = await intake.send_file(case, "cctv.mp4", big, "killed-mid-upload")
    blob_name = f"{case.id}/{job}"
    first = intake.spawn_worker("worker-1")

    async def staging() -> int | None:
        assert first.poll() is None, f"worker-1 exited early; {intake.explain()}"
        staged = await intake.uncommitted_blocks(case.region, blob_name)
        return staged or None

    await until("worker-1 staging blocks", staging, 30, intake.explain)
    (transfer,) = intake.files.of("cctv.mp4")
    assert not transfer.finished, "the download ended before the kill: make it slower"
    first.kill()
    await asyncio.to_thread(first.wait)

    # What the dead worker left: staged blocks, no blob, no exhibit, the job still running.
    assert not await intake.store.exists(case.region, blob_name)
    assert await intake.exhibits(case) == []
    left = await intake.job(job)
    assert (left.status, left.attempts) == (JobStatus.RUNNING, 1)

    intake.files.pause = STEADY_PAUSE
    second = intake.spawn_worker("worker-2")
    done = await intake.finished(job, second)
    assert done.status is JobStatus.COMPLETED, f"{done.error}; {intake.explain()}"
    assert done.attempts == 2
    await intake.assert_recorded_once(case, job, big)
    # The first transfer was cut off by the kill; the second went to the end.
    first_transfer, *_, last_transfer = intake.files.of("cctv.mp4")
    assert first_transfer.broken
    assert first_transfer.sent < len(big)
    assert last_transfer.finished
    # The officer's receipt card, updated by the second worker.
    await intake.officer.wait_for_update("Exhibit JS/1")
    intake.assert_no_worker_errors()


async def test_a_worker_stopped_mid_upload_puts_the_job_back_at_once_and_exits_cleanly(
    intake: Rig, big: bytes
) -> None:
    case = await intake.open_case("MET-24-0104")
    intake.files.pause = SLOW_PAUSE
    job = await intake.send_file(case, "cctv.mp4", big, "stopped-mid-upload")
    # A hold of ten minutes: were the message not put back, no worker could see it now.
    first = intake.spawn_worker(
        "worker-1", EXHIBIT_INTAKE_HOLD_SECONDS="600", EXHIBIT_INTAKE_DRAIN_SECONDS="0"
    )
    await intake.staging(case, job, first)
    assert await intake.visible_messages() == []
    first.send_signal(signal.SIGTERM)
    assert await intake.exited(first) == 0, intake.explain()

    log = intake.log_of("worker-1")
    assert f"Job {job} put back on the queue: the worker is stopping" in log, log
    assert "Ingest worker drained: 0 finished, 1 put back" in log, log
    assert "Ingest worker stopped" in log, log
    assert await intake.visible_messages() == [job]
    assert await intake.exhibits(case) == []
    left = await intake.job(job)
    assert (left.status, left.attempts) == (JobStatus.RUNNING, 1)

    intake.files.pause = STEADY_PAUSE
    second = intake.spawn_worker("worker-2")
    done = await intake.finished(job, second)
    assert done.status is JobStatus.COMPLETED, f"{done.error}; {intake.explain()}"
    assert done.attempts == 2
    await intake.assert_recorded_once(case, job, big)
    intake.assert_no_worker_errors()


async def test_a_worker_stopped_mid_upload_finishes_the_job_within_its_drain_time(
    intake: Rig, big: bytes
) -> None:
    case = await intake.open_case("MET-24-0105")
    intake.files.pause = SLOW_PAUSE
    job = await intake.send_file(case, "cctv.mp4", big, "drained-mid-upload")
    worker = intake.spawn_worker("worker", EXHIBIT_INTAKE_DRAIN_SECONDS="120")
    await intake.staging(case, job, worker)
    worker.send_signal(signal.SIGTERM)
    intake.files.fast()  # the rest of the file arrives while the worker drains
    assert await intake.exited(worker) == 0, intake.explain()

    log = intake.log_of("worker")
    assert "Ingest worker draining: 1 job(s) under way" in log, log
    assert "Ingest worker drained: 1 finished, 0 put back" in log, log
    done = await intake.job(job)
    assert (done.status, done.attempts) == (JobStatus.COMPLETED, 1), intake.explain()
    await intake.assert_recorded_once(case, job, big)
    assert await intake.visible_messages() == []
    (transfer,) = intake.files.of("cctv.mp4")
    assert transfer.finished
    intake.assert_no_worker_errors()


async def test_a_blob_committed_by_a_worker_that_died_before_recording_is_adopted_once(
    intake: Rig,
) -> None:
    case = await intake.open_case("MET-24-0102")
    content = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(3 * MIB)
    job = await intake.send_file(case, "door.jpg", content, "died-after-commit")
    blob_name = f"{case.id}/{job}"

    # As a worker killed between the commit and the record would have left it.
    async def one_chunk() -> AsyncIterator[bytes]:
        yield content

    await intake.store.put(
        case.region,
        blob_name,
        one_chunk(),
        content_type="image/jpeg",
        metadata={"case": case.id, "job": job},
        tags={"case": case.reference, "job": job},
    )
    blob = intake.blob(case.region, blob_name)
    committed = (await blob.get_blob_properties()).etag

    worker = intake.spawn_worker("worker")
    done = await intake.finished(job, worker)
    assert done.status is JobStatus.COMPLETED, f"{done.error}; {intake.explain()}"
    exhibit = await intake.assert_recorded_once(case, job, content)
    # Adopted as it was, not written again; its type sniffed from the stored bytes.
    assert (await blob.get_blob_properties()).etag == committed
    assert exhibit.detected_type == "image/jpeg"
    await intake.officer.wait_for_update("Exhibit JS/1")
    intake.assert_no_worker_errors()


async def test_storage_stopped_mid_ingest_and_started_again_loses_nothing(
    base_env: dict[str, str],
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    tmp_path: Path,
    big: bytes,
) -> None:
    # Azurite of its own, on disk, so that it can stop and start again with its data.
    ports, accounts, location = Ports.free(), make_accounts(), tmp_path / "azurite"
    storage = Children(tmp_path / "azurite-logs")
    await asyncio.to_thread(start_azurite, storage, ports, accounts, location)
    try:
        env = dict(base_env)
        for account in accounts:
            key = f"EXHIBIT_REGION_{account.region.upper()}_CONNECTION_STRING"
            env[key] = account.connection_string(ports)
        env["EXHIBIT_QUEUE_CONNECTION_STRING"] = accounts[0].connection_string(ports)
        async with rig(env, bot_client, connector, tmp_path / "logs") as intake:
            case = await intake.open_case("MET-24-0103")
            intake.files.pause = SLOW_PAUSE
            job = await intake.send_file(case, "bodycam.mp4", big, "storage-restarted")
            blob_name = f"{case.id}/{job}"
            worker = intake.spawn_worker("worker")

            async def staging() -> int | None:
                assert worker.poll() is None, f"the worker exited early; {intake.explain()}"
                staged = await intake.uncommitted_blocks(case.region, blob_name)
                return staged or None

            await until("the worker staging blocks", staging, 30, intake.explain)
            await asyncio.to_thread(storage.stop)
            # While storage is away the download runs on, and nothing is recorded without it;
            # then storage comes back with the same data.
            await asyncio.sleep(1)
            assert await intake.exhibits(case) == []
            await asyncio.to_thread(start_azurite, storage, ports, accounts, location)
            intake.files.fast()
            done = await intake.finished(job, worker)
            explain = f"{intake.explain()}, azurite log: {storage.log_dir}"
            assert done.status is JobStatus.COMPLETED, f"{done.error}; {explain}"
            await intake.assert_recorded_once(case, job, big)
            # Only the blocks of the attempt that finished were committed.
            committed, _ = await intake.blob(case.region, blob_name).get_block_list("committed")
            assert len(committed) == -(-len(big) // BLOCK_SIZE)
            await intake.officer.wait_for_update("Exhibit JS/1")
            verified = await intake.ask(f"evidence verify {case.reference} JS/1")
            assert "Verified: the stored file matches" in verified
            intake.assert_no_worker_errors()
    finally:
        await asyncio.to_thread(storage.stop)
