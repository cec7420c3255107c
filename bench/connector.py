"""A recording Bot Framework connector for the benchmarks: the `serviceUrl` both agents reply to.

It speaks the Connector REST API's wire format (a POST to
`/v3/conversations/{id}/activities[/{replyToId}]` answers `{"id": ...}`) and notes when each
reply arrived, so a driver in the same process can wait for the reply to its message.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from aiohttp import web


class BenchConnector:
    """An aiohttp app that answers activity posts and wakes whoever waits for a reply."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[float]] = {}
        self.replies = 0
        self.unexpected = 0
        self.app = web.Application()
        self.app.router.add_post("/v3/conversations/{conversation}/activities", self._post)
        self.app.router.add_post(
            "/v3/conversations/{conversation}/activities/{reply_to}", self._post
        )
        self.app.router.add_put(
            "/v3/conversations/{conversation}/activities/{reply_to}", self._post
        )

    def expect(self, activity_id: str) -> asyncio.Future[float]:
        """A future resolved with `time.perf_counter()` when the reply to `activity_id` arrives."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[activity_id] = future
        return future

    async def _post(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        body: dict[str, Any] = await request.json()
        reply_to = request.match_info.get("reply_to") or body.get("replyToId")
        future = self._waiting.pop(str(reply_to), None) if reply_to else None
        if body.get("type") == "message" and future is not None and not future.done():
            self.replies += 1
            future.set_result(arrived)
        elif body.get("type") == "message":
            self.unexpected += 1
        return web.json_response({"id": f"activity-{next(self._ids)}"})
