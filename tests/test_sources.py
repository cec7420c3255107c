"""HttpSource against a real local HTTP file server: streaming, allow-list, redirects, failures."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import random
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler
from yarl import URL

from evidence.errors import (
    HostNotAllowed,
    SourceEmpty,
    SourceExpired,
    SourceInvalid,
    SourceTooLarge,
    SourceUnavailable,
)
from storage.host_allow_list import HostAllowList
from storage.sources import DEFAULT_CHUNK_SIZE, Download, HttpSource
from tests.fakes import serve

MIB = 1024 * 1024
PIECE = random.Random(20240611).randbytes(1_000_003)  # a prime length: misplaced bytes show


def generated(size: int) -> Iterator[bytes]:
    """`size` bytes of PIECE repeated, 256 KiB at a time."""
    sent = 0
    while sent < size:
        offset = sent % len(PIECE)
        part = PIECE[offset : offset + min(256 * 1024, size - sent)]
        sent += len(part)
        yield part


def digest(size: int) -> str:
    sha = hashlib.sha256()
    for part in generated(size):
        sha.update(part)
    return sha.hexdigest()


@dataclass
class FileServer:
    """Serves generated files and misbehaviours; records every request it receives."""

    origin: str = ""
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str, *, host: str = "127.0.0.1") -> str:
        return str(URL(self.origin).with_host(host)) + path

    def app(self) -> web.Application:
        @web.middleware
        async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
            self.requests.append((request.path_qs, dict(request.headers)))
            return await handler(request)

        app = web.Application(middlewares=[record])
        app.router.add_get("/bytes/{size}", self._bytes)
        app.router.add_get("/chunked/{size}", self._chunked)
        app.router.add_get("/status/{code}", self._status)
        app.router.add_get("/redirect", self._redirect)
        app.router.add_get("/loop", self._loop)
        app.router.add_get("/stall-headers", self._stall_headers)
        app.router.add_get("/stall-body", self._stall_body)
        app.router.add_get("/huge", self._huge)
        app.router.add_get("/truncated", self._truncated)
        app.router.add_get("/gzip", self._gzip)
        return app

    async def _bytes(self, request: web.Request) -> web.StreamResponse:
        size = int(request.match_info["size"])
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = size
        await response.prepare(request)
        for part in generated(size):
            await response.write(part)
        await response.write_eof()
        return response

    async def _chunked(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for part in generated(int(request.match_info["size"])):
                await response.write(part)
        except ConnectionError:
            return response  # the client stopped reading, as it should
        await response.write_eof()
        return response

    async def _status(self, request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        headers = {"Retry-After": "7"} if code in (429, 503) else {}
        return web.Response(status=code, text="no", headers=headers)

    async def _redirect(self, request: web.Request) -> web.Response:
        status = int(request.query.get("status", "302"))
        target = request.query.get("to")
        headers = {} if target is None else {"Location": target}
        return web.Response(status=status, headers=headers)

    async def _loop(self, request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"Location": "/loop"})

    async def _stall_headers(self, request: web.Request) -> web.Response:
        await self._stall()
        return web.Response(body=b"late")

    async def _stall_body(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = 2000
        await response.prepare(request)
        await response.write(b"x" * 1000)
        await self._stall()
        return response

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = 10 * 1024**4
        await response.prepare(request)
        await self._stall()
        return response

    async def _truncated(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b"y" * 500)
        assert request.transport is not None
        request.transport.close()
        return response

    async def _gzip(self, request: web.Request) -> web.Response:
        # A server that compresses although it was asked for identity.
        return web.Response(
            body=gzip.compress(b"evidence " * 1000),
            headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"},
        )

    async def _stall(self) -> None:
        try:
            async with asyncio.timeout(5):
                await self.release.wait()
        except TimeoutError:
            pass


@pytest.fixture
async def server() -> AsyncIterator[FileServer]:
    files = FileServer()
    async with serve(files.app()) as origin:
        files.origin = origin
        try:
            yield files
        finally:
            files.release.set()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client:
        yield client


LOCAL = HostAllowList.of(["127.0.0.1"], dangerously_allow_http_on_loopback=True)


def source(
    session: aiohttp.ClientSession,
    *,
    allowed: HostAllowList = LOCAL,
    max_size: int = 64 * MIB,
    read_timeout: float = 5.0,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> HttpSource:
    return HttpSource(
        session, allowed, max_size=max_size, read_timeout=read_timeout, chunk_size=chunk_size
    )


async def read_all(download: Download) -> list[bytes]:
    return [chunk async for chunk in download.chunks()]


# --- streaming ------------------------------------------------------------------------------


async def test_a_multi_mib_file_streams_in_chunks(
    server: FileServer, session: aiohttp.ClientSession
) -> None:
    size = 20 * MIB + 123
    downloads = source(session, chunk_size=4 * MIB)

    async with await downloads.open_download(server.url(f"/bytes/{size}")) as download:
        assert download.declared_size == size
        assert download.content_type == "video/mp4"
        assert download.host == "127.0.0.1"
        sha = hashlib.sha256()
        sizes = []
        async for chunk in download.chunks():
            sha.update(chunk)
            sizes.append(len(chunk))

    assert sha.hexdigest() == digest(size)
    assert sum(sizes) == size == download.received
    assert len(sizes) in (5, 6)
    assert all(4 * MIB <= n < 5 * MIB for n in sizes[:-1])
    (path, headers), *_ = server.requests
    assert path == f"/bytes/{size}"
    assert "Authorization" not in headers
    assert headers["Accept-Encoding"] == "identity"


async def test_a_file_without_content_length_streams_too(
    server: FileServer, session: aiohttp.ClientSession
) -> None:
    size = 3 * MIB + 5

    async with await source(session, chunk_size=MIB).open_download(
        server.url(f"/chunked/{size}")
    ) as download:
        assert download.declared_size is None
        assert download.content_type == "application/octet-stream"
        chunks = await read_all(download)

    assert hashlib.sha256(b"".join(chunks)).hexdigest() == digest(size)


async def test_the_bearer_goes_to_the_first_host(
    server: FileServer, session: aiohttp.ClientSession
) -> None:
    downloads = source(session)

    async with await downloads.open_download(server.url("/bytes/10"), bearer="bot-token") as d:
        await read_all(d)

    assert server.requests[0][1]["Authorization"] == "Bearer bot-token"


async def test_a_compressed_answer_yields_the_file_and_no_declared_size(
    server: FileServer, session: aiohttp.ClientSession
) -> None:
    async with await source(session).open_download(server.url("/gzip")) as download:
        assert download.declared_size is None
        body = b"".join(await read_all(download))

    assert body == b"evidence " * 1000


async def test_a_download_left_unread_releases_its_connection(
    server: FileServer, session: aiohttp.ClientSession
) -> None:
    downloads = source(session)
    for _ in range(3):
        async with await downloads.open_download(server.url(f"/bytes/{8 * MIB}")):
            pass

    async with await downloads.open_download(server.url("/bytes/100")) as download:
        assert len(b"".join(await read_all(download))) == 100


async def test_the_body_is_read_once(server: FileServer, session: aiohttp.ClientSession) -> None:
    async with await source(session).open_download(server.url("/bytes/10")) as download:
        await read_all(download)
        with pytest.raises(RuntimeError):
            await read_all(download)


# --- the allow-list --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:{port}/bytes/10",  # the same server, under a name not listed
        "http://127.0.0.2:{port}/bytes/10",
        "http://user:pw@127.0.0.1:{port}/bytes/10",
        "ftp://127.0.0.1:{port}/bytes/10",
        "/bytes/10",
        "https://evil.example/x",
    ],
)
async def test_a_host_not_allowed_is_refused_before_any_request(
    server: FileServer, session: aiohttp.ClientSession, url: str
) -> None:
    port = URL(server.origin).port

    with pytest.raises(HostNotAllowed):
        await source(session).open_download(url.format(port=port))

    assert server.requests == []


async def test_plain_http_needs_the_loopback_switch(
    server: FileServer, session: aiohttp.ClientSession
) -> None:
    strict = HostAllowList.of(["127.0.0.1"])

    with pytest.raises(HostNotAllowed, match="scheme 'http'"):
        await source(session, allowed=strict).open_download(server.url("/bytes/10"))

    assert server.requests == []


async def test_a_redirect_to_a_host_not_allowed_is_not_followed(
    server: FileServer, session: aiohttp.ClientSession
) -> None:
    elsewhere = server.url("/bytes/10", host="localhost")

    with pytest.raises(HostNotAllowed) as refused:
        await source(session).open_download(server.url(f"/redirect?to={elsewhere}"))

    assert refused.value.host == "localhost"
    assert [path for path, _ in server.requests] == [f"/redirect?to={elsewhere}"]


async def test_the_bearer_is_not_forwarded_across_a_redirect(
    server: FileServer, session: aiohttp.ClientSession
) -> None:
    downloads = source(session)

    async with await downloads.open_download(
        server.url("/redirect?to=/bytes/1000&status=307"), bearer="bot-token"
    ) as download:
        body = b"".join(await read_all(download))

    assert body == PIECE[:1000]
    (_, first_headers), (second, second_headers) = server.requests
    assert first_headers["Authorization"] == "Bearer bot-token"
    assert second == "/bytes/1000"
    assert "Authorization" not in second_headers


async def test_redirects_stop_after_five(
    server: FileServer, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(SourceInvalid, match="more than 5 redirects"):
        await source(session).open_download(server.url("/loop"))

    assert len(server.requests) == 6


async def test_a_redirect_without_location_is_invalid(
    server: FileServer, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(SourceInvalid) as caught:
        await source(session).open_download(server.url("/redirect"))

    assert caught.value.status == 302


# --- size -----------------------------------------------------------------------------------


async def test_a_declared_size_above_the_limit_is_refused_before_the_body(
    server: FileServer, session: aiohttp.ClientSession
) -> None:
    started = time.monotonic()

    with pytest.raises(SourceTooLarge) as caught:
        await source(session, max_size=MIB).open_download(server.url("/huge"))

    assert caught.value.declared == 10 * 1024**4
    assert caught.value.received is None
    assert caught.value.limit == MIB
    assert time.monotonic() - started < 2


async def test_streaming_past_the_limit_is_aborted(
    server: FileServer, session: aiohttp.ClientSession
) -> None:
    size = 32 * MIB
    downloads = source(session, max_size=MIB, chunk_size=256 * 1024)

    async with await downloads.open_download(server.url(f"/chunked/{size}")) as download:
        with pytest.raises(SourceTooLarge) as caught:
            await read_all(download)

    assert caught.value.declared is None
    assert caught.value.received is not None
    assert MIB < caught.value.received < 2 * MIB


async def test_a_file_of_exactly_the_limit_is_accepted(
    server: FileServer, session: aiohttp.ClientSession
) -> None:
    async with await source(session, max_size=MIB).open_download(
        server.url(f"/chunked/{MIB}")
    ) as download:
        assert sum(len(c) for c in await read_all(download)) == MIB


@pytest.mark.parametrize("path", ["/bytes/0", "/status/204"])
async def test_a_declared_empty_file_is_refused(
    server: FileServer, session: aiohttp.ClientSession, path: str
) -> None:
    with pytest.raises(SourceEmpty):
        await source(session).open_download(server.url(path))


async def test_an_empty_stream_is_refused(
    server: FileServer, session: aiohttp.ClientSession
) -> None:
    async with await source(session).open_download(server.url("/chunked/0")) as download:
        with pytest.raises(SourceEmpty):
            await read_all(download)


# --- failures -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 404, 410])
async def test_a_refused_or_missing_link_has_expired(
    server: FileServer, session: aiohttp.ClientSession, status: int
) -> None:
    with pytest.raises(SourceExpired) as caught:
        await source(session).open_download(server.url(f"/status/{status}"))

    assert caught.value.status == status
    assert caught.value.host == "127.0.0.1"
    assert "status" not in str(caught.value)  # the error names the host, never the URL


@pytest.mark.parametrize(
    ("status", "retry_after"), [(503, 7.0), (429, 7.0), (500, None), (502, None), (408, None)]
)
async def test_a_transient_failure_is_unavailable(
    server: FileServer, session: aiohttp.ClientSession, status: int, retry_after: float | None
) -> None:
    with pytest.raises(SourceUnavailable) as caught:
        await source(session).open_download(server.url(f"/status/{status}"))

    assert caught.value.status == status
    assert caught.value.retry_after == retry_after


@pytest.mark.parametrize("status", [400, 405, 418])
async def test_another_client_error_is_invalid(
    server: FileServer, session: aiohttp.ClientSession, status: int
) -> None:
    with pytest.raises(SourceInvalid) as caught:
        await source(session).open_download(server.url(f"/status/{status}"))

    assert caught.value.status == status


async def test_a_server_that_never_answers_is_unavailable(
    server: FileServer, session: aiohttp.ClientSession
) -> None:
    started = time.monotonic()

    with pytest.raises(SourceUnavailable, match="no answer in time"):
        await source(session, read_timeout=0.3).open_download(server.url("/stall-headers"))

    assert time.monotonic() - started < 2


async def test_a_body_that_stalls_is_unavailable(
    server: FileServer, session: aiohttp.ClientSession
) -> None:
    downloads = source(session, read_timeout=0.3)
    started = time.monotonic()

    async with await downloads.open_download(server.url("/stall-body")) as download:
        with pytest.raises(SourceUnavailable, match="stalled"):
            await read_all(download)

    assert download.received == 1000
    assert time.monotonic() - started < 2


async def test_a_body_cut_short_is_unavailable(
    server: FileServer, session: aiohttp.ClientSession
) -> None:
    async with await source(session).open_download(server.url("/truncated")) as download:
        with pytest.raises(SourceUnavailable, match="broke off"):
            await read_all(download)


async def test_a_closed_port_is_unavailable(session: aiohttp.ClientSession) -> None:
    async with serve(web.Application()) as origin:
        closed = origin  # nothing listens there once the block ends

    with pytest.raises(SourceUnavailable, match="could not connect"):
        await source(session).open_download(f"{closed}/bytes/1")


# --- HostAllowList ----------------------------------------------------------------------------

PRODUCTION = HostAllowList.of(["*.sharepoint.com", "smba.trafficmanager.net", "SMBA.Example.Net."])


@pytest.mark.parametrize(
    "url",
    [
        "https://contoso.sharepoint.com/sites/x/file.jpg",
        "https://contoso-my.sharepoint.com/personal/a/_layouts/15/download.aspx?UniqueId=1",
        "https://a.b.sharepoint.com/x",
        "https://CONTOSO.SharePoint.com./x",
        "https://contoso.sharepoint.com:8443/x",
        "https://smba.trafficmanager.net/uk/v3/attachments/1/views/original",
        "https://smba.example.net/x",
    ],
)
def test_allowed_hosts(url: str) -> None:
    assert PRODUCTION.check(URL(url))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://sharepoint.com/x", "allow-list"),
        ("https://evilsharepoint.com/x", "allow-list"),
        ("https://contoso.sharepoint.com.evil.example/x", "allow-list"),
        ("https://sub.smba.trafficmanager.net/x", "allow-list"),
        ("https://169.254.169.254/latest/meta-data", "allow-list"),
        ("https://10.0.0.1/x", "allow-list"),
        ("http://contoso.sharepoint.com/x", "scheme"),
        ("https://user@contoso.sharepoint.com/x", "credentials"),
        ("https://:pw@contoso.sharepoint.com/x", "credentials"),
        ("contoso.sharepoint.com/x", "absolute"),
        ("file:///etc/passwd", "absolute"),
    ],
)
def test_refused_hosts(url: str, reason: str) -> None:
    with pytest.raises(HostNotAllowed, match=reason):
        PRODUCTION.check(URL(url))


def test_loopback_http_needs_listing_too() -> None:
    allowed = HostAllowList.of(["localhost"], dangerously_allow_http_on_loopback=True)

    assert allowed.check(URL("http://localhost:8080/x")) == "localhost"
    with pytest.raises(HostNotAllowed):
        allowed.check(URL("http://127.0.0.1:8080/x"))
    with pytest.raises(HostNotAllowed, match="scheme"):
        HostAllowList.of(["files.example.com"], dangerously_allow_http_on_loopback=True).check(
            URL("http://files.example.com/x")
        )


@pytest.mark.parametrize("pattern", ["*", "*.com", "*.sharepoint", "a*.example.com", "x/y", ""])
def test_patterns_that_make_no_sense_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"\*|host"):
        HostAllowList.of([pattern])


def test_ip_addresses_are_listed_exactly() -> None:
    allowed = HostAllowList.of(["127.0.0.1", "::1"])

    assert allowed.allows("127.0.0.1")
    assert allowed.allows("::1")
    assert not allowed.allows("127.0.0.2")


async def test_a_url_that_is_not_one_is_invalid(session: aiohttp.ClientSession) -> None:
    with pytest.raises(SourceInvalid, match="not a URL"):
        await source(session).open_download("http://[::1")
