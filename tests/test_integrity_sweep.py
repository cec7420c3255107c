"""The integrity sweep against the real app: Azurite blobs, SQLite and PostgreSQL records, the
recording connector as Teams. Time is a fake clock: the tests read the sleeps the pacer asks
for and move the clock past leases and periods, never wait for them."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from azure.storage.blob.aio import BlobServiceClient

from evidence.custody import SYSTEM_ACTOR, Action, CustodyEntry
from evidence.model import Case, Exhibit
from evidence.records import Records
from evidence.sweeps import SweepState
from exhibit.composition import INTEGRITY_SWEEP, SERVICES
from exhibit.settings import Settings, load_settings
from storage.blobs import API_VERSION
from storage.database import create_engine
from storage.records import SqlRecords
from tests.conftest import Azurite, BotClientFactory
from tests.support.connector import RecordingConnector, personal_chat
from tests.support.conversation import (
    CASE_CHANNEL,
    PERSONAL_CHAT,
    Conversation,
    card_of,
    teams_file,
)
from tests.support.people import JANE, RAVI, SARAH, channel_members
from worker.integrity import IntegritySweep, Outcome, Step, SweepOptions, SweepParts
from worker.pacing import Clock, Pacer

pytest_plugins = ["tests.support.postgres", "tests.support.record_backends"]

CHANNEL = "19:exhibit-case-channel@thread.tacv2"
SECURITY = "19:professional-standards@thread.tacv2"
START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
LEASE = timedelta(seconds=120)
PERIOD = timedelta(days=7)
FILES = {
    "door.jpg": os.urandom(100_000),
    "statement.pdf": os.urandom(250_000),
    "interview.mp3": os.urandom(1_000_000),
    "cctv.mp4": os.urandom(40_000),
}


class FakeClock:
    """Wall and monotonic time that move only when told to, or when the pacer sleeps."""

    def __init__(self) -> None:
        self.elapsed = 0.0
        self.sleeps: list[float] = []
        self.read_at_sleep: list[tuple[float, int]] = []  # (time after the sleep, bytes read)
        self.pacer: Pacer | None = None

    def now(self) -> datetime:
        return START + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds
        if self.pacer is not None:
            self.read_at_sleep.append((self.elapsed, self.pacer.read_bytes))

    def advance(self, delta: timedelta) -> None:
        self.elapsed += delta.total_seconds()

    def clock(self) -> Clock:
        return Clock(now=self.now, monotonic=self.monotonic, sleep=self.sleep)


@pytest.fixture
async def file_server() -> AsyncIterator[str]:
    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=FILES[request.match_info["name"]])

    app = web.Application()
    app.router.add_get("/files/{name}", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/files"))
    await server.close()


@pytest.fixture
def sweep_settings(base_env: dict[str, str], database_url: str, connector_url: str) -> Settings:
    """The app on the backend under test; the scheduled sweep off (the tests step it)."""
    return load_settings(
        {
            **base_env,
            "EXHIBIT_DATABASE_URL": database_url,
            "EXHIBIT_SWEEP_ENABLED": "false",
            "EXHIBIT_SECURITY_CHANNEL_ID": SECURITY,
            "EXHIBIT_SECURITY_CHANNEL_SERVICE_URL": connector_url,
        }
    )


@pytest.fixture
def connector_url(connector: tuple[RecordingConnector, str]) -> str:
    return connector[1]


@pytest.fixture
async def team(
    sweep_settings: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
) -> Conversation:
    recorder, url = connector
    recorder.members[CHANNEL] = channel_members(JANE, RAVI, SARAH)
    return Conversation(await bot_client(sweep_settings), recorder, url, where=CASE_CHANNEL)


async def open_case(team: Conversation, reference: str, names: list[str], *, where: str,
                    file_url: str) -> None:  # fmt: skip
    """A case with one exhibit per file, taken in through the real intake."""
    await team.say(f"case open {reference} Burglary", where=where)
    for number, name in enumerate(names, start=1):
        await team.say(f"add {reference}", [teams_file(name, f"{file_url}/{name}")], where=where)
        await taken_in(team, reference, number)


async def taken_in(team: Conversation, reference: str, count: int) -> None:
    """Wait until the worker has recorded `count` exhibits of the case."""
    records = team.client.app[SERVICES].records
    for _ in range(200):
        async with records.unit() as unit:
            case = await unit.case_by_reference(reference)
            if case is not None and len(await unit.exhibits_of(case.id)) >= count:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{reference} never had {count} exhibit(s)")


def sweep_of(team: Conversation, clock: FakeClock, *, owner: str, records: Records | None = None,
             time: Clock | None = None) -> IntegritySweep:  # fmt: skip
    """A sweep over the app's records, storage and Teams alerts, on the fake clock."""
    app = team.client.app
    services = app[SERVICES]
    sweep = IntegritySweep(
        SweepParts(
            records=records or services.records,
            store=services.evidence_store,
            alerts=app[INTEGRITY_SWEEP].alerts,
            anchoring=services.anchoring,
            clock=time or clock.clock(),
        ),
        SweepOptions(bytes_per_second=64 << 10, period=PERIOD, lease=LEASE),
        owner=owner,
    )
    clock.pacer = sweep.pacer
    return sweep


async def until_finished(sweep: IntegritySweep) -> list[Step]:
    steps = []
    for _ in range(50):
        steps.append(await sweep.step())
        if steps[-1].outcome is Outcome.FINISHED:
            return steps
    raise AssertionError(f"the pass never finished: {steps[-3:]}")


async def case_and_exhibits(records: Records, reference: str) -> tuple[Case, list[Exhibit]]:
    async with records.unit() as unit:
        case = await unit.case_by_reference(reference)
        assert case is not None
        return case, list(await unit.exhibits_of(case.id))


async def sweep_results(records: Records, case: Case) -> list[CustodyEntry]:
    async with records.unit() as unit:
        chain = await unit.custody(case.id)
    return [
        e for e in chain if e.action == Action.EXHIBIT_VERIFIED and e.actor_id == SYSTEM_ACTOR.id
    ]


async def state_of(records: Records) -> SweepState:
    async with records.unit() as unit:
        state = await unit.sweep_state()
    assert state is not None
    return state


async def replace_blob(azurite: Azurite, exhibit: Exhibit, data: bytes | None) -> None:
    """Change (or, with None, delete) the stored bytes directly in storage, as an attacker."""
    async with BlobServiceClient.from_connection_string(
        azurite.connection_string(exhibit.region), api_version=API_VERSION
    ) as service:
        blob = service.get_blob_client("evidence", exhibit.blob_name)
        if data is None:
            await blob.delete_blob()
        else:
            await blob.upload_blob(data, overwrite=True)


def alert_cards(recorder: RecordingConnector, conversation: str) -> list[str]:
    """The alert cards posted in one conversation, as text."""
    cards = [str(card_of(body)) for body in recorder.posted_to(conversation)]
    return [card for card in cards if "Integrity alert" in card]


async def test_a_tampered_blob_is_found_in_one_pass_and_alerted_to_both_channels(
    team: Conversation, file_server: str, azurite: Azurite
) -> None:
    records = team.client.app[SERVICES].records
    await open_case(team, "MET-26-0301", ["door.jpg", "statement.pdf"], where=CASE_CHANNEL,
                    file_url=file_server)  # fmt: skip
    # A case without a channel: its alert still reaches the security channel.
    await open_case(team, "MET-26-0302", ["cctv.mp4"], where=PERSONAL_CHAT, file_url=file_server)
    bound, (door, statement) = await case_and_exhibits(records, "MET-26-0301")
    unbound, (cctv,) = await case_and_exhibits(records, "MET-26-0302")
    await replace_blob(azurite, statement, b"a different statement")
    await replace_blob(azurite, cctv, None)
    clock = FakeClock()
    sweep = sweep_of(team, clock, owner="worker-a")

    steps = await until_finished(sweep)

    pass_id = steps[-1].pass_id
    checked = {s.exhibit_id: s.matches for s in steps if s.outcome is Outcome.CHECKED}
    assert checked == {door.id: True, statement.id: False, cctv.id: False}
    # Every result is in the case's chain, by Exhibit, with the pass.
    results = await sweep_results(records, bound) + await sweep_results(records, unbound)
    by_exhibit = {e.exhibit_id: e.details for e in results}
    assert len(results) == 3
    assert {d["pass"] for d in by_exhibit.values()} == {pass_id}
    assert by_exhibit[statement.id]["matches"] is False
    assert (
        by_exhibit[statement.id]["found_sha256"]
        == hashlib.sha256(b"a different statement").hexdigest()
    )
    assert by_exhibit[cctv.id]["problem"] == "the stored file is missing"
    # Alerts: the tampered exhibit to its case channel and the security channel; the missing
    # one of the unbound case to the security channel only; nothing in a personal chat.
    recorder = team.recorder
    in_case_channel = alert_cards(recorder, CHANNEL)
    in_security = alert_cards(recorder, SECURITY)
    assert len(in_case_channel) == 1
    assert len(in_security) == 2
    tampered = in_case_channel[0]
    assert "MET-26-0301 JS/2" in tampered
    assert statement.sha256 in tampered
    assert hashlib.sha256(b"a different statement").hexdigest() in tampered
    assert tampered in in_security
    assert any("MET-26-0302 JS/1" in card and "missing" in card for card in in_security)
    assert not alert_cards(recorder, personal_chat(JANE.teams_id))
    for card in in_case_channel + in_security:  # no content, no file names
        assert "a different statement" not in card
        assert "statement.pdf" not in card
        assert "cctv.mp4" not in card
    async with records.unit() as unit:
        assert await unit.open_integrity_alerts() == []
    state = await state_of(records)
    assert (state.checked, state.mismatches) == (3, 2)
    assert state.finished_at is not None


async def test_an_alert_that_cannot_be_posted_is_kept_and_posted_at_the_next_step(
    base_env: dict[str, str],
    database_url: str,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    file_server: str,
    azurite: Azurite,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The security channel's service is down at first (503 to every post).
    security = RecordingConnector()
    down = [True]

    @web.middleware
    async def outage(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if down[0]:
            return web.json_response({"error": {"code": "ServiceUnavailable"}}, status=503)
        return await handler(request)

    security.app.middlewares.append(outage)
    server = TestServer(security.app, host="127.0.0.1")
    await server.start_server()
    try:
        settings = load_settings(
            {
                **base_env,
                "EXHIBIT_DATABASE_URL": database_url,
                "EXHIBIT_SWEEP_ENABLED": "false",
                "EXHIBIT_SECURITY_CHANNEL_ID": SECURITY,
                "EXHIBIT_SECURITY_CHANNEL_SERVICE_URL": str(server.make_url("/")).rstrip("/"),
            }
        )
        recorder, url = connector
        recorder.members[CHANNEL] = channel_members(JANE, RAVI, SARAH)
        team = Conversation(await bot_client(settings), recorder, url, where=CASE_CHANNEL)
        records = team.client.app[SERVICES].records
        await open_case(team, "MET-26-0303", ["door.jpg", "statement.pdf"], where=CASE_CHANNEL,
                        file_url=file_server)  # fmt: skip
        case, (door, _) = await case_and_exhibits(records, "MET-26-0303")
        await replace_blob(azurite, door, b"swapped")
        sweep = sweep_of(team, FakeClock(), owner="worker-a")
        first = await sweep.step()
        while first.exhibit_id != door.id:  # id order: the door may come second
            first = await sweep.step()

        assert first.matches is False
        assert len(alert_cards(recorder, CHANNEL)) == 1  # the case channel took it
        assert alert_cards(security, SECURITY) == []
        async with records.unit() as unit:
            (waiting,) = await unit.open_integrity_alerts()
        assert [str(t) for t in waiting.pending] == ["security channel"]
        assert f"Integrity alert {waiting.id} not posted to the security channel" in caplog.text
        assert "Burglary" not in caplog.text  # no case title, names or hashes in the log
        assert "Jane" not in caplog.text
        assert door.sha256 not in caplog.text

        down[0] = False
        await sweep.step()  # the next step posts what is waiting first

        assert len(alert_cards(security, SECURITY)) == 1
        assert len(alert_cards(recorder, CHANNEL)) == 1  # not posted twice where it went
        async with records.unit() as unit:
            assert await unit.open_integrity_alerts() == []
        assert len(await sweep_results(records, case)) == 2
    finally:
        await server.close()


async def test_the_pass_reads_no_faster_than_the_budget(
    team: Conversation, file_server: str
) -> None:
    names = ["door.jpg", "statement.pdf", "interview.mp3"]
    await open_case(team, "MET-26-0304", names, where=CASE_CHANNEL, file_url=file_server)
    clock = FakeClock()
    sweep = sweep_of(team, clock, owner="worker-a")

    await until_finished(sweep)

    total = sum(len(FILES[name]) for name in names)
    budget = sweep.pacer.bytes_per_second
    assert sweep.pacer.read_bytes == total
    # Reads take no fake time, so the sleeps asked for are the whole pass: total / budget.
    assert sum(clock.sleeps) == pytest.approx(total / budget)
    # And at no moment had more been read than the budget allows for the time gone by.
    assert clock.read_at_sleep
    for elapsed, read in clock.read_at_sleep:
        assert read <= budget * elapsed + 1e-6


async def test_an_interrupted_pass_resumes_after_the_last_recorded_exhibit(
    team: Conversation, file_server: str
) -> None:
    records = team.client.app[SERVICES].records
    names = list(FILES)
    await open_case(team, "MET-26-0305", names, where=CASE_CHANNEL, file_url=file_server)
    case, exhibits = await case_and_exhibits(records, "MET-26-0305")
    sizes = {exhibit.id: exhibit.size for exhibit in exhibits}
    clock = FakeClock()
    first = sweep_of(team, clock, owner="worker-a")
    done_before = [(await first.step()).exhibit_id or "" for _ in range(2)]
    # worker-a dies here: no release. Its lease holds the others off until it expires.
    second = sweep_of(team, clock, owner="worker-b")
    assert (await second.step()).outcome is Outcome.BUSY
    clock.advance(LEASE + timedelta(seconds=1))

    steps = await until_finished(second)

    done_after = [s.exhibit_id or "" for s in steps if s.outcome is Outcome.CHECKED]
    assert set(done_before) | set(done_after) == set(sizes)
    assert not set(done_before) & set(done_after)  # the first two are not hashed again
    assert second.pacer.read_bytes == sum(sizes[exhibit_id] for exhibit_id in done_after)
    results = await sweep_results(records, case)
    assert sorted(e.exhibit_id or "" for e in results) == sorted(sizes)  # each exactly once
    assert len({e.details["pass"] for e in results}) == 1
    # worker-a, back from the dead, records nothing: the lease is worker-b's now.
    assert (await first.step()).outcome is Outcome.BUSY
    assert len(await sweep_results(records, case)) == len(sizes)


async def test_of_two_sweepers_one_holds_the_lease_until_it_expires(
    team: Conversation, file_server: str, database_url: str
) -> None:
    await open_case(team, "MET-26-0306", ["door.jpg", "cctv.mp4"], where=CASE_CHANNEL,
                    file_url=file_server)  # fmt: skip
    clock = FakeClock()
    # Two processes: each its own engine on the one database.
    engine = create_engine(database_url)
    try:
        first = sweep_of(team, clock, owner="worker-a")
        second = sweep_of(team, clock, owner="worker-b", records=SqlRecords(engine))

        outcomes = await asyncio.gather(first.step(), second.step())

        assert sorted(step.outcome for step in outcomes) == [Outcome.BUSY, Outcome.CHECKED]
        holder, other = (
            (first, second) if outcomes[0].outcome is Outcome.CHECKED else (second, first)
        )
        records = team.client.app[SERVICES].records
        assert (await state_of(records)).lease_owner == holder.owner
        clock.advance(LEASE - timedelta(seconds=1))
        assert (await other.step()).outcome is Outcome.BUSY  # not yet expired
        clock.advance(timedelta(seconds=2))
        taken = await other.step()  # the holder stopped renewing: taken over
        assert taken.outcome is Outcome.CHECKED
        assert (await state_of(records)).lease_owner == other.owner
        assert (await holder.step()).outcome is Outcome.BUSY
        await other.release()  # a clean stop hands over at once
        assert (await holder.step()).outcome is Outcome.FINISHED
    finally:
        await engine.dispose()


async def test_a_finished_pass_does_not_restart_before_the_period(
    team: Conversation, file_server: str
) -> None:
    await open_case(team, "MET-26-0307", ["door.jpg"], where=CASE_CHANNEL, file_url=file_server)
    clock = FakeClock()
    sweep = sweep_of(team, clock, owner="worker-a")
    finished = (await until_finished(sweep))[-1]

    assert (await sweep.step()).outcome is Outcome.IDLE
    finished_at = (await state_of(team.client.app[SERVICES].records)).finished_at
    assert finished_at is not None
    clock.advance(finished_at + PERIOD - clock.now() - timedelta(seconds=1))
    assert (await sweep.step()).outcome is Outcome.IDLE
    clock.advance(timedelta(seconds=1))
    again = await sweep.step()

    assert again.outcome is Outcome.CHECKED
    assert again.pass_id != finished.pass_id


async def test_stopping_cancels_the_pass_and_releases_the_lease(
    team: Conversation, file_server: str
) -> None:
    await open_case(team, "MET-26-0308", ["door.jpg"], where=CASE_CHANNEL, file_url=file_server)
    records = team.client.app[SERVICES].records
    pacing = asyncio.Event()

    async def long_sleep(_seconds: float) -> None:  # the pacer mid-pass, for as long as it takes
        pacing.set()
        await asyncio.Event().wait()

    clock = FakeClock()
    never_wakes = Clock(now=clock.now, monotonic=clock.monotonic, sleep=long_sleep)
    sweep = sweep_of(team, clock, owner="worker-a", time=never_wakes)
    stop = asyncio.Event()
    task = asyncio.create_task(sweep.run(stop))
    await pacing.wait()
    assert (await state_of(records)).lease_owner == "worker-a"

    stop.set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    state = await state_of(records)
    assert state.lease_owner is None
    assert state.cursor is None  # the exhibit being read was not recorded: read again later
    case, _ = await case_and_exhibits(records, "MET-26-0308")
    assert await sweep_results(records, case) == []


async def test_the_app_runs_the_sweep_in_its_background_and_releases_it_on_shutdown(
    base_env: dict[str, str], database_url: str, bot_client: BotClientFactory
) -> None:
    settings = load_settings(
        {**base_env, "EXHIBIT_DATABASE_URL": database_url, "EXHIBIT_SWEEP_ENABLED": "true"}
    )
    client = await bot_client(settings)
    records = client.app[SERVICES].records
    state = None
    for _ in range(200):  # an empty database: the first pass starts and finishes at once
        async with records.unit() as unit:
            state = await unit.sweep_state()
        if state is not None and state.finished_at is not None:
            break
        await asyncio.sleep(0.05)
    assert state is not None
    assert state.finished_at is not None
    assert state.lease_owner == client.app[INTEGRITY_SWEEP].owner

    await client.close()

    engine = create_engine(database_url)
    try:
        async with SqlRecords(engine).unit() as unit:
            after = await unit.sweep_state()
    finally:
        await engine.dispose()
    assert after is not None
    assert after.lease_owner is None
    assert after.pass_id == state.pass_id
