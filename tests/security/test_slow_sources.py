"""Slow sources: a source that drips bytes is cut, and one officer's drips never hold every slot.

Real HTTP on loopback throughout: the downloads against local servers that pace their answers,
the intake through the real bot app with its in-process worker, Azurite and SQLite. Limits are
set small through the settings so that each test takes seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from evidence.custody import Action
from evidence.errors import SourceTooSlow
from evidence.records import JobStatus
from exhibit.settings import load_settings
from graph.files import GraphFileSource, open_graph_file_source
from storage.database import create_engine
from storage.host_allow_list import HostAllowList
from storage.records import SqlRecords
from storage.sources import HttpSource, Pace
from tests.conftest import BotClientFactory
from tests.fakes.tenant import Tls, fake_tenant
from tests.support.connector import RecordingConnector
from tests.support.conversation import Conversation, teams_file
from tests.support.people import JANE, LIAM
from tests.support.slow_files import serve_slow_files

T = TypeVar("T")
LOCAL = HostAllowList.of(["127.0.0.1"], dangerously_allow_http_on_loopback=True)
CUT_WITHIN = 2.5  # seconds: a one-second window or total, and the loop's own latency


@dataclass(frozen=True)
class Pacing:
    """An answer of `size` bytes (declared or not), `piece` bytes every `every` seconds, of
    which only the first `sent` are ever sent (the rest: silence)."""

    size: int
    piece: int
    every: float
    sent: int | None = None
    declared: bool = True


async def paced(request: web.Request, pacing: Pacing) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    if pacing.declared:
        response.content_length = pacing.size
    await response.prepare(request)
    body = hashlib.sha256(b"seed").digest() * (pacing.size // 32 + 1)
    limit = pacing.size if pacing.sent is None else pacing.sent
    for start in range(0, limit, pacing.piece):
        await response.write(body[start : min(start + pacing.piece, limit)])
        await asyncio.sleep(pacing.every)
    if limit < pacing.size:
        await asyncio.sleep(3600)  # then nothing at all
    await response.write_eof()
    return response


@asynccontextmanager
async def serve(pacing: Pacing) -> AsyncIterator[str]:
    app = web.Application()

    async def answer(request: web.Request) -> web.StreamResponse:
        return await paced(request, pacing)

    app.router.add_get("/file", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/file"))
    finally:
        await server.close()


@asynccontextmanager
async def header_dripper() -> AsyncIterator[str]:
    """A raw server that sends its status line, then one byte of a header every 0.2 s."""
    writers: list[asyncio.StreamWriter] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n")
        try:
            for byte in b"X-Slow: " + b"z" * 10_000:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.2)
        except ConnectionError:
            pass

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/file"
    finally:
        for writer in writers:
            writer.close()
        server.close()


# -- the download itself ---------------------------------------------------------------------


SLOW_ROWS = {
    # 50 bytes a second against a minimum of 1,000 over one second
    "drip": (Pacing(size=100_000, piece=10, every=0.2), Pace(1000, 1.0, 60.0), "too slowly"),
    # a good start, then silence
    "stall": (
        Pacing(size=100_000, piece=5000, every=0.01, sent=5000),
        Pace(1000, 1.0, 60.0),
        "too slowly",
    ),
    # above nothing judged yet (a 30 s window), but past the total time for 100 bytes
    "total": (Pacing(size=100, piece=10, every=0.3), Pace(100, 30.0, 1.0), "too long"),
    # no length: judged against the most a download may bring
    "undeclared": (
        Pacing(size=100_000, piece=10, every=0.2, declared=False),
        Pace(1000, 1.0, 60.0),
        "too slowly",
    ),
}


async def drain(source: HttpSource, url: str) -> None:
    """Read the whole body (10 s at most: longer is a failure in itself)."""
    async with asyncio.timeout(10), await source.open_download(url) as download:
        async for _chunk in download.chunks():
            pass


@pytest.mark.parametrize("row", list(SLOW_ROWS))
async def test_a_slow_body_is_cut_within_the_bound(row: str) -> None:
    pacing, pace, why = SLOW_ROWS[row]
    async with serve(pacing) as url, aiohttp.ClientSession() as session:
        source = HttpSource(session, LOCAL, max_size=1 << 20, read_timeout=60.0, pace=pace)
        started = time.monotonic()
        with pytest.raises(SourceTooSlow, match=why) as raised:
            await drain(source, url)
        elapsed = time.monotonic() - started
    assert elapsed < CUT_WITHIN, f"cut after {elapsed:.1f} s"
    assert raised.value.host == "127.0.0.1"
    assert raised.value.received < pacing.size


async def test_dripping_headers_are_cut() -> None:
    async with header_dripper() as url, aiohttp.ClientSession() as session:
        pace = Pace(1000, 1.0, 60.0, header_timeout=1.0)
        source = HttpSource(session, LOCAL, max_size=1 << 20, read_timeout=60.0, pace=pace)
        started = time.monotonic()
        with pytest.raises(SourceTooSlow, match="answered too slowly"):
            async with asyncio.timeout(10):
                await source.open_download(url)
    assert time.monotonic() - started < CUT_WITHIN


async def test_a_slow_source_above_the_minimum_rate_completes() -> None:
    # 20 KiB a second for two seconds, against a minimum of 5,000 bytes a second.
    pacing = Pacing(size=40 * 1024, piece=2048, every=0.1)
    async with serve(pacing) as url, aiohttp.ClientSession() as session:
        source = HttpSource(
            session, LOCAL, max_size=1 << 20, read_timeout=60.0, pace=Pace(5000, 0.5, 1.0)
        )
        async with await source.open_download(url) as download:
            body = b"".join([chunk async for chunk in download.chunks()])
    expected = (hashlib.sha256(b"seed").digest() * (pacing.size // 32 + 1))[: pacing.size]
    assert body == expected


# -- through the bot: the receipt, the record, the worker's slots ---------------------------


async def until(what: str, check: Callable[[], Awaitable[T | None]], seconds: float) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await check()
        if found is not None:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within {seconds} s")


@pytest.fixture
async def records(base_env: dict[str, str]) -> AsyncIterator[SqlRecords]:
    engine = create_engine(base_env["EXHIBIT_DATABASE_URL"])
    yield SqlRecords(engine)
    await engine.dispose()


async def start(
    env: dict[str, str], bot_client: BotClientFactory, connector: tuple[RecordingConnector, str]
) -> Conversation:
    recorder, url = connector
    return Conversation(await bot_client(load_settings(env)), recorder, url)


async def test_a_drip_fails_the_job_with_the_reason_after_one_retry(
    base_env: dict[str, str],
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    records: SqlRecords,
) -> None:
    env = {
        **base_env,
        "EXHIBIT_DOWNLOAD_MIN_BYTES_PER_SECOND": "1000",
        "EXHIBIT_DOWNLOAD_RATE_WINDOW_SECONDS": "1",
    }
    officer = await start(env, bot_client, connector)
    await officer.say("case open MET-26-0101 Drip")
    async with serve_slow_files(pause=0.2) as drip:
        drip.piece_bytes = 10  # 50 bytes a second
        link = drip.link("drip.jpg", os.urandom(200_000))
        await officer.say("add MET-26-0101", [teams_file("drip.jpg", link)])
        # One cut, the 5 s back-off, a second cut: then final.
        card = await officer.wait_for_update("could not be recorded", attempts=200)
        transfers = drip.of("drip.jpg")
    assert "the file arrived too slowly and was stopped" in card
    assert len(transfers) == 2, "tried once more, and no more"
    assert all(not t.finished for t in transfers)
    async with records.unit() as unit:
        case = await unit.case_by_reference("MET-26-0101")
        assert case is not None
        chain = list(await unit.custody(case.id))
    failed = [entry for entry in chain if entry.action == Action.INTAKE_FAILED]
    assert len(failed) == 1
    assert "too slowly" in str(failed[0].details)


async def test_one_officers_drips_leave_a_slot_for_another_officer(
    base_env: dict[str, str],
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    records: SqlRecords,
) -> None:
    env = {
        **base_env,
        "EXHIBIT_INTAKE_CONCURRENCY": "2",  # one slot each for two officers
        "EXHIBIT_DOWNLOAD_MIN_BYTES_PER_SECOND": "10",  # the drips are not cut in this test
        "EXHIBIT_DOWNLOAD_RATE_WINDOW_SECONDS": "60",
    }
    officer = await start(env, bot_client, connector)
    await officer.say("case open MET-26-0102 Drips")
    await officer.say("case open MET-26-0103 Quick", sender=LIAM)
    async with serve_slow_files(pause=0.2) as drip, serve_slow_files() as quick:
        drip.piece_bytes = 100
        first = teams_file("a1.jpg", drip.link("a1.jpg", os.urandom(100_000)))
        second = teams_file("a2.jpg", drip.link("a2.jpg", os.urandom(100_000)))
        await officer.say("add MET-26-0102", [first, second], sender=JANE)

        async def dripping() -> bool | None:
            return True if drip.transfers else None

        await until("officer A's first drip under way", dripping, 10)
        await asyncio.sleep(1.0)  # time enough for the worker to take A's second job too
        content = os.urandom(50_000)
        link = quick.link("b.jpg", content)
        await officer.say("add MET-26-0103", [teams_file("b.jpg", link)], sender=LIAM)

        async def recorded() -> str | None:
            async with records.unit() as unit:
                case = await unit.case_by_reference("MET-26-0103")
                assert case is not None
                exhibits = list(await unit.exhibits_of(case.id))
            return exhibits[0].sha256 if exhibits else None

        sha256 = await until("officer B's file recorded", recorded, 10)
        assert sha256 == hashlib.sha256(content).hexdigest()
        # A's second job waits on the queue: neither failed nor lost, and never started.
        async with records.unit() as unit:
            case = await unit.case_by_reference("MET-26-0102")
            assert case is not None
            started = [e for e in await unit.custody(case.id) if e.action == Action.INTAKE_STARTED]
            jobs = [await unit.job(str(entry.details["job"])) for entry in started]
        assert sorted(job.status for job in jobs if job is not None) == [
            JobStatus.QUEUED,
            JobStatus.RUNNING,
        ]
        assert len({t.name for t in drip.transfers}) == 1
        drip.fast()  # let A's transfers end, so that the servers close at once


async def test_a_channel_file_from_graph_is_cut_the_same_way(tls: Tls) -> None:
    # Graph redirects /driveItem/content to a pre-authenticated URL: here, a dripping server.
    site = "https://met.sharepoint.com/sites/MET-26-0104/Shared%20Documents/General"
    pacing = Pacing(size=100_000, piece=10, every=0.2)
    async with (
        fake_tenant(tls) as tenant,
        serve(pacing) as url,
        aiohttp.ClientSession() as session,
    ):
        allowed = HostAllowList.of(
            ["*.sharepoint.com", "127.0.0.1"], dangerously_allow_http_on_loopback=True
        )
        downloads = HttpSource(session, allowed, max_size=1 << 20, pace=Pace(1000, 1.0, 60.0))
        tenant.graph.add_drive_item(f"{site}/cctv.jpg", "cctv.jpg", b"x", download_url=url)
        source = await open_graph_file_source(tenant.config(max_retries=0), downloads)
        try:
            started = time.monotonic()
            with pytest.raises(SourceTooSlow, match="too slowly"):
                await drain_drive_item(source, f"{site}/cctv.jpg")
        finally:
            await source.aclose()
    assert time.monotonic() - started < CUT_WITHIN + 1


async def drain_drive_item(source: GraphFileSource, content_url: str) -> None:
    async with asyncio.timeout(10), await source.open_drive_item(content_url) as download:
        async for _chunk in download.chunks():
            pass
