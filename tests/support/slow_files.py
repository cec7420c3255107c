"""A file server that sends slowly on demand, standing in for SharePoint's download URLs.

Reliability tests need a download that is still running when they break something (a worker,
the storage emulator): this server paces its body in pieces with a pause between them, can be
switched to full speed at any time (even mid-body), and records how far each transfer got.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer

PIECE_BYTES = 256 * 1024


@dataclass
class Transfer:
    """One GET of one file: bytes sent so far, and how it ended."""

    name: str
    size: int
    sent: int = 0
    finished: bool = False  # the whole body went out
    broken: bool = False  # the client went away first


@dataclass
class SlowFiles:
    """Files by name, served at `/download/{name}`, `pause` seconds between pieces."""

    pause: float = 0.0
    piece_bytes: int = PIECE_BYTES
    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    # Per-file pauses, overriding `pause` for those files only (one slow file among fast ones).
    pauses: dict[str, float] = field(default_factory=dict)
    transfers: list[Transfer] = field(default_factory=list)

    def link(self, name: str, content: bytes) -> str:
        """Serve `content` as `name`; its download URL."""
        self.files[name] = content
        return f"{self.url}/download/{name}"

    def fast(self) -> None:
        """Send at full speed from now on (a transfer under way speeds up too)."""
        self.pause = 0.0

    def of(self, name: str) -> list[Transfer]:
        """The transfers of `name`, oldest first."""
        return [t for t in self.transfers if t.name == name]

    async def download(self, request: web.Request) -> web.StreamResponse:
        """`GET /download/{name}`: the body in pieces, paced by `pause`."""
        name = request.match_info["name"]
        body = self.files.get(name)
        if body is None:
            return web.Response(status=404)
        transfer = Transfer(name, len(body))
        self.transfers.append(transfer)
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = len(body)
        await response.prepare(request)
        view = memoryview(body)
        try:
            for start in range(0, len(body), self.piece_bytes):
                piece = view[start : start + self.piece_bytes]
                await response.write(piece)
                transfer.sent += len(piece)
                pause = self.pauses.get(name, self.pause)
                if pause:
                    await asyncio.sleep(pause)
            await response.write_eof()
            transfer.finished = True
        except ConnectionError:
            pass  # the downloader died or hung up: what these tests cause
        finally:
            # Also when aiohttp cancels this handler because the peer went away.
            transfer.broken = not transfer.finished
        return response


@asynccontextmanager
async def serve_slow_files(pause: float = 0.0) -> AsyncIterator[SlowFiles]:
    """A `SlowFiles` listening on 127.0.0.1 for the duration of the block."""
    files = SlowFiles(pause=pause)
    app = web.Application()
    app.router.add_get("/download/{name}", files.download)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    files.url = str(server.make_url("")).rstrip("/")
    try:
        yield files
    finally:
        await server.close()
