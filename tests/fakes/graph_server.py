"""A fake Microsoft Graph (v1.0) speaking the documented JSON for what Exhibit calls.

Served by a real aiohttp app; the real msgraph-sdk/kiota pipeline talks to it. It checks the
bearer token, honours `$select`, `$top` and `$filter=id in (...)` (on a group's transitive user
members only as an advanced query: `ConsistencyLevel: eventual` and `$count=true`, else 400
`Request_UnsupportedQuery` as Graph answers), pages with absolute
`@odata.nextLink`s, answers `$batch` (at most 20 requests, answers in reverse order, as Graph
may reorder them), and can be told to fail: whole HTTP requests (`faults`) or single requests
inside a batch (`item_faults`, or `route_faults` for one route), with a status and an optional
`Retry-After`. It counts every
HTTP request and every request inside a batch by route, e.g. `"GET /users/{id}"`.

Files: channel and chat messages with `reference` attachments, each channel's `filesFolder`
(whose `parentReference.driveId` is the channel's drive), each user's OneDrive
(`/users/{id}/drive`), `/shares/u!{base64url}/driveItem`
and `/driveItem/content`, which answers 302 to a pre-authenticated URL served here under
`/_files/` (outside `/v1.0`, checked by its `tempauth` query, refusing any `Authorization`
header as SharePoint may) or to a `download_url` the test chooses.
"""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from aiohttp import web

from evidence.hashing import QuickXorHash
from tests.fakes import serve

PREFIX = "/v1.0"
MAX_BATCH = 20
MAX_IN_VALUES = 15
# What Graph v1.0 returns for a user when no $select is given: not department nor accountEnabled.
DEFAULT_USER_FIELDS = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
_GUID = r"[0-9a-fA-F-]{36}"
_ROUTES: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("GET", "/users", re.compile(r"^/users$")),
    ("GET", "/users/{id}", re.compile(r"^/users/(?P<user>[^/]+)$")),
    (
        "GET",
        "/users/{id}/transitiveMemberOf",
        re.compile(r"^/users/(?P<user>[^/]+)/transitiveMemberOf$"),
    ),
    (
        "GET",
        "/groups/{id}/transitiveMembers/graph.user",
        re.compile(r"^/groups/(?P<group>[^/]+)/transitiveMembers/(microsoft\.)?graph\.user$"),
    ),
    ("POST", "/$batch", re.compile(r"^/\$batch$")),
    ("POST", "/users/{id}/sendMail", re.compile(r"^/users/(?P<user>[^/]+)/sendMail$")),
    (
        "GET",
        "/teams/{id}/channels/{id}/members",
        re.compile(r"^/teams/(?P<team>[^/]+)/channels/(?P<channel>[^/]+)/members$"),
    ),
    ("POST", "/teams/{id}/channels", re.compile(r"^/teams/(?P<team>[^/]+)/channels$")),
    (
        "GET",
        "/teams/{id}/channels/{id}",
        re.compile(r"^/teams/(?P<team>[^/]+)/channels/(?P<channel>[^/]+)$"),
    ),
    (
        "GET",
        "/teams/{id}/channels/{id}/messages/{id}",
        re.compile(
            r"^/teams/(?P<team>[^/]+)/channels/(?P<channel>[^/]+)/messages/(?P<message>[^/]+)$"
        ),
    ),
    (
        "GET",
        "/teams/{id}/channels/{id}/messages/{id}/replies/{id}",
        re.compile(
            r"^/teams/(?P<team>[^/]+)/channels/(?P<channel>[^/]+)/messages/(?P<message>[^/]+)"
            r"/replies/(?P<reply>[^/]+)$"
        ),
    ),
    (
        "GET",
        "/chats/{id}/messages/{id}",
        re.compile(r"^/chats/(?P<chat>[^/]+)/messages/(?P<message>[^/]+)$"),
    ),
    (
        "GET",
        "/teams/{id}/channels/{id}/filesFolder",
        re.compile(r"^/teams/(?P<team>[^/]+)/channels/(?P<channel>[^/]+)/filesFolder$"),
    ),
    ("GET", "/users/{id}/drive", re.compile(r"^/users/(?P<user>[^/]+)/drive$")),
    ("GET", "/shares/{id}/driveItem", re.compile(r"^/shares/(?P<share>[^/]+)/driveItem$")),
    (
        "GET",
        "/shares/{id}/driveItem/content",
        re.compile(r"^/shares/(?P<share>[^/]+)/driveItem/content$"),
    ),
)
FILES_PREFIX = "/_files/"
_IN_FILTER = re.compile(r"^id in \((?P<values>('[^']*')(\s*,\s*'[^']*')*)\)$")


@dataclass
class Fault:
    """Answer the next `times` requests with `status` (and `Retry-After`, if given)."""

    status: int
    retry_after: int | None = None
    times: int = 1


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer: status, headers, JSON body (None for no body)."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


def odata_error(status: int, code: str, message: str, **headers: str) -> Reply:
    """An answer with Graph's OData error body."""
    body = {"error": {"code": code, "message": message, "innerError": {"date": "2024-01-01"}}}
    return Reply(status, body, {"Content-Type": "application/json", **headers})


class FakeGraph:
    """State of the fake tenant and the switches and counters tests use."""

    def __init__(self, *, token: str, tenant_id: str = "") -> None:
        self.token = token
        self.tenant_id = tenant_id
        self.origin = ""
        self.users: dict[str, dict[str, Any]] = {}
        self.memberships: dict[str, list[str]] = {}
        self.channels: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.teams: set[str] = set()
        self.created_channels: list[dict[str, Any]] = []
        self.channel_names: dict[tuple[str, str], str] = {}  # (team, channel) -> displayName
        self.http_requests: Counter[str] = Counter()
        self.batched_requests: Counter[str] = Counter()
        self.selects: list[str] = []
        self.unauthorized = 0
        self.faults: deque[Fault] = deque()
        self.item_faults: deque[Fault] = deque()
        self.route_faults: dict[str, deque[Fault]] = {}
        self.delay = 0.0
        # Route name (e.g. "POST /$batch") -> an event its requests wait for before answering.
        self.gates: dict[str, asyncio.Event] = {}
        self.membership_page_limit = 999
        self.deleted_groups: set[str] = set()
        self.mailboxes: set[str] = set()  # addresses or ids the app may send from
        self.mail_refused: set[str] = set()  # mailboxes Exchange's access policy keeps it from
        self.sent_mail: list[dict[str, Any]] = []
        self.refuse_group_filter = False
        self.members_page_size = 100
        self.next_link_origin: str | None = None
        self.messages: dict[tuple[str, ...], dict[str, Any]] = {}
        self.drive_items: dict[str, FakeDriveItem] = {}
        self.channel_drives: dict[tuple[str, str], str] = {}  # the site drive of each channel
        self.user_drives: dict[str, str] = {}  # each user's OneDrive
        self.file_requests: list[dict[str, str]] = []

    @property
    def base_url(self) -> str:
        """The v1.0 root, once served."""
        return self.origin + PREFIX

    @property
    def _next_base(self) -> str:
        return (self.next_link_origin or self.origin) + PREFIX

    @property
    def total_http(self) -> int:
        """HTTP requests received (a $batch counts once)."""
        return sum(self.http_requests.values())

    def add_user(
        self,
        object_id: str,
        display_name: str,
        *,
        groups: list[str] | tuple[str, ...] = (),
        **properties: Any,
    ) -> None:
        """A user with Graph property names (`givenName=...`) and transitive group ids."""
        user = {"id": object_id, "displayName": display_name, "accountEnabled": True}
        user.update(properties)
        user.setdefault("businessPhones", [])
        self.users[object_id.lower()] = user
        self.memberships[object_id.lower()] = [g.lower() for g in groups]
        self.user_drives[object_id.lower()] = f"b!onedrive-{uuid.uuid4().hex}"

    def add_channel(
        self,
        team_id: str,
        channel_id: str,
        members: list[str],
        *,
        others: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
        name: str | None = None,
    ) -> None:
        """A channel whose Entra members are `members`; `others` are raw non-Entra members."""
        self.teams.add(team_id.lower())
        if name is not None:
            self.channel_names[(team_id.lower(), channel_id)] = name
        rows = [self._member(user_id) for user_id in members]
        self.channels[(team_id.lower(), channel_id)] = rows + list(others)
        self.channel_drives[(team_id.lower(), channel_id)] = f"b!site-{uuid.uuid4().hex}"

    def channel_drive(self, team_id: str, channel_id: str) -> str:
        """The id of the drive a channel's files live in (its team's site)."""
        return self.channel_drives[(team_id.lower(), channel_id)]

    def user_drive(self, object_id: str) -> str:
        """The id of a user's OneDrive."""
        return self.user_drives[object_id.lower()]

    def app(self) -> web.Application:
        """The aiohttp app; set `origin` (done by `serve_graph`) before use."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._http)
        return app

    async def _http(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith(FILES_PREFIX):
            return await self._file(request)
        if not path.startswith(PREFIX + "/"):
            return web.json_response({"error": {"code": "BadRequest"}}, status=400)
        route = self._route(request.method, path[len(PREFIX) :])
        self.http_requests[route[0] if route else f"{request.method} ?"] += 1
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            self.unauthorized += 1
            reply = odata_error(401, "InvalidAuthenticationToken", "Access token is empty.")
            return self._respond(reply)
        if self.delay:
            await asyncio.sleep(self.delay)
        gate = self.gates.get(route[0]) if route else None
        if gate is not None:
            await gate.wait()
        fault = _take(self.faults)
        if fault is not None:
            return self._respond(_fault_reply(fault))
        body: Any = None
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return self._respond(odata_error(400, "BadRequest", "Unable to read JSON."))
        query = dict(request.query)
        headers = {name.lower(): value for name, value in request.headers.items()}
        reply = self._dispatch(request.method, path[len(PREFIX) :], query, body, headers)
        return self._respond(reply)

    def _respond(self, reply: Reply) -> web.StreamResponse:
        if reply.body is None:
            return web.Response(status=reply.status, headers=dict(reply.headers))
        headers = {k: v for k, v in reply.headers.items() if k.lower() != "content-type"}
        return web.json_response(reply.body, status=reply.status, headers=headers)

    @staticmethod
    def _route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
        for verb, name, pattern in _ROUTES:
            match = pattern.match(path)
            if match and verb == method:
                return f"{verb} {name}", match.groupdict()
        return None

    def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: Any,
        headers: Mapping[str, str],
    ) -> Reply:
        route = self._route(method, path)
        if route is None:
            return odata_error(400, "BadRequest", f"Resource not found for the segment {path}.")
        name, params = route
        if name == "POST /$batch":
            return self._batch(body)
        if name == "GET /users":
            return self._list_users(query)
        if name == "GET /users/{id}":
            return self._get_user(params["user"], query)
        if name == "GET /users/{id}/transitiveMemberOf":
            return self._member_of(params["user"], query)
        if name == "GET /groups/{id}/transitiveMembers/graph.user":
            return self._group_users(params["group"], query, headers)
        if name == "GET /teams/{id}/channels/{id}/members":
            return self._channel_members(params["team"], params["channel"], query)
        if name == "POST /users/{id}/sendMail":
            return self._send_mail(params["user"], body)
        if name == "POST /teams/{id}/channels":
            return self._create_channel(params["team"], body)
        if name == "GET /teams/{id}/channels/{id}":
            return self._get_channel(params["team"], params["channel"], query)
        return self._files_dispatch(name, params, query)

    def _batch(self, body: Any) -> Reply:
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return odata_error(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > MAX_BATCH:
            return odata_error(400, "BadRequest", "Maximum number of requests exceeded: 20.")
        ids = [item.get("id") for item in requests if isinstance(item, dict)]
        if len(ids) != len(requests) or len(set(ids)) != len(ids) or None in ids:
            return odata_error(400, "BadRequest", "Batch request ids must be unique.")
        responses = []
        for item in requests:
            url = str(item.get("url", ""))
            if "://" in url:
                return odata_error(400, "BadRequest", "Batch URLs must be relative.")
            parts = urlsplit(url if url.startswith("/") else "/" + url)
            route = self._route(str(item.get("method", "")).upper(), parts.path)
            self.batched_requests[route[0] if route else "?"] += 1
            fault = _take(self.route_faults.get(route[0], deque()) if route else deque())
            fault = fault or _take(self.item_faults)
            if fault is not None:
                reply = _fault_reply(fault)
            else:
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                raw_headers = item.get("headers") or {}
                headers = {str(k).lower(): str(v) for k, v in raw_headers.items()}
                method = str(item.get("method", "")).upper()
                reply = self._dispatch(method, parts.path, query, item.get("body"), headers)
            responses.append(
                {
                    "id": item["id"],
                    "status": reply.status,
                    "headers": dict(reply.headers),
                    "body": reply.body,
                }
            )
        return Reply(200, {"responses": responses[::-1]}, {"Content-Type": "application/json"})

    def _select(self, query: dict[str, str]) -> list[str] | None:
        raw = query.get("$select")
        if raw is None:
            return None
        self.selects.append(raw)
        return [name.strip() for name in raw.split(",") if name.strip()]

    def _project(self, user: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
        names = select if select is not None else list(DEFAULT_USER_FIELDS)
        return {name: user.get(name) for name in names}

    def _get_user(self, object_id: str, query: dict[str, str]) -> Reply:
        if not re.fullmatch(_GUID, object_id):
            return odata_error(
                400, "Request_BadRequest", f"Invalid object identifier '{object_id}'."
            )
        user = self.users.get(object_id.lower())
        if user is None:
            return _not_found(object_id)
        body = {"@odata.context": f"{self.base_url}/$metadata#users/$entity"}
        body.update(self._project(user, self._select(query)))
        return Reply(200, body, {"Content-Type": "application/json"})

    def _list_users(self, query: dict[str, str]) -> Reply:
        wanted = self._in_filter(query)
        if isinstance(wanted, Reply):
            return wanted
        select = self._select(query)
        found = [self.users[w.lower()] for w in wanted if w.lower() in self.users]
        body = {
            "@odata.context": f"{self.base_url}/$metadata#users",
            "value": [self._project(user, select) for user in found],
        }
        return Reply(200, body, {"Content-Type": "application/json"})

    def _member_of(self, object_id: str, query: dict[str, str]) -> Reply:
        groups = self.memberships.get(object_id.lower())
        if groups is None:
            return _not_found(object_id)
        top = min(int(query.get("$top", "100")), 999, self.membership_page_limit)
        start = int(query.get("$skiptoken", "0"))
        page = groups[start : start + top]
        body: dict[str, Any] = {
            "@odata.context": f"{self.base_url}/$metadata#directoryObjects(id)",
            "value": [{"@odata.type": "#microsoft.graph.group", "id": g} for g in page],
        }
        if start + top < len(groups):
            body["@odata.nextLink"] = (
                f"{self._next_base}/users/{object_id}/transitiveMemberOf"
                f"?$select=id&$top={top}&$skiptoken={start + top}"
            )
        return Reply(200, body, {"Content-Type": "application/json"})

    def _group_users(
        self, group_id: str, query: dict[str, str], headers: Mapping[str, str]
    ) -> Reply:
        if not re.fullmatch(_GUID, group_id):
            return odata_error(
                400, "Request_BadRequest", f"Invalid object identifier '{group_id}'."
            )
        if group_id.lower() in self.deleted_groups:
            return _not_found(group_id)
        advanced = headers.get("consistencylevel") == "eventual" and query.get("$count") == "true"
        if self.refuse_group_filter or not advanced:
            message = (
                "The specified filter to the reference property query is currently not supported."
            )
            return odata_error(400, "Request_UnsupportedQuery", message)
        wanted = self._in_filter(query)
        if isinstance(wanted, Reply):
            return wanted
        members = [
            object_id
            for object_id in wanted
            if group_id.lower() in self.memberships.get(object_id.lower(), [])
        ]
        top = min(int(query.get("$top", "100")), 999, self.membership_page_limit)
        start = int(query.get("$skiptoken", "0"))
        body: dict[str, Any] = {
            "@odata.context": f"{self.base_url}/$metadata#users(id)",
            "@odata.count": len(members),
            "value": [
                {"@odata.type": "#microsoft.graph.user", "id": m}
                for m in members[start : start + top]
            ],
        }
        if start + top < len(members):
            body["@odata.nextLink"] = (
                f"{self._next_base}/groups/{group_id}/transitiveMembers/microsoft.graph.user"
                f"?$filter={quote(query['$filter'])}&$select=id&$count=true&$top={top}"
                f"&$skiptoken={start + top}"
            )
        return Reply(200, body, {"Content-Type": "application/json"})

    def _in_filter(self, query: dict[str, str]) -> list[str] | Reply:
        match = _IN_FILTER.match(query.get("$filter", "").strip())
        if match is None:
            return odata_error(400, "Request_UnsupportedQuery", "Unsupported query.")
        wanted = re.findall(r"'([^']*)'", match.group("values"))
        if len(wanted) > MAX_IN_VALUES:
            message = (
                "Too many child clauses specified in search filter expression containing 'OR'"
                f" operators: {len(wanted)}. Max allowed: {MAX_IN_VALUES}."
            )
            return odata_error(400, "Request_UnsupportedQuery", message)
        return wanted

    def _channel_members(self, team_id: str, channel_id: str, query: dict[str, str]) -> Reply:
        rows = self.channels.get((team_id.lower(), channel_id))
        if rows is None:
            return odata_error(404, "NotFound", "No team or channel found with this id.")
        start = int(query.get("$skiptoken", "0"))
        size = self.members_page_size
        body: dict[str, Any] = {
            "@odata.context": f"{self.base_url}/$metadata#teams('{team_id}')/channels/members",
            "@odata.count": len(rows),
            "value": rows[start : start + size],
        }
        if start + size < len(rows):
            body["@odata.nextLink"] = (
                f"{self._next_base}/teams/{team_id}/channels/{channel_id}/members"
                f"?$skiptoken={start + size}"
            )
        return Reply(200, body, {"Content-Type": "application/json"})

    def _get_channel(self, team_id: str, channel_id: str, query: dict[str, str]) -> Reply:
        name = self.channel_names.get((team_id.lower(), channel_id))
        if name is None:
            return odata_error(404, "NotFound", "Channel not found.")
        channel = {
            "id": channel_id,
            "displayName": name,
            "description": None,
            "membershipType": "standard",
            "webUrl": f"https://teams.microsoft.com/l/channel/{channel_id}",
        }
        select = self._select(query)
        if select is not None:
            channel = {key: value for key, value in channel.items() if key in select}
        context = f"{self.base_url}/$metadata#teams('{team_id}')/channels/$entity"
        return Reply(
            200, {"@odata.context": context, **channel}, {"Content-Type": "application/json"}
        )

    def _create_channel(self, team_id: str, body: Any) -> Reply:
        if team_id.lower() not in self.teams:
            return odata_error(404, "NotFound", "No team found with Group Id.")
        name = body.get("displayName") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            return odata_error(400, "BadRequest", "Channel name cannot be empty.")
        existing = {c["displayName"] for c in self.created_channels if c["team"] == team_id}
        if name in existing:
            return odata_error(409, "NameAlreadyExists", "Channel name already existed.")
        channel = {
            "id": f"19:{uuid.uuid4().hex}@thread.tacv2",
            "createdDateTime": "2024-01-01T00:00:00Z",
            "displayName": name,
            "description": body.get("description"),
            "membershipType": body.get("membershipType", "standard"),
            "email": "",
            "webUrl": "https://teams.example/channel",
        }
        self.created_channels.append({**channel, "team": team_id})
        context = f"{self.base_url}/$metadata#teams('{team_id}')/channels/$entity"
        return Reply(
            201, {"@odata.context": context, **channel}, {"Content-Type": "application/json"}
        )

    def _send_mail(self, mailbox: str, body: Any) -> Reply:
        """`sendMail`: 202 and no body once accepted (the documented JSON is checked here)."""
        mailbox = mailbox.lower()
        if mailbox not in self.mailboxes:
            return odata_error(
                404, "ErrorInvalidUser", f"The requested user '{mailbox}' is invalid."
            )
        if mailbox in self.mail_refused:
            denied = (
                "Access to OData is disabled: blocked by the tenant's application access policy."
            )
            return odata_error(403, "ErrorAccessDenied", denied)
        # Action parameter names are not case-sensitive: msgraph-sdk writes `Message`.
        params = {str(k).lower(): v for k, v in body.items()} if isinstance(body, dict) else {}
        sent = params.get("message")
        if not isinstance(sent, dict):
            return odata_error(400, "ErrorInvalidRequest", "Message is missing.")
        content = sent.get("body") or {}
        recipients = sent.get("toRecipients") or []
        addresses = [
            r.get("emailAddress", {}).get("address") for r in recipients if isinstance(r, dict)
        ]
        if (
            not isinstance(sent.get("subject"), str)
            or content.get("contentType") not in {"html", "text"}
            or not isinstance(content.get("content"), str)
            or not addresses
            or not all(isinstance(a, str) and "@" in a for a in addresses)
        ):
            return odata_error(400, "ErrorInvalidRecipients", "Invalid message.")
        self.sent_mail.append(
            {
                "from": mailbox,
                "to": addresses,
                "subject": sent["subject"],
                "contentType": content["contentType"],
                "content": content["content"],
                "saveToSentItems": params.get("savetosentitems"),
            }
        )
        return Reply(202)

    def _member(self, user_id: str) -> dict[str, Any]:
        user = self.users.get(user_id.lower(), {})
        return {
            "@odata.type": "#microsoft.graph.aadUserConversationMember",
            "id": f"MCMjMSMj{user_id}",
            "roles": [],
            "displayName": user.get("displayName"),
            "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
            "userId": user_id,
            "email": user.get("mail"),
            "tenantId": self.tenant_id,
        }

    # --- files: messages with reference attachments, driveItems, pre-authenticated downloads

    def add_channel_message(
        self,
        team_id: str,
        channel_id: str,
        sentid: str,
        *,
        attachments: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
        reply_to: str | None = None,
        sender: str = "1a7e2c3d-0001-4f00-8000-000000000001",
    ) -> dict[str, Any]:
        """A channel post (or, with `reply_to`, a reply to the post of that id)."""
        root = reply_to or sentid
        key = ("channel", team_id.lower(), channel_id, root, sentid if reply_to else "")
        message = self._message(sentid, attachments, sender, reply_to=reply_to)
        message["channelIdentity"] = {"teamId": team_id, "channelId": channel_id}
        self.messages[key] = message
        return message

    def add_chat_message(
        self,
        chat_id: str,
        sentid: str,
        *,
        attachments: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
        sender: str = "1a7e2c3d-0001-4f00-8000-000000000001",
    ) -> dict[str, Any]:
        """A message in a group or 1:1 chat."""
        message = self._message(sentid, attachments, sender, reply_to=None)
        message["chatId"] = chat_id
        self.messages[("chat", chat_id, sentid)] = message
        return message

    def add_drive_item(
        self,
        content_url: str,
        name: str,
        content: bytes,
        *,
        mime_type: str = "application/octet-stream",
        download_url: str | None = None,
        folder: bool = False,
        drive_id: str | None = None,
    ) -> FakeDriveItem:
        """A file SharePoint holds at `content_url`, served here unless `download_url` is given.

        `drive_id`: the drive it lives in (a channel's, a user's); a drive of its own if not given.
        """
        digest = QuickXorHash()
        digest.update(content)
        item = FakeDriveItem(
            id=f"01{uuid.uuid4().hex[:32].upper()}",
            name=name,
            content=content,
            content_url=content_url,
            mime_type=mime_type,
            etag=f'"{{{str(uuid.uuid4()).upper()}}},1"',
            quick_xor_hash=digest.digest_base64(),
            drive_id=drive_id or f"b!{uuid.uuid4().hex}",
            tempauth=uuid.uuid4().hex,
            download_url=download_url,
            folder=folder,
        )
        self.drive_items[content_url] = item
        return item

    def _message(
        self,
        sentid: str,
        attachments: list[dict[str, Any]] | tuple[dict[str, Any], ...],
        sender: str,
        *,
        reply_to: str | None,
    ) -> dict[str, Any]:
        tags = "".join(f'<attachment id="{a.get("id")}"></attachment>' for a in attachments)
        return {
            "id": sentid,
            "replyToId": reply_to,
            "etag": sentid,
            "messageType": "message",
            "createdDateTime": "2024-03-12T10:15:00.000Z",
            "lastModifiedDateTime": "2024-03-12T10:15:00.000Z",
            "lastEditedDateTime": None,
            "deletedDateTime": None,
            "subject": None,
            "summary": None,
            "chatId": None,
            "importance": "normal",
            "locale": "en-us",
            "webUrl": "https://teams.example/message",
            "policyViolation": None,
            "eventDetail": None,
            "from": {
                "application": None,
                "device": None,
                "user": {
                    "@odata.type": "#microsoft.graph.teamworkUserIdentity",
                    "id": sender,
                    "displayName": self.users.get(sender, {}).get("displayName"),
                    "userIdentityType": "aadUser",
                    "tenantId": self.tenant_id,
                },
            },
            "body": {"contentType": "html", "content": f"<p>evidence</p>{tags}"},
            "channelIdentity": None,
            "attachments": list(attachments),
            "mentions": [],
            "reactions": [],
        }

    def _files_dispatch(self, name: str, params: dict[str, str], query: dict[str, str]) -> Reply:
        if name == "GET /teams/{id}/channels/{id}/messages/{id}":
            key = ("channel", params["team"].lower(), params["channel"], params["message"], "")
            return self._get_message(key)
        if name == "GET /teams/{id}/channels/{id}/messages/{id}/replies/{id}":
            team, channel = params["team"].lower(), params["channel"]
            return self._get_message(("channel", team, channel, params["message"], params["reply"]))
        if name == "GET /chats/{id}/messages/{id}":
            return self._get_message(("chat", params["chat"], params["message"]))
        if name == "GET /teams/{id}/channels/{id}/filesFolder":
            return self._files_folder(params["team"], params["channel"])
        if name == "GET /users/{id}/drive":
            return self._user_drive(params["user"])
        item = self._shared_item(params["share"])
        if isinstance(item, Reply):
            return item
        if name == "GET /shares/{id}/driveItem":
            return self._drive_item(item, query)
        if item.folder:
            return odata_error(400, "invalidRequest", "The item is a folder.")
        return Reply(302, None, {"Location": self._download_url(item)})

    def _files_folder(self, team_id: str, channel_id: str) -> Reply:
        """The channel's folder in its team's site: a driveItem whose parent names the drive."""
        drive = self.channel_drives.get((team_id.lower(), channel_id))
        if drive is None:
            return odata_error(404, "NotFound", "No team or channel found with this id.")
        body = {
            "@odata.context": f"{self.base_url}/$metadata#teams('{team_id}')/channels"
            f"('{quote(channel_id)}')/filesFolder/$entity",
            "id": "01FOLDER" + uuid.uuid5(uuid.NAMESPACE_URL, drive).hex[:24].upper(),
            "name": "Case channel",
            "createdDateTime": "2024-03-12T10:00:00Z",
            "lastModifiedDateTime": "2024-03-12T10:00:00Z",
            "webUrl": "https://met.sharepoint.com/sites/OpKestrel/Shared%20Documents/Case",
            "size": 0,
            "parentReference": {"driveId": drive, "driveType": "documentLibrary"},
            "fileSystemInfo": {
                "createdDateTime": "2024-03-12T10:00:00Z",
                "lastModifiedDateTime": "2024-03-12T10:00:00Z",
            },
            "folder": {"childCount": 0},
        }
        return Reply(200, body, {"Content-Type": "application/json"})

    def _user_drive(self, object_id: str) -> Reply:
        """A user's OneDrive (`driveType` business)."""
        drive = self.user_drives.get(object_id.lower())
        if drive is None:
            return _not_found(object_id)
        user = self.users.get(object_id.lower(), {})
        body = {
            "@odata.context": f"{self.base_url}/$metadata#drives/$entity",
            "id": drive,
            "driveType": "business",
            "name": "OneDrive",
            "webUrl": "https://met-my.sharepoint.com/personal/user/Documents",
            "owner": {"user": {"id": object_id, "displayName": user.get("displayName")}},
        }
        return Reply(200, body, {"Content-Type": "application/json"})

    def _get_message(self, key: tuple[str, ...]) -> Reply:
        message = self.messages.get(key)
        if message is None:
            return odata_error(404, "NotFound", "Resource not found.")
        body = {"@odata.context": f"{self.base_url}/$metadata#chatMessage/$entity", **message}
        return Reply(200, body, {"Content-Type": "application/json"})

    def _shared_item(self, share: str) -> FakeDriveItem | Reply:
        if not share.startswith("u!"):
            return odata_error(400, "invalidRequest", "Invalid shares key.")
        encoded = share[2:]
        if "=" in encoded or "+" in encoded or "/" in encoded:
            return odata_error(400, "invalidRequest", "Invalid shares key.")
        try:
            url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return odata_error(400, "invalidRequest", "Invalid shares key.")
        item = self.drive_items.get(url)
        if item is None:
            return odata_error(404, "itemNotFound", "The sharing link no longer exists.")
        return item

    def _drive_item(self, item: FakeDriveItem, query: dict[str, str]) -> Reply:
        full: dict[str, Any] = {
            "id": item.id,
            "name": item.name,
            "size": 0 if item.folder else len(item.content),
            "eTag": item.etag,
            "cTag": item.etag.replace(",1", ",2"),
            "createdDateTime": "2024-03-12T10:14:00Z",
            "lastModifiedDateTime": "2024-03-12T10:14:00Z",
            "webUrl": item.content_url,
            "parentReference": {
                "driveType": "documentLibrary",
                "driveId": item.drive_id,
                "id": "01PARENT",
            },
        }
        if item.folder:
            full["folder"] = {"childCount": 0}
        else:
            full["file"] = {
                "mimeType": item.mime_type,
                "hashes": {"quickXorHash": item.quick_xor_hash},
            }
            full["@microsoft.graph.downloadUrl"] = self._download_url(item)
        select = self._select(query)
        body = full if select is None else {k: v for k, v in full.items() if k in select}
        return Reply(
            200,
            {"@odata.context": f"{self.base_url}/$metadata#driveItem", **body},
            {"Content-Type": "application/json"},
        )

    def _download_url(self, item: FakeDriveItem) -> str:
        if item.download_url is not None:
            return item.download_url
        return f"{self.origin}{FILES_PREFIX}{item.id}?tempauth={item.tempauth}&ApiVersion=2.0"

    async def _file(self, request: web.Request) -> web.StreamResponse:
        self.file_requests.append(dict(request.headers))
        wanted = request.path[len(FILES_PREFIX) :]
        item = next((i for i in self.drive_items.values() if i.id == wanted), None)
        if item is None or request.query.get("tempauth") != item.tempauth:
            return web.Response(status=401, text="Invalid tempauth")
        if "Authorization" in request.headers:
            # A pre-authenticated URL carries its credential; a bearer beside it is refused.
            return web.Response(status=401, text="Unexpected Authorization header")
        response = web.StreamResponse(headers={"Content-Type": item.mime_type})
        response.content_length = len(item.content)
        await response.prepare(request)
        view = memoryview(item.content)
        for start in range(0, len(view), 1024 * 1024):
            await response.write(view[start : start + 1024 * 1024])
        await response.write_eof()
        return response


@dataclass
class FakeDriveItem:
    """A file in the fake SharePoint; `download_url` None means served by the fake itself."""

    id: str
    name: str
    content: bytes
    content_url: str
    mime_type: str
    etag: str
    quick_xor_hash: str
    drive_id: str
    tempauth: str
    download_url: str | None = None
    folder: bool = False


def reference_attachment(
    name: str, content_url: str, *, attachment_id: str | None = None
) -> dict[str, Any]:
    """A message attachment as Graph lists a file posted in a channel or chat."""
    return {
        "id": attachment_id or str(uuid.uuid4()).upper(),
        "contentType": "reference",
        "contentUrl": content_url,
        "content": None,
        "name": name,
        "thumbnailUrl": None,
        "teamsAppId": None,
    }


def _take(faults: deque[Fault]) -> Fault | None:
    if not faults:
        return None
    fault = faults[0]
    fault.times -= 1
    if fault.times <= 0:
        faults.popleft()
    return fault


def _fault_reply(fault: Fault) -> Reply:
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    code = {429: "TooManyRequests", 503: "ServiceNotAvailable", 504: "GatewayTimeout"}
    return odata_error(
        fault.status, code.get(fault.status, "InternalServerError"), "Fault", **headers
    )


def _not_found(object_id: str) -> Reply:
    message = (
        f"Resource '{object_id}' does not exist or one of its queried reference-property"
        " objects are not present."
    )
    return odata_error(404, "Request_ResourceNotFound", message)


@asynccontextmanager
async def serve_graph(fake: FakeGraph) -> AsyncIterator[FakeGraph]:
    """Serve `fake` on a loopback port for the duration of the block."""
    async with serve(fake.app()) as origin:
        fake.origin = origin
        yield fake
