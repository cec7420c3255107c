"""The soak's recording Bot Framework connector: the `serviceUrl` Exhibit replies to.

It speaks the Connector REST API's wire format (a POST to
`/v3/conversations/{id}/activities[/{replyToId}]` answers `{"id": ...}`, a PUT to
`/v3/conversations/{id}/activities/{activityId}` updates a card, `POST /v3/conversations` opens
a 1:1 chat, `GET /v3/conversations/{id}/pagedmembers` lists a channel's members) and wakes the
driver, in the same process, waiting for the reply to a message or for a receipt to finish.
It keeps counts, not bodies, so its own memory stays flat over a long run.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from typing import Any

from aiohttp import web

FINISHED = re.compile(r"\b\d+ exhibits? recorded for ")
NOT_RECORDED = "could not be recorded"


class SoakConnector:
    """An aiohttp app answering what a bot sends to its `serviceUrl`."""

    def __init__(self, members: list[dict[str, str]]) -> None:
        self.members = members
        self.posts = 0
        self.updates = 0
        self.unmatched_replies = 0
        self.other_requests = 0
        self._ids = itertools.count(1)
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        # receipt activity id (as this connector gave it) -> the future of its final state
        self._receipts: dict[str, asyncio.Future[bool]] = {}
        # message id the bot replied to -> the id this connector gave the reply
        self._receipt_of: dict[str, asyncio.Future[bool]] = {}
        self.app = web.Application(client_max_size=16 * 1024 * 1024)
        conversation = "/v3/conversations/{conversation}"
        self.app.router.add_post("/v3/conversations", self._create)
        self.app.router.add_get(conversation + "/pagedmembers", self._paged_members)
        self.app.router.add_post(conversation + "/activities", self._post)
        self.app.router.add_post(conversation + "/activities/{reply_to}", self._post)
        self.app.router.add_put(conversation + "/activities/{activity}", self._put)
        self.app.router.add_route("*", "/{tail:.*}", self._other)

    def expect_reply(self, activity_id: str) -> asyncio.Future[dict[str, Any]]:
        """A future of the bot's reply (its body) to the message `activity_id`."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[activity_id] = future
        return future

    def expect_receipt(self, activity_id: str) -> asyncio.Future[bool]:
        """A future of the receipt answering the file message `activity_id`: True once every
        file is recorded, False when one could not be."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._receipt_of[activity_id] = future
        return future

    def forget(self, activity_id: str) -> None:
        """Stop waiting for anything about `activity_id` (its waiter gave up)."""
        self._replies.pop(activity_id, None)
        self._receipt_of.pop(activity_id, None)

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        members = body.get("members") or [{}]
        return web.json_response({"id": f"a:soak-dm-{members[0].get('id', 'unknown')}"}, status=201)

    async def _paged_members(self, _request: web.Request) -> web.Response:
        return web.json_response({"members": self.members})

    async def _post(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        self.posts += 1
        given = f"activity-{next(self._ids)}"
        reply_to = str(body.get("replyToId") or request.match_info.get("reply_to") or "")
        if body.get("type") != "message":  # a typing indicator, say: not an answer
            return web.json_response({"id": given})
        future = self._replies.pop(reply_to, None)
        if future is not None and not future.done():
            future.set_result(body)
        elif reply_to:
            self.unmatched_replies += 1
        receipt = self._receipt_of.pop(reply_to, None)
        if receipt is not None:
            self._receipts[given] = receipt
            self._settle(given, body)
        return web.json_response({"id": given})

    async def _put(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        self.updates += 1
        activity = request.match_info["activity"]
        self._settle(activity, body)
        return web.json_response({"id": activity})

    def _settle(self, activity: str, body: dict[str, Any]) -> None:
        """Resolve a receipt's future when this version of it is final."""
        future = self._receipts.get(activity)
        if future is None:
            return
        text = json.dumps(body.get("attachments", []))
        if NOT_RECORDED in text:
            self._receipts.pop(activity)
            if not future.done():
                future.set_result(False)
        elif FINISHED.search(text):
            self._receipts.pop(activity)
            if not future.done():
                future.set_result(True)

    async def _other(self, request: web.Request) -> web.Response:
        self.other_requests += 1
        return web.json_response({"id": f"activity-{next(self._ids)}"})
