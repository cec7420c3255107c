"""Uploading a file into OneDrive through an upload session (as Teams' file consent hands one).

The session URL is pre-authenticated: no Authorization header goes with it. The file is sent in
byte ranges (`Content-Range: bytes start-end/total`), each a multiple of 320 KiB as OneDrive
requires except the last; OneDrive answers 202 with the next expected range until the last
piece, then 200 or 201 with the new driveItem.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout
from yarl import URL

PIECE = 320 * 1024
DEFAULT_CHUNK = 10 * PIECE  # 3.2 MiB: OneDrive's documented sweet spot is 5-10 MiB or below
TIMEOUT = ClientTimeout(total=300, sock_connect=15, sock_read=120)


class UploadFailed(Exception):
    """OneDrive refused a piece or the session; `status` is its HTTP answer (0: no answer)."""

    def __init__(self, status: int, problem: str) -> None:
        super().__init__(f"{status}: {problem}")
        self.status = status
        self.problem = problem


class UploadSession:
    """PUTs a stream into an upload session, chunk by chunk, never holding more than one."""

    def __init__(
        self,
        session: ClientSession,
        check_url: Callable[[URL], object],
        *,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> None:
        if chunk_size % PIECE:
            raise ValueError("the chunk size must be a multiple of 320 KiB")
        self._session = session
        self._check_url = check_url
        self._chunk_size = chunk_size

    async def upload(
        self, upload_url: str, size: int, chunks: AsyncIterator[bytes]
    ) -> dict[str, Any]:
        """Send `size` bytes from `chunks`; the driveItem OneDrive made of them."""
        url = URL(upload_url, encoded=True)
        self._check_url(url)  # raises for a host downloads and uploads may not reach
        sent = 0
        buffer = bytearray()
        async for chunk in chunks:
            buffer += chunk
            while len(buffer) >= self._chunk_size:
                await self._put(url, bytes(buffer[: self._chunk_size]), sent, size)
                sent += self._chunk_size
                del buffer[: self._chunk_size]
        if sent + len(buffer) != size:
            raise UploadFailed(0, f"the bundle is {sent + len(buffer)} bytes, not {size}")
        return await self._put(url, bytes(buffer), sent, size)

    async def _put(self, url: URL, data: bytes, start: int, total: int) -> dict[str, Any]:
        headers = {
            "Content-Length": str(len(data)),
            "Content-Range": f"bytes {start}-{start + len(data) - 1}/{total}",
        }
        try:
            async with self._session.put(
                url, data=data, headers=headers, timeout=TIMEOUT, allow_redirects=False
            ) as response:
                body: dict[str, Any] = (
                    await response.json(content_type=None) if response.content_length else {}
                )
                if response.status == 202 and start + len(data) < total:
                    return body
                if response.status in {200, 201} and start + len(data) == total:
                    return body
                raise UploadFailed(response.status, str(body.get("error", ""))[:200])
        except (OSError, TimeoutError, ClientError, ValueError) as err:
            raise UploadFailed(0, type(err).__name__) from err
