"""Many instances, one system: 3 service processes and 2 workers on one PostgreSQL and one Azurite.

Everything runs as it does in production, as separate processes (`python -m exhibit serve`,
`python -m exhibit worker`), anonymous as the other process-level tests are, replying to the
recording connector. Teams' traffic reaches the services through a round-robin load balancer
started here, which, like any load balancer, tries the next instance when one refuses the
connection (while it restarts). The scenario:

- 10 cases opened in 10 channels; 200 files sent in 40 messages from 20 personal chats, every
  message delivered twice at once (Teams redelivers), so the two copies land on two instances;
- one file is slow, and the worker ingesting it is SIGKILLed mid-upload (another takes over);
- one service instance is restarted (SIGTERM, then started again) while files arrive;
- on 5 cases a share is requested, two approvers click Approve at once (on two instances), then
  the requester revokes it while asking for a new link at the same moment;
- background jobs (the "large" threshold lowered so that the slow file is large): `evidence
  verify` of it asked twice at once on two instances makes one job, and the worker holding that
  job's lease is SIGKILLed mid-job (while it tells the officer); once the (short) lease expires
  the other worker finishes it. A share of it approved by two clicks at once makes one job.

Then: exactly one exhibit per file, exhibit references gap-free per case and officer, one
approval per share with the losing click answered, every share revoked and its links dead, every
case's chain of custody verifying, every intake job finished with the officer told on the
receipt card (as the connector recorded it), and every background job done with the officer
told and its verification or approval recorded once.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import ClientConnectorError, ClientSession, ClientTimeout, web
from aiohttp.test_utils import TestClient, TestServer
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob.aio import BlobServiceClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.devstack import Children, free_port
from evidence.custody import Action, verify_chain
from evidence.intake import idempotency_key
from evidence.jobs import JobState
from evidence.model import Case, Exhibit, ExhibitRef
from evidence.records import IntakeJob, JobStatus
from evidence.shares import ShareStatus
from storage.blobs import API_VERSION
from storage.database import create_engine
from storage.records import SqlRecords
from storage.tables import background_jobs
from tests.conftest import TENANT, Azurite
from tests.support.connector import Hold, RecordingConnector, personal_chat
from tests.support.conversation import CASE_CHANNEL, Conversation, card_of, teams_file
from tests.support.people import JANE, LIAM, RAVI, SARAH, Person, channel_members
from tests.support.slow_files import SlowFiles, serve_slow_files
from tests.support.waiting import until
from tests.test_sharing import _share_id

if TYPE_CHECKING:  # importing it here would keep pytest from registering it as a plugin
    from tests.support.postgres import PostgresServer

pytest_plugins = ["tests.support.postgres"]

pytestmark = pytest.mark.postgres


SERVE = [sys.executable, "-m", "exhibit", "serve", "--env-file", os.devnull]
WORKER = [sys.executable, "-m", "exhibit", "worker", "--env-file", os.devnull]
SERVICES = 3
CASES = 10
CHATS = 20
MESSAGES_PER_CHAT = 2
FILES_PER_MESSAGE = 5
SHARED_CASES = 5
MIB = 1024 * 1024
# Three 8 MiB blocks in pieces of 256 KiB: the first block briskly (0.05 s apart), then a crawl
# (1 s apart, still above the worker's minimum rate) of at least a minute, so that the worker is
# surely killed mid-upload; then at full speed for whoever takes the job next.
SLOW_BYTES = 24 * MIB
BRISK_PAUSE = 0.05
CRAWL_PAUSE = 1.0
HOLD_SECONDS = 5  # a killed worker's messages reappear this soon
INLINE_BYTES = MIB  # exhibits above this are verified (and shares approved) by background jobs
JOB_LEASE_SECONDS = 4  # a killed runner's job is claimed again this soon
TEAM = "19:exhibit-team-general@thread.tacv2"


def channel(case: int) -> str:
    """The channel of case number `case`."""
    return f"19:case-{case:02d}@thread.tacv2"


def reference(case: int) -> str:
    """The reference of case number `case`."""
    return f"MET-26-{case + 1:04d}"


def chat(number: int) -> str:
    """The conversation id of personal chat number `number`."""
    return f"a:exhibit-chat-{number:02d}"


def producer(chat_number: int) -> Person:
    """Who sends files in personal chat `chat_number`: Jane in the first ten, Liam after."""
    return JANE if chat_number < CHATS // 2 else LIAM


@dataclass(frozen=True, slots=True)
class SentFile:
    """One file of one message, as sent."""

    case: int
    chat: int
    activity_id: str
    position: int
    name: str
    content: bytes


class RoundRobin:
    """A reverse proxy handing requests to the service instances in turn.

    An instance that refuses the connection (stopped, restarting) is passed over for the next,
    as a cloud load balancer does after a failed connect; nothing is retried once sent.
    """

    def __init__(self, ports: list[int]) -> None:
        self.backends = [f"http://127.0.0.1:{port}" for port in ports]
        self._turn = itertools.count()
        self._session: ClientSession | None = None
        # (activity id, instance) of every activity handed on
        self.served: list[tuple[str, int]] = []
        self.picks: dict[str, int] = {}  # activity id -> instances picked for it so far
        self.picked = asyncio.Condition()
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.forward)
        self.app.on_cleanup.append(self._close)

    async def _close(self, _app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    async def forward(self, request: web.Request) -> web.StreamResponse:
        """Hand `request` to the next instance that accepts the connection."""
        if self._session is None:
            self._session = ClientSession(timeout=ClientTimeout(total=120))
        body = await request.read()
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() in {"content-type", "authorization", "user-agent"}
        }
        activity_id = str(json.loads(body).get("id")) if request.path == "/api/messages" else ""
        for _ in range(len(self.backends) * 20):
            instance = next(self._turn) % len(self.backends)
            async with self.picked:
                self.picks[activity_id] = self.picks.get(activity_id, 0) + 1
                self.picked.notify_all()
            try:
                async with self._session.request(
                    request.method,
                    self.backends[instance] + request.path_qs,
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                ) as answer:
                    payload = await answer.read()
                    kept = {
                        name: value
                        for name, value in answer.headers.items()
                        if name.lower() in {"content-type", "location", "content-disposition"}
                    }
            except ClientConnectorError:
                await asyncio.sleep(0.05)  # every instance may be between two lives
                continue
            if activity_id:
                self.served.append((activity_id, instance))
            return web.Response(status=answer.status, body=payload, headers=kept)
        return web.Response(status=502, text="no instance accepted the connection")


@dataclass
class System:
    """The processes, the load balancer in front of them, and views into what they recorded."""

    env: dict[str, str]
    ports: list[int]
    children: Children
    engine: AsyncEngine
    records: SqlRecords
    blobs: BlobServiceClient
    files: SlowFiles
    recorder: RecordingConnector
    balancer: RoundRobin
    front: TestClient[web.Request, web.Application]
    connector_url: str
    services: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start_service(self, number: int) -> subprocess.Popen[bytes]:
        """Start service instance `number` on its port."""
        env = {**self.env, "PORT": str(self.ports[number])}
        return self.children.spawn(f"service-{number}", SERVE, env)

    async def ready(self, number: int) -> None:
        """Wait until service instance `number` answers /readyz."""
        url = f"http://127.0.0.1:{self.ports[number]}/readyz"
        process = self.services[number]

        async def answers() -> bool | None:
            assert process.poll() is None, f"service-{number} exited; {self.explain()}"
            try:
                async with ClientSession() as client, client.get(url) as answer:
                    return True if answer.status == 200 else None
            except ClientConnectorError:
                return None

        await until(f"service-{number} ready", answers, 60, self.explain, every=0.2)

    async def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        """Start a worker process and wait until it takes jobs."""
        process = self.children.spawn(name, WORKER, self.env)
        self.workers[name] = process

        async def started() -> bool | None:
            assert process.poll() is None, f"{name} exited; {self.explain()}"
            return True if "Ingest worker started" in self.log_of(name) else None

        await until(f"{name} starting", started, 60, self.explain, every=0.2)
        return process

    def log_of(self, name: str) -> str:
        """What process `name` has written so far."""
        path = self.children.log_dir / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def explain(self) -> str:
        """Where to look when an assertion fails."""
        return f"process logs in {self.children.log_dir}"

    def talk(self, where: str = CASE_CHANNEL) -> Conversation:
        """A conversation driver talking to the system through the load balancer."""
        return Conversation(self.front, self.recorder, self.connector_url, where=where)

    async def job(self, key: str) -> IntakeJob | None:
        """The intake job of an idempotency key."""
        async with self.records.unit() as unit:
            return await unit.job_by_idempotency_key(key)

    async def staged_blocks(self, case: Case, job: str) -> int:
        """Blocks staged and not yet committed for the job's blob."""
        blob = self.blobs.get_blob_client("evidence", f"{case.id}/{job}")
        try:
            _committed, uncommitted = await blob.get_block_list("uncommitted")
        except ResourceNotFoundError:
            return 0
        return len(uncommitted)


def in_channel(case: int) -> dict[str, Any]:
    """Activity fields placing a message in case `case`'s channel."""
    return {
        "conversation": {
            "isGroup": True,
            "conversationType": "channel",
            "tenantId": TENANT,
            "id": f"{channel(case)};messageid={case}",
        },
        "channelData": {
            "teamsChannelId": channel(case),
            "teamsTeamId": TEAM,
            "channel": {"id": channel(case)},
            "team": {"id": TEAM},
            "tenant": {"id": TENANT},
        },
    }


def in_chat(number: int) -> dict[str, Any]:
    """Activity fields placing a message in personal chat `number`."""
    return {
        "conversation": {"conversationType": "personal", "tenantId": TENANT, "id": chat(number)},
        "channelData": {"tenant": {"id": TENANT}},
    }


def planned_files() -> list[list[SentFile]]:
    """200 files: two messages of five from each of the 20 chats, each chat adding to one case."""
    messages = []
    for number in range(CHATS):
        for message in range(MESSAGES_PER_CHAT):
            activity_id = f"files-{number:02d}-{message}"
            messages.append(
                [
                    SentFile(
                        number % CASES,
                        number,
                        activity_id,
                        position,
                        f"c{number:02d}-m{message}-f{position}.pdf",
                        b"%PDF-1.7\n" + os.urandom(2048),
                    )
                    for position in range(FILES_PER_MESSAGE)
                ]
            )
    # The very first file is the slow one, big enough to span several blocks.
    first = messages[0][0]
    messages[0][0] = SentFile(
        first.case, first.chat, first.activity_id, 0, "cctv.mp4", os.urandom(SLOW_BYTES)
    )
    return messages


@pytest.fixture
async def system(
    azurite: Azurite,
    base_env: dict[str, str],
    postgres_server: PostgresServer,
    connector: tuple[RecordingConnector, str],
    tmp_path: Path,
) -> AsyncIterator[System]:
    """3 services (no worker inside) behind a round-robin balancer, on one PostgreSQL."""
    recorder, connector_url = connector
    database = await postgres_server.create_database("exhibit_many")
    ports = [free_port() for _ in range(SERVICES)]
    balancer = RoundRobin(ports)
    front = TestClient(TestServer(balancer.app, host="127.0.0.1"))
    await front.start_server()
    env = {
        **base_env,
        "EXHIBIT_DATABASE_URL": database,
        "EXHIBIT_RUN_WORKER": "false",
        "EXHIBIT_INTAKE_HOLD_SECONDS": str(HOLD_SECONDS),
        "EXHIBIT_INTAKE_CONCURRENCY": "4",
        "EXHIBIT_INTAKE_SLOTS_PER_OFFICER": "4",
        "EXHIBIT_VERIFY_INLINE_BYTES": str(INLINE_BYTES),
        "EXHIBIT_JOB_LEASE_SECONDS": str(JOB_LEASE_SECONDS),
        "EXHIBIT_JOB_POLL_SECONDS": "1",
        "EXHIBIT_PUBLIC_URL": str(front.make_url("")).rstrip("/"),
    }
    engine = create_engine(database)
    blobs = BlobServiceClient.from_connection_string(
        azurite.connection_string("uksouth"), api_version=API_VERSION
    )
    children = Children(tmp_path / "logs")
    try:
        async with serve_slow_files() as files:
            system = System(
                env, ports, children, engine, SqlRecords(engine), blobs, files, recorder, balancer,
                front, connector_url,
            )  # fmt: skip
            system.services = [system.start_service(n) for n in range(SERVICES)]
            for number in range(SERVICES):
                await system.ready(number)
            yield system
    finally:
        await asyncio.to_thread(children.stop)
        await front.close()
        await blobs.close()
        await engine.dispose()
        await postgres_server.drop_database(database)


async def deliver_twice(system: System, message: list[SentFile], turn: asyncio.Lock) -> None:
    """Send one message of files, and the same activity again at the same moment, as Teams
    redelivers; both are answered. `turn` is held until the balancer has picked an instance for
    both copies, so that with every instance up they are handed to two different ones."""
    first = message[0]
    talk = system.talk()
    activity = talk.message(
        f"add {reference(first.case)}",
        sender=producer(first.chat),
        where="personal_message",
        activity_id=first.activity_id,
        **in_chat(first.chat),
    )
    activity["attachments"] = [
        teams_file(f.name, system.files.link(f.name, f.content)) for f in message
    ]
    async with turn:
        copies = [
            asyncio.create_task(talk.client.post("/api/messages", json=activity)) for _ in "ab"
        ]
        async with system.balancer.picked:
            await system.balancer.picked.wait_for(
                lambda: system.balancer.picks.get(first.activity_id, 0) >= len(copies)
            )
    answers = await asyncio.gather(*copies)
    assert [a.status for a in answers] == [202, 202]


async def test_three_services_and_two_workers_behave_as_one_system(system: System) -> None:
    talk = system.talk()
    everyone = channel_members(JANE, LIAM, RAVI, SARAH)
    for number in range(CASES):
        system.recorder.members[channel(number)] = everyone

    # Ten cases, opened at once, each in its own channel (which binds it), half by each officer.
    async def open_case(number: int) -> str:
        opener = JANE if number < CASES // 2 else LIAM
        return await talk.say(
            f"case open {reference(number)} Burglary {number}", sender=opener, **in_channel(number)
        )

    opened = await asyncio.gather(*(open_case(number) for number in range(CASES)))
    assert all("Case opened" in answer for answer in opened), opened
    cases: dict[int, Case] = {}
    async with system.records.unit() as unit:
        for number in range(CASES):
            found = await unit.case_by_reference(reference(number))
            assert found is not None
            assert found.region == "uksouth"
            cases[number] = found

    # The slow file first, with one worker only, so that it is that worker's to die with.
    messages = planned_files()
    turn = asyncio.Lock()
    slow = messages[0][0]
    system.files.pauses[slow.name] = BRISK_PAUSE
    doomed = await system.start_worker("worker-1")
    await deliver_twice(system, messages[0], turn)
    slow_key = idempotency_key(chat(slow.chat), slow.activity_id, 0)

    async def staging() -> int | None:
        job = await system.job(slow_key)
        if job is None:
            return None
        return await system.staged_blocks(cases[slow.case], job.id) or None

    await until("worker-1 staging the slow file", staging, 60, system.explain, every=0.2)
    system.files.pauses[slow.name] = CRAWL_PAUSE
    await system.start_worker("worker-2")

    async def send(some: list[list[SentFile]]) -> None:
        for start in range(0, len(some), 8):
            await asyncio.gather(*(deliver_twice(system, m, turn) for m in some[start : start + 8]))

    # Half of the rest, each message twice at once, with every instance up: the two copies of
    # every message so far were handed to two different instances.
    half = len(messages) // 2
    await send(messages[1:half])
    by_activity: dict[str, list[int]] = {}
    for activity_id, instance in system.balancer.served:
        by_activity.setdefault(activity_id, []).append(instance)
    for message in messages[:half]:
        handed = by_activity[message[0].activity_id]
        assert len(handed) == len(set(handed)) == 2, (message[0].activity_id, handed)

    # The other half, while instance 1 restarts (as on a new revision) and worker-1 dies.
    async def restart_instance_1() -> None:
        system.services[1].send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(system.services[1].wait, 60) == 0, system.explain()
        system.services[1] = system.start_service(1)
        await system.ready(1)

    async def kill_worker_1() -> None:
        (transfer,) = system.files.of(slow.name)
        assert not transfer.finished, "the slow file arrived before the kill: make it slower"
        doomed.kill()
        await asyncio.to_thread(doomed.wait)
        system.files.pauses[slow.name] = 0.0
        await system.start_worker("worker-3")  # as the scaler replaces it

    await asyncio.gather(send(messages[half:]), restart_instance_1(), kill_worker_1())
    handed_on = [activity_id for activity_id, _instance in system.balancer.served]
    for message in messages:
        assert handed_on.count(message[0].activity_id) == 2, message[0].activity_id

    # Every job ends, and exactly one per file.
    keys = {
        idempotency_key(chat(f.chat), f.activity_id, f.position): f
        for message in messages
        for f in message
    }
    assert len(keys) == CHATS * MESSAGES_PER_CHAT * FILES_PER_MESSAGE == 200

    async def all_settled() -> dict[str, IntakeJob] | None:
        jobs: dict[str, IntakeJob] = {}
        for key in keys:
            job = await system.job(key)
            if job is None or job.status not in {JobStatus.COMPLETED, JobStatus.FAILED}:
                return None
            jobs[key] = job
        return jobs

    jobs = await until("every intake job finished", all_settled, 150, system.explain, every=0.2)
    failed = {keys[k].name: j.error for k, j in jobs.items() if j.status is JobStatus.FAILED}
    assert not failed, f"{failed}; {system.explain()}"
    slow_job = jobs[slow_key]
    assert slow_job.attempts >= 2, "the slow file was not taken over from the killed worker"

    # Exactly one exhibit per file, with its bytes; references gap-free per case and officer.
    exhibits_by_case: dict[int, list[Exhibit]] = {}
    async with system.records.unit() as unit:
        for number, case in cases.items():
            exhibits_by_case[number] = list(await unit.exhibits_of(case.id))
    by_job = {e.id: e for exhibits in exhibits_by_case.values() for e in exhibits}
    assert len(by_job) == 200
    assert sum(len(e) for e in exhibits_by_case.values()) == 200
    for key, job in jobs.items():
        sent = keys[key]
        exhibit = by_job[job.id]
        assert exhibit.case_id == cases[sent.case].id
        assert exhibit.sha256 == hashlib.sha256(sent.content).hexdigest()
    for number, exhibits in exhibits_by_case.items():
        numbers: dict[str, list[int]] = {}
        for exhibit in exhibits:
            numbers.setdefault(exhibit.ref.initials, []).append(exhibit.ref.number)
        assert sorted(numbers) == ["JS", "LW"], numbers
        for initials, taken in numbers.items():
            assert sorted(taken) == list(range(1, len(taken) + 1)), (number, initials, taken)

    # The officer was told: the receipt the jobs belong to ends naming every file's exhibit, and
    # a receipt the other copy of the message posted says the files are being recorded already
    # (never "Receiving" for ever). Reports redraw after the jobs' records are committed, so
    # the last updates may still be on their way: wait for them first.
    def last_update(message: list[Any]) -> str:
        first = message[0]
        receipt = jobs[idempotency_key(chat(first.chat), first.activity_id, 0)].receipt_activity_id
        path = f"/v3/conversations/{chat(first.chat)}/activities/{receipt}"
        updates = [r for r in system.recorder.received if r.method == "PUT" and r.path == path]
        return str(card_of(updates[-1].body)) if updates else ""

    async def receipts_final() -> bool | None:
        for message in messages:
            last = last_update(message)
            for sent in message:
                job = jobs[idempotency_key(chat(sent.chat), sent.activity_id, sent.position)]
                if f"Exhibit {by_job[job.id].ref}" not in last:
                    return None
        return True

    await until("every receipt naming its exhibits", receipts_final, 60, system.explain, every=0.2)
    for message in messages:
        first = message[0]
        receipt = jobs[idempotency_key(chat(first.chat), first.activity_id, 0)].receipt_activity_id
        conversation = f"/v3/conversations/{chat(first.chat)}/activities"
        receipts = [
            r.id
            for r in system.recorder.received
            if r.method == "POST"
            and r.path == f"{conversation}/{first.activity_id}"
            and "Receiving" in str(card_of(r.body))
        ]
        assert receipt in receipts, (first.activity_id, receipt, receipts)
        for posted in receipts:
            path = f"{conversation}/{posted}"
            updates = [r for r in system.recorder.received if r.method == "PUT" and r.path == path]
            assert updates, f"a receipt for {first.activity_id} was never updated"
            last = str(card_of(updates[-1].body))
            if posted != receipt:
                assert "already being recorded" in last, last
                continue
            for sent in message:
                job = jobs[idempotency_key(chat(sent.chat), sent.activity_id, sent.position)]
                assert f"Exhibit {by_job[job.id].ref}" in last, (sent.name, last)

    # Shares: two approvers click at once, then a revocation races a new link.
    for number in range(SHARED_CASES):
        small = next(e for e in exhibits_by_case[number] if e.size <= INLINE_BYTES)
        await share_race(system, talk, number, small.ref)

    # Background jobs, on the slow (large) file: a verification whose runner dies mid-job, and
    # an approval clicked twice at once.
    large = by_job[slow_job.id]
    await verify_in_background(system, talk, slow.case, large)
    await approve_in_background(system, talk, slow.case, large)
    async with system.engine.connect() as connection:
        rows = (await connection.execute(select(background_jobs))).all()
    assert sorted(row.kind for row in rows) == ["approve", "verify"], rows
    assert {row.state for row in rows} == {JobState.DONE.value}, rows

    # Every case's chain verifies, with one intake started and completed per job.
    async with system.records.unit() as unit:
        for number, case in cases.items():
            chain = list(await unit.custody(case.id))
            head = await unit.custody_head(case.id)
            report = verify_chain(case.id, chain, head=head)
            assert report.ok, (reference(number), report.problem)
            actions = [e.action for e in chain]
            assert actions.count(Action.INTAKE_STARTED) == len(exhibits_by_case[number])
            assert actions.count(Action.INTAKE_COMPLETED) == len(exhibits_by_case[number])
            completed = [str(e.exhibit_id) for e in chain if e.action == Action.INTAKE_COMPLETED]
            assert sorted(completed) == sorted(e.id for e in exhibits_by_case[number])
    # And no process logged an error on the way (a false alarm about a chain is one).
    for log in sorted(system.children.log_dir.glob("*.log")):
        errors = [
            line
            for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
            if '"level": "ERROR"' in line or " ERROR " in line
        ]
        assert not errors, f"{log.name} logs errors:\n" + "\n".join(errors[:5])


async def jobs_keyed(system: System, key: str) -> list[Any]:
    """The background job rows (any state) with dedupe key `key`."""
    async with system.engine.connect() as connection:
        query = select(background_jobs).where(background_jobs.c.dedupe_key == key)
        return list((await connection.execute(query)).all())


async def kill_lease_holder(system: System, job: Any, held: Hold) -> None:
    """SIGKILL the worker holding `job`'s lease (its owner names the process), let its held post
    go, and start another worker, as the scaler would."""
    pid = int(str(job.lease_owner).split("-")[1])
    (name,) = [n for n, p in system.workers.items() if p.pid == pid and p.poll() is None]
    system.workers[name].kill()
    await asyncio.to_thread(system.workers[name].wait)
    held.released.set()
    await system.start_worker(f"worker-{len(system.workers) + 1}")


async def verify_in_background(
    system: System, talk: Conversation, number: int, large: Exhibit
) -> None:
    """Jane asks `evidence verify` of a large exhibit twice at once, on two instances: one job.
    The worker holding its lease is SIGKILLed while it posts the result; another finishes it."""
    where = in_channel(number)
    verified = "Verified: the stored file matches"
    held = system.recorder.hold(
        lambda path, body: channel(number) in path and verified in str(body)
    )
    ask = f"evidence verify {reference(number)} {large.ref}"
    first, second = await asyncio.gather(
        *(talk.say(ask, sender=JANE, activity_id=f"verify-{n}", **where) for n in (1, 2))
    )
    assert on_two_instances(system, "verify-1", "verify-2")
    assert sorted(["Already verifying" in a for a in (first, second)]) == [False, True], (
        first,
        second,
    )
    assert all("Verifying" in a or "Already verifying" in a for a in (first, second))

    # The job is under way: it verified, recorded, and is telling Jane (held). Kill its runner.
    await asyncio.wait_for(held.arrived.wait(), 60)
    (job,) = await jobs_keyed(system, f"verify {large.id} {JANE.object_id}")
    assert job.state == JobState.RUNNING.value, job
    assert job.attempts == 1, job
    await kill_lease_holder(system, job, held)

    async def done() -> Any | None:
        (row,) = await jobs_keyed(system, f"verify {large.id} {JANE.object_id}")
        return row if JobState(row.state).finished else None

    finished = await until(
        "the verification finished elsewhere", done, 60, system.explain, every=0.2
    )
    assert finished.state == JobState.DONE.value, finished
    assert finished.outcome == "verified", finished
    assert finished.attempts == 2, finished
    assert finished.lease_owner is None, finished
    # Jane was told once (the dead runner's post never arrived), and it was recorded once.
    told = [b for b in system.recorder.posted_to(channel(number)) if verified in str(b)]
    assert len(told) == 1, told
    async with system.records.unit() as unit:
        entries = await unit.custody_about(large.case_id, [large.id], [Action.EXHIBIT_VERIFIED])
    by_jane = [e for e in entries if e.actor_id == JANE.object_id]
    assert len(by_jane) == 1, by_jane
    assert by_jane[0].details["matches"] is True


async def request_share(talk: Conversation, number: int, exhibit: ExhibitRef) -> str:
    """Jane asks, in case `number`'s channel, to share `exhibit` with the CPS; the share's id."""
    requested = await talk.say(
        f"share {reference(number)} {exhibit} with lawyer@cps.gov.uk reason trial bundle",
        sender=JANE,
        **in_channel(number),
    )
    return _share_id(requested)


async def approve_in_background(
    system: System, talk: Conversation, number: int, large: Exhibit
) -> None:
    """A share of a large exhibit, approved by Ravi and Sarah at once on two instances: one
    approval job. Its runner is SIGKILLed after the decision, while it sends Jane the link;
    another finishes the job: one approval recorded, the card redrawn, Jane told how to have
    a link (the one made died with the runner)."""
    where = in_channel(number)
    share_id = await request_share(talk, number, large.ref)
    jane = personal_chat(JANE.teams_id)
    held = system.recorder.hold(lambda path, body: jane in path and share_id in str(body))
    ravi, sarah = await asyncio.gather(
        click_approve(talk, RAVI, share_id, where), click_approve(talk, SARAH, share_id, where)
    )
    assert on_two_instances(system, f"approve-{share_id}-Ravi", f"approve-{share_id}-Sarah")
    answers = sorted("already being checked" in a for a in (ravi, sarah))
    assert answers == [False, True], (ravi, sarah)

    await asyncio.wait_for(held.arrived.wait(), 60)
    (job,) = await jobs_keyed(system, f"approve {share_id}")
    assert job.state == JobState.RUNNING.value, job
    await kill_lease_holder(system, job, held)

    async def done() -> Any | None:
        rows = await jobs_keyed(system, f"approve {share_id}")
        assert len(rows) == 1, rows
        return rows[0] if JobState(rows[0].state).finished else None

    finished = await until(
        "the approval job finished elsewhere", done, 60, system.explain, every=0.2
    )
    assert finished.state == JobState.DONE.value, finished
    assert finished.outcome == ShareStatus.APPROVED.value, finished
    assert finished.attempts == 2, finished
    async with system.records.unit() as unit:
        share = await unit.share(share_id)
        chain = await unit.custody(large.case_id)
    assert share is not None
    assert share.status is ShareStatus.APPROVED
    about = [e for e in chain if e.details.get("share") == share_id]
    actions = [e.action for e in about]
    assert actions.count(Action.SHARE_APPROVED) == 1, actions
    (delivery,) = [e for e in about if e.action == Action.SHARE_LINK_DELIVERED]
    assert delivery.details["via"] == "not delivered", delivery.details
    # The link never reached Jane; she was told where she asked how to have one, and the
    # approval card in the channel was redrawn as approved.
    assert not [b for b in system.recorder.posted_to(jane) if share_id in str(b)]
    told = [
        b
        for b in system.recorder.posted_to(channel(number))
        if f"share link {share_id}" in str(b) and "lost" in str(b)
    ]
    assert len(told) == 1, told
    redrawn = [
        r
        for r in system.recorder.received
        if r.method == "PUT" and channel(number) in r.path and "Approved by" in str(r.body)
    ]
    assert redrawn, "the approval card was not redrawn"


def on_two_instances(system: System, first: str, second: str) -> bool:
    """Whether the balancer handed these two activities to two different instances."""
    handed = dict(system.balancer.served)
    return handed[first] != handed[second]


async def click_approve(
    talk: Conversation, approver: Person, share_id: str, where: dict[str, Any]
) -> str:
    """`approver` clicks Approve on the share's card; the card answered, as text."""
    activity = talk.message(None, sender=approver, activity_id=f"approve-{share_id}-"
                            f"{approver.given_name}", **where)  # fmt: skip
    activity.update(
        type="invoke",
        name="adaptiveCard/action",
        replyToId="approval-card",
        value={"action": {"type": "Action.Execute", "verb": "share.approve",
                          "data": {"shareId": share_id}}, "trigger": "manual"},
    )  # fmt: skip
    answer = await talk.client.post("/api/messages", json=activity)
    assert answer.status == 200
    body = await answer.json()
    assert body["statusCode"] == 200, body
    return str(body["value"])


async def share_race(system: System, talk: Conversation, number: int, exhibit: ExhibitRef) -> None:
    """Request a share on case `number`; Ravi and Sarah approve at once; Jane revokes it while
    asking for a new link."""
    where = in_channel(number)
    share_id = await request_share(talk, number, exhibit)

    ravi, sarah = await asyncio.gather(
        click_approve(talk, RAVI, share_id, where), click_approve(talk, SARAH, share_id, where)
    )
    assert on_two_instances(system, f"approve-{share_id}-Ravi", f"approve-{share_id}-Sarah")
    async with system.records.unit() as unit:
        share = await unit.share(share_id)
    assert share is not None
    assert share.status is ShareStatus.APPROVED
    winner = share.decided_by_name
    assert winner in {RAVI.name, SARAH.name}
    # Both are answered with the approved card, by the winner; the loser is told what happened.
    for answer in (ravi, sarah):
        assert f"Approved by {winner}" in answer, answer

    revoke, renew = f"revoke-{share_id}", f"renew-{share_id}"
    revoked, renewed = await asyncio.gather(
        talk.say(
            f"share revoke {share_id} reason sent to the wrong lawyer",
            sender=JANE,
            activity_id=revoke,
            **where,
        ),
        talk.say(f"share link {share_id}", sender=JANE, activity_id=renew, **where),
    )
    assert on_two_instances(system, revoke, renew)
    assert "Share revoked" in revoked or "revoked" in revoked, revoked
    async with system.records.unit() as unit:
        share = await unit.share(share_id)
        assert share is not None
        chain = await unit.custody(share.case_id)
    assert share.status is ShareStatus.REVOKED, renewed
    about = [e for e in chain if e.details.get("share") == share_id]
    actions = [e.action for e in about]
    assert actions.count(Action.SHARE_APPROVED) == 1, actions
    assert actions.count(Action.SHARE_REVOKED) == 1, actions
    # No link ever sent for it works, whichever instance is asked: the last one is gone (410),
    # any earlier one replaced by a new link is unknown (404).
    links = [
        found
        for body in system.recorder.posted_to(personal_chat(JANE.teams_id))
        if share_id in str(body)
        for found in re.findall(r"/s/[A-Za-z0-9_-]{43,}", str(body))
    ]
    assert links, f"no link was sent for {share_id}"
    for link in links:
        answers = [(await talk.client.get(link)).status for _ in range(SERVICES)]
        assert answers == [410 if link == links[-1] else 404] * SERVICES, (link, answers)
