"""OneDrive's upload session, as documented: byte ranges PUT in order, then the driveItem.

Each PUT must carry `Content-Range: bytes start-end/total` starting where the last one ended,
a body of exactly that length, and (except the last) a multiple of 320 KiB; otherwise 416 or
400. 202 with `nextExpectedRanges` until the last byte, then 201 with the new item. No
Authorization header may come (the session URL is pre-authenticated).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aiohttp import web

PIECE = 320 * 1024
RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


@dataclass
class UploadSessions:
    """Files assembled per session, and every range received."""

    files: dict[str, bytearray] = field(default_factory=dict)
    ranges: list[str] = field(default_factory=list)
    complete: set[str] = field(default_factory=set)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_put("/upload/{session}", self._put)
        return app

    async def _put(self, request: web.Request) -> web.Response:
        session = request.match_info["session"]
        if "Authorization" in request.headers:
            return web.json_response({"error": {"code": "unauthenticated"}}, status=401)
        if session in self.complete:
            return web.json_response({"error": {"code": "itemNotFound"}}, status=404)
        match = RANGE.match(request.headers.get("Content-Range", ""))
        body = await request.read()
        if match is None:
            return web.json_response({"error": {"code": "invalidRange"}}, status=400)
        start, end, total = (int(group) for group in match.groups())
        received = self.files.setdefault(session, bytearray())
        last = end + 1 == total
        if start != len(received) or end - start + 1 != len(body) or end >= total:
            return web.json_response({"error": {"code": "invalidRange"}}, status=416)
        if not last and len(body) % PIECE:
            return web.json_response({"error": {"code": "invalidRange"}}, status=400)
        self.ranges.append(match.group(0))
        received += body
        if not last:
            return web.json_response({"nextExpectedRanges": [f"{len(received)}-"]}, status=202)
        self.complete.add(session)
        return web.json_response({"id": f"item-{session}", "name": "bundle.zip",
                                  "size": total}, status=201)  # fmt: skip
