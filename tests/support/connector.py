"""A recording Bot Framework connector: the `serviceUrl` a bot under test replies to.

It speaks the Connector REST API's wire format (a POST to
`/v3/conversations/{id}/activities[/{replyToId}]` answers `{"id": ...}`; a POST to
`/v3/conversations` opens a 1:1 chat — the same one for the same member, as Teams does — and
answers its id; `GET /v3/teams/{id}/conversations` lists a team's channels) and keeps every
request.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Received:
    """One request the bot made to the connector."""

    method: str
    path: str
    authorization: str | None
    body: dict[str, Any]
    id: str | None = None  # the activity id answered to a post (a card's id for later updates)


@dataclass(eq=False)
class Hold:
    """The first post `matches` picks is held unanswered (a Teams that hangs) until `released`,
    then refused with 503 and not recorded: it never reached anyone. With `accept`, it is then
    taken and recorded like any other (a post that reaches Teams late, after later ones)."""

    matches: Callable[[str, dict[str, Any]], bool]  # (path, body)
    accept: bool = False
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)


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
        self.app.router.add_post("/v3/conversations", self._create)
        # Team id -> its channels (ConversationList JSON: id, and a name but for General).
        self.team_channels: dict[str, list[dict[str, Any]]] = {}
        self.app.router.add_get("/v3/teams/{team}/conversations", self._channels)
        # Members for whom opening a 1:1 chat fails (Teams: the app is not installed for them).
        self.unreachable: set[str] = set()
        # Statuses to answer the next activity posts with (Teams throttling), then accept.
        self.refusals: list[int] = []
        self.retry_after: str | None = "0"
        # Teams' per-conversation limits, enforced like Teams does (429 past them) when set:
        # (operations, seconds) pairs; `violations` counts the posts refused for them.
        self.rate_limits: tuple[tuple[int, float], ...] = ()
        self.violations = 0
        self._accepted_at: dict[str, list[float]] = {}
        self._holds: list[Hold] = []
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

    async def _channels(self, request: web.Request) -> web.Response:
        """`GET /v3/teams/{id}/conversations`: the team's channels; 404 for a team not set."""
        self.received.append(
            Received("GET", request.path, request.headers.get("Authorization"), {})
        )
        channels = self.team_channels.get(request.match_info["team"])
        if channels is None:
            return web.json_response({"error": {"code": "NotFound"}}, status=404)
        return web.json_response({"conversations": channels})

    async def _create(self, request: web.Request) -> web.Response:
        """`POST /v3/conversations`: a 1:1 chat with the one member named, by their Teams id."""
        body = await request.json()
        async with self._arrived:
            self.received.append(
                Received("POST", request.path, request.headers.get("Authorization"), body)
            )
        members = body.get("members") or []
        if body.get("isGroup") or len(members) != 1 or not members[0].get("id"):
            return web.json_response({"error": {"code": "BadArgument"}}, status=400)
        if members[0]["id"] in self.unreachable:
            return web.json_response({"error": {"code": "Forbidden"}}, status=403)
        return web.json_response({"id": personal_chat(members[0]["id"])}, status=201)

    def posted_to(self, conversation: str) -> list[dict[str, Any]]:
        """Bodies of the activities posted or updated in one conversation (any thread of it)."""
        prefix = f"/v3/conversations/{conversation}"
        return [
            r.body
            for r in self.received
            if r.method in {"POST", "PUT"}
            and (r.path.startswith(prefix + "/") or r.path.startswith(prefix + ";"))
        ]

    def hold(self, matches: Callable[[str, dict[str, Any]], bool], *, accept: bool = False) -> Hold:
        """Hold the first post or update `matches` picks; see `Hold`."""
        held = Hold(matches, accept)
        self._holds.append(held)
        return held

    def _refusal(self, request: web.Request) -> web.Response | None:
        """A throttling answer, if this post is to be refused (see `refusals`, `rate_limits`)."""
        if request.method not in {"POST", "PUT"}:
            return None
        headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
        if self.refusals:
            return web.json_response(
                {"error": {"code": "Throttled"}}, status=self.refusals.pop(0), headers=headers
            )
        if self.rate_limits:
            conversation = request.path.split("/")[3].split(";")[0]
            now = asyncio.get_running_loop().time()
            times = self._accepted_at.setdefault(conversation, [])
            for count, seconds in self.rate_limits:
                if len([t for t in times if t > now - seconds]) >= count:
                    self.violations += 1
                    return web.json_response(
                        {"error": {"code": "Throttled"}}, status=429, headers=headers
                    )
            times.append(now)
        return None

    async def _record(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        body = await request.json() if request.can_read_body else {}
        for held in self._holds:
            if not held.arrived.is_set() and held.matches(request.path, body):
                held.arrived.set()
                await held.released.wait()
                if not held.accept:
                    return web.json_response({"error": {"code": "ServiceError"}}, status=503)
                break
        answered = f"activity-{next(self._ids)}"
        async with self._arrived:
            self.received.append(
                Received(
                    request.method,
                    request.path,
                    request.headers.get("Authorization"),
                    body,
                    answered,
                )
            )
            self._arrived.notify_all()
        return web.json_response({"id": answered})

    def activities(self) -> list[dict[str, Any]]:
        """Bodies of the activities posted, in order."""
        return [
            r.body
            for r in self.received
            if r.method in {"POST", "PUT"} and r.path != "/v3/conversations"
        ]

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        """Wait (5 s at most) until `count` activities have arrived; return all of them."""
        async with asyncio.timeout(5), self._arrived:
            await self._arrived.wait_for(lambda: len(self.activities()) >= count)
        return self.activities()


def personal_chat(teams_user_id: str) -> str:
    """The id the recording connector gives the bot's 1:1 chat with a Teams user."""
    return f"a:personal-{teams_user_id.removeprefix('29:')}"
