"""A recording Bot Framework connector: the `serviceUrl` a bot under test replies to.

It speaks the Connector REST API's wire format (a POST to
`/v3/conversations/{id}/activities[/{replyToId}]` answers `{"id": ...}`) and keeps every request.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Received:
    """One request the bot made to the connector."""

    method: str
    path: str
    authorization: str | None
    body: dict[str, Any]


class RecordingConnector:
    """An aiohttp app recording what a bot sends to its `serviceUrl`."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._ids = itertools.count(1)
        self._arrived = asyncio.Condition()
        # Conversation id -> its members (ChannelAccount JSON), served page by page.
        self.members: dict[str, list[dict[str, Any]]] = {}
        self.page_size = 2
        self.app = web.Application()
        self.app.router.add_get("/v3/conversations/{conversation}/pagedmembers", self._paged)
        self.app.router.add_route("*", "/{tail:.*}", self._record)

    async def _paged(self, request: web.Request) -> web.Response:
        """`GET /v3/conversations/{id}/pagedmembers`, in pages of `page_size`."""
        self.received.append(
            Received("GET", request.path, request.headers.get("Authorization"), {})
        )
        everyone = self.members.get(request.match_info["conversation"], [])
        start = int(request.query.get("continuationToken") or 0)
        end = start + self.page_size
        page: dict[str, Any] = {"members": everyone[start:end]}
        if end < len(everyone):
            page["continuationToken"] = str(end)
        return web.json_response(page)

    async def _record(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        async with self._arrived:
            self.received.append(
                Received(request.method, request.path, request.headers.get("Authorization"), body)
            )
            self._arrived.notify_all()
        return web.json_response({"id": f"activity-{next(self._ids)}"})

    def activities(self) -> list[dict[str, Any]]:
        """Bodies of the activities posted, in order."""
        return [r.body for r in self.received if r.method in {"POST", "PUT"}]

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        """Wait (5 s at most) until `count` activities have arrived; return all of them."""
        async with asyncio.timeout(5), self._arrived:
            await self._arrived.wait_for(lambda: len(self.activities()) >= count)
        return self.activities()
