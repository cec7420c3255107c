"""Streaming downloads of evidence from the hosts Teams leaves files on, and from no other host.

Every URL here comes from an activity or a Graph answer, so every hop is checked against an
allow-list before a connection is opened (no SSRF through a `downloadUrl` or a redirect).
Redirects are followed by hand, at most `max_redirects`, and never carry the `Authorization`
header: a bearer meant for one host must not reach another. Bodies are read piece by piece and
handed on in chunks of about `chunk_size`; a file is never held whole in memory.

A source that drips bytes is cut (`SourceTooSlow`), however it paces them: the answer's headers
must arrive within `header_timeout`; the body must bring at least `min_rate` bytes a second
over every `rate_window` seconds, and arrive whole within `max(total_timeout, size / min_rate)`
seconds (the size declared, or `max_size` when none is).

URLs are never logged nor put in errors: pre-authenticated download URLs are credentials.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import aiohttp
from aiohttp import hdrs
from yarl import URL

from evidence.errors import (
    SourceEmpty,
    SourceError,
    SourceExpired,
    SourceInvalid,
    SourceTooLarge,
    SourceTooSlow,
    SourceUnavailable,
)
from storage.host_allow_list import HostAllowList

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
DEFAULT_CHUNK_SIZE = 4 * MIB
REDIRECTS = frozenset({301, 302, 303, 307, 308})
EXPIRED = frozenset({401, 403, 404, 410})
TRANSIENT = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class Pace:
    """How slowly a source may send before its download is cut.

    `min_rate` bytes a second, measured over any `rate_window` seconds (a window is only judged
    once that long has passed since the answer); the whole body within `max(total_timeout,
    size / min_rate)` seconds; the answer's headers within `header_timeout` seconds.
    """

    min_rate: int = 64 * 1024
    rate_window: float = 30.0
    total_timeout: float = 600.0
    header_timeout: float = 70.0

    def __post_init__(self) -> None:
        if self.min_rate <= 0 or min(self.rate_window, self.total_timeout) <= 0:
            raise ValueError("the minimum rate, its window and the total time must be positive")
        if self.header_timeout <= 0:
            raise ValueError("the header timeout must be positive")

    def total_for(self, size: int) -> float:
        """Seconds a body of `size` bytes may take."""
        return max(self.total_timeout, size / self.min_rate)


class _Pacer:
    """Tells when a download has been too slow: a sliding window of (time, bytes) samples."""

    def __init__(self, pace: Pace, size: int, clock: Callable[[], float]) -> None:
        self._pace = pace
        self._clock = clock
        self._start = clock()
        self._deadline = self._start + pace.total_for(size)
        self._need = pace.min_rate * pace.rate_window
        self._samples: deque[tuple[float, int]] = deque([(self._start, 0)])
        self._received = 0

    def record(self, received: int) -> None:
        """Note the bytes received so far."""
        now = self._clock()
        self._received = received
        samples = self._samples
        # A fast source reads thousands of pieces a window: samples closer together than a
        # 64th of it are merged (counting their bytes a little late, never early).
        if len(samples) >= 2 and now - samples[-2][0] < self._pace.rate_window / 64:
            samples[-1] = (now, received)
        else:
            samples.append((now, received))
        # Keep the newest sample at or before the window's start: the window is judged from it.
        while len(self._samples) > 1 and self._samples[1][0] <= now - self._pace.rate_window:
            self._samples.popleft()

    def wait_limit(self) -> tuple[float, str]:
        """Seconds the next read may wait before the download is too slow, and why it would be."""
        now = self._clock()
        # With no more bytes, the window's condition fails once the first sample holding more
        # than `received - need` bytes is a whole window old.
        threshold = self._received - self._need
        first_over = next((t for t, b in self._samples if b > threshold), now)
        window_end = first_over + self._pace.rate_window
        if window_end < self._deadline:
            return window_end - now, "arrived too slowly"
        return self._deadline - now, "took too long"


class Download:
    """An answered download: its headers, and its body to read once with `chunks()`.

    Use it as an async context manager (or call `aclose()`) so that the connection is released
    even when the body is not read to the end.
    """

    def __init__(
        self,
        response: aiohttp.ClientResponse,
        *,
        host: str,
        max_size: int,
        chunk_size: int,
        pace: Pace | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._response = response
        self._max_size = max_size
        self._chunk_size = chunk_size
        self._received = 0
        self._started = False
        self.host = host
        encoded = response.headers.get(hdrs.CONTENT_ENCODING, "identity").lower() != "identity"
        # With a content coding, Content-Length counts encoded bytes, not the file's.
        self.declared_size: int | None = None if encoded else response.content_length
        self.content_type: str | None = (
            response.content_type if hdrs.CONTENT_TYPE in response.headers else None
        )
        expected = self.declared_size if self.declared_size is not None else max_size
        self._pacer = None if pace is None else _Pacer(pace, expected, clock)

    @property
    def received(self) -> int:
        """Bytes of the body read so far."""
        return self._received

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body in chunks of about `chunk_size` bytes; raises `SourceError`s as it reads."""
        if self._started:
            raise RuntimeError("a download's body can be read only once")
        self._started = True
        pieces: list[bytes] = []
        pending = 0
        try:
            while piece := await self._read():
                self._received += len(piece)
                if self._received > self._max_size:
                    raise SourceTooLarge(self.host, limit=self._max_size, received=self._received)
                pieces.append(piece)
                pending += len(piece)
                if pending >= self._chunk_size:
                    chunk = b"".join(pieces)
                    pieces.clear()
                    pending = 0
                    yield chunk
            if pieces:
                yield b"".join(pieces)
            if self._received == 0:
                raise SourceEmpty(self.host)
            self._response.release()
        finally:
            self._response.close()

    async def _read(self) -> bytes:
        if self._pacer is None:
            return await self._read_piece()
        self._pacer.record(self._received)
        limit, why = self._pacer.wait_limit()
        if limit <= 0:
            raise SourceTooSlow(self.host, why, received=self._received)
        try:
            async with asyncio.timeout(limit):
                return await self._read_piece()
        except TimeoutError as err:
            raise SourceTooSlow(self.host, why, received=self._received) from err

    async def _read_piece(self) -> bytes:
        try:
            return await self._response.content.readany()
        except TimeoutError as err:
            raise SourceUnavailable(self.host, "stalled while sending") from err
        except aiohttp.ClientError as err:
            raise SourceUnavailable(self.host, f"broke off ({type(err).__name__})") from err

    async def aclose(self) -> None:
        """Release the connection (closing it if the body was not read to the end)."""
        self._response.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class HttpSource:
    """Downloads over one shared `aiohttp.ClientSession`, to allowed hosts only.

    `connect_timeout` bounds connecting; `read_timeout` bounds every wait for the answer and for
    each piece of the body (a large file may take long, but must keep flowing). `max_size` is
    the most bytes one download may bring; `pace`, how slowly a source may send it.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        allowed: HostAllowList,
        *,
        max_size: int,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_redirects: int = 5,
        pace: Pace | None = None,
    ) -> None:
        if max_size <= 0 or chunk_size <= 0 or max_redirects < 0:
            raise ValueError("max_size and chunk_size must be positive, max_redirects not negative")
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self._session = session
        self.allowed = allowed
        self.max_size = max_size
        self._chunk_size = chunk_size
        self._max_redirects = max_redirects
        self.pace = pace or Pace()
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=connect_timeout,
            sock_connect=connect_timeout,
            sock_read=read_timeout,
        )

    async def open_download(self, url: str, *, bearer: str | None = None) -> Download:
        """GET `url` and return once the answer's headers are in; the body is read later.

        `bearer` goes to the first host only, never across a redirect. Raises `HostNotAllowed`
        (before connecting), `SourceExpired`, `SourceUnavailable`, `SourceInvalid`,
        `SourceTooLarge` (declared size) or `SourceEmpty` (declared empty).
        """
        target = _parse(url)
        host = self.allowed.check(target)
        headers: dict[str, str] = {hdrs.ACCEPT_ENCODING: "identity"}
        if bearer is not None:
            headers[hdrs.AUTHORIZATION] = f"Bearer {bearer}"
        for _ in range(self._max_redirects + 1):
            response = await self._get(target, host, headers)
            if response.status not in REDIRECTS:
                return self._accept(response, host)
            location = response.headers.get(hdrs.LOCATION)
            response.close()
            if not location:
                raise SourceInvalid(host, "redirect without a location", status=response.status)
            try:
                target = response.url.join(URL(location)).with_fragment(None)
            except ValueError as err:
                raise SourceInvalid(host, "redirect to an unreadable location") from err
            host = self.allowed.check(target)
            # A token meant for the first host is never sent on, not even to the same host.
            headers.pop(hdrs.AUTHORIZATION, None)
            logger.debug("download redirected to %s", host)
        raise SourceInvalid(host, f"more than {self._max_redirects} redirects")

    async def _get(self, target: URL, host: str, headers: dict[str, str]) -> aiohttp.ClientResponse:
        # `sock_read` restarts with every byte: a source dripping its headers is cut here.
        headers_in_time = asyncio.timeout(self.pace.header_timeout)
        try:
            async with headers_in_time:
                return await self._session.get(
                    target,
                    headers=headers,
                    allow_redirects=False,
                    raise_for_status=False,
                    timeout=self._timeout,
                )
        except TimeoutError as err:
            if headers_in_time.expired():
                raise SourceTooSlow(host, "answered too slowly", received=0) from err
            raise SourceUnavailable(host, "no answer in time") from err
        except aiohttp.InvalidURL as err:
            raise SourceInvalid(host, "unusable URL") from err
        except aiohttp.ClientError as err:
            raise SourceUnavailable(host, f"could not connect ({type(err).__name__})") from err

    def _accept(self, response: aiohttp.ClientResponse, host: str) -> Download:
        status = response.status
        try:
            if status in EXPIRED:
                raise SourceExpired(host, status=status)
            if status in TRANSIENT or status >= 500:
                raise SourceUnavailable(
                    host, "source failed", status=status, retry_after=_retry_after(response)
                )
            if status == 204:
                raise SourceEmpty(host)
            if status != 200:
                raise SourceInvalid(host, "unexpected answer", status=status)
            download = Download(
                response,
                host=host,
                max_size=self.max_size,
                chunk_size=self._chunk_size,
                pace=self.pace,
            )
            declared = download.declared_size
            if declared is not None and declared > self.max_size:
                raise SourceTooLarge(host, limit=self.max_size, declared=declared)
            if declared == 0:
                raise SourceEmpty(host)
        except SourceError:
            response.close()
            logger.info("download from %s refused: HTTP %s", host, status)
            raise
        return download


def _parse(url: str) -> URL:
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as err:
        raise SourceInvalid("", "not a URL") from err
    return parsed.with_fragment(None) if parsed.absolute else parsed


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get(hdrs.RETRY_AFTER, "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # absent, or an HTTP date: the caller's own back-off applies
