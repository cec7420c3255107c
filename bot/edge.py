"""The edge of `POST /api/messages`: size, content type, token, body shape and tenant.

Everything a caller controls is checked here, before the Agents SDK sees it, so bad input gets a
4xx with a reason instead of the SDK's 500 (see NOTES: a bare SDK app answers 500 to `null`, `[]`
or a relative `serviceUrl`). Some token rules are ours too, because the SDK does not make them:
only the Bot Framework issuer speaks for Teams (the SDK also trusts Microsoft's first-party
tenants), a token must carry `exp` (PyJWT checks it only when present) and a `serviceurl` equal
to the activity's (the SDK compares hosts, and only warns unless host checks are on), and a
token's tenant must be the activity's (the SDK never compares them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit

from aiohttp import web
from microsoft_agents.activity import Activity
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import Agent, ClaimsIdentity
from pydantic import ValidationError

from bot.agent import error_reference

logger = logging.getLogger(__name__)

MAX_JSON_DEPTH = 64
# Generous for Teams (ids are tens to a few hundred characters, a message at most ~28 KB of
# text, ten files) and small enough that no id can make a connector URL too long (414).
MAX_ID = 512
MAX_OBJECT_ID = 64
MAX_NAME = 256
MAX_SERVICE_URL = 512
MAX_TEXT = 40_000
MAX_VALUE_BYTES = 64 * 1024
MAX_ATTACHMENTS = 20
MAX_ENTITIES = 100
_FIELD_LIMITS = {
    "id": MAX_ID,
    "replyToId": MAX_ID,
    "serviceUrl": MAX_SERVICE_URL,
    "text": MAX_TEXT,
    "summary": MAX_TEXT,
    "type": MAX_NAME,
    "name": MAX_NAME,
    "channelId": MAX_NAME,
    "locale": MAX_NAME,
    "textFormat": MAX_NAME,
}
_ACCOUNT_LIMITS = {"id": MAX_ID, "name": MAX_NAME, "aadObjectId": MAX_OBJECT_ID,
                   "tenantId": MAX_OBJECT_ID}  # fmt: skip
_ACCOUNTS = ("from", "recipient", "conversation")


class TokenValidator(Protocol):
    """Checks a bearer token and returns its claims; raises on any invalid token."""

    async def validate_token(self, token: str) -> ClaimsIdentity:
        """The verified claims of `token`."""
        ...


class Rejected(Exception):
    """An inbound request that must not reach the agent; carries the HTTP status."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def response(self) -> web.Response:
        """The HTTP answer for this rejection."""
        return web.json_response({"error": self.reason}, status=self.status)


@dataclass(frozen=True, slots=True)
class Inbound:
    """A request that passed the edge: who sent it, and the activity as JSON and as a model."""

    claims: ClaimsIdentity
    body: dict[str, Any]
    activity: Activity
    tenant_id: str | None


@dataclass(frozen=True, slots=True)
class InboundPolicy:
    """What the edge accepts."""

    validator: TokenValidator
    allow_anonymous: bool
    allowed_tenants: frozenset[str]
    # Token issuers (lower case) that speak for Teams: the Bot Framework's, never an Entra
    # tenant's. Empty in anonymous mode, which has no audience: any token there is refused.
    issuers: frozenset[str]


async def accept(request: web.Request, policy: InboundPolicy) -> Inbound:
    """Check an inbound activity request; raise `Rejected` with the status to answer."""
    if request.content_type != "application/json":
        raise Rejected(415, "content type must be application/json")
    claims = await _authenticate(request.headers.get("Authorization"), policy)
    body = await _read_json(request)
    activity = _activity(body)
    tenant = _tenant_of(body)
    if tenant is None or tenant.lower() not in policy.allowed_tenants:
        logger.warning(
            "Refused activity %s from tenant %s (not on the allow-list)",
            loggable(body.get("id")),
            loggable(tenant),
        )
        raise Rejected(403, "tenant is not allowed")
    if claims is None:
        return Inbound(ClaimsIdentity(), body, activity, tenant.lower())
    _bind_token_to_activity(claims, body["serviceUrl"], tenant)
    return Inbound(claims, body, activity, tenant.lower())


async def _authenticate(header: str | None, policy: InboundPolicy) -> ClaimsIdentity | None:
    """The token's claims, or None for an anonymous request where that is allowed."""
    if header is None:
        if policy.allow_anonymous:
            return None
        raise Rejected(401, "authorization header is required")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Rejected(401, "authorization header must be a bearer token")
    try:
        claims = await policy.validator.validate_token(token)
    except Exception as err:  # any failure to validate is a 401, never a 500
        logger.warning("Token refused: %s", type(err).__name__)
        raise Rejected(401, "token is not valid for this service") from err
    _check_claims(claims, policy)
    return claims


def _check_claims(claims: ClaimsIdentity, policy: InboundPolicy) -> None:
    issuer = claims.get_claim_value("iss")
    if not isinstance(issuer, str) or issuer.lower() not in policy.issuers:
        # An Entra token of the force's own tenant is signed, addressed to the bot and carries
        # an object id: accepting it would let anyone in the tenant act as any officer.
        _refuse_token("an issuer that is not the Bot Framework")
    expiry = claims.get_claim_value("exp")
    if not isinstance(expiry, int | float) or isinstance(expiry, bool):
        _refuse_token("no expiry")
    if not isinstance(claims.get_claim_value("serviceurl"), str):
        _refuse_token("no serviceurl claim")


def _bind_token_to_activity(claims: ClaimsIdentity, service_url: str, tenant: str) -> None:
    if _url_key(claims.get_claim_value("serviceurl")) != _url_key(service_url):
        # The reply (carrying the bot's own token) goes to the activity's serviceUrl: it must
        # be the one the Bot Framework vouched for.
        _refuse_token("a serviceurl that is not the activity's")
    token_tenant = claims.get_claim_value("tid")
    if token_tenant is not None and str(token_tenant).lower() != tenant.lower():
        _refuse_token("a tenant that is not the activity's")


def _refuse_token(why: str) -> None:
    logger.warning("Token refused: %s", why)
    raise Rejected(401, "token is not valid for this service")


def _url_key(url: object) -> tuple[str, str, int | None, str, str] | None:
    """What makes two service URLs the same endpoint (case, default port, final slash aside)."""
    if not isinstance(url, str):
        return None
    try:
        parts: SplitResult = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if port is None:
        port = {"https": 443, "http": 80}.get(scheme)
    host = (parts.hostname or "").rstrip(".").lower()
    return scheme, host, port, parts.path.rstrip("/").lower(), parts.query


async def _read_json(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Rejected(413, "request body is too large") from None
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Rejected(400, "body is not valid JSON") from None
    except RecursionError:
        raise Rejected(400, f"body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    if _depth(body) > MAX_JSON_DEPTH:
        raise Rejected(400, f"body is nested deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(body, dict):
        raise Rejected(400, "body must be a JSON object (an activity)")
    return body


def _depth(value: object) -> int:
    """How deeply `value` nests, without recursion (the body is the attacker's)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[Any] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _activity(body: Mapping[str, Any]) -> Activity:
    for name in ("type", "serviceUrl"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise Rejected(400, f"activity.{name} is required")
    for name in ("conversation", "from", "recipient"):
        value = body.get(name)
        if not isinstance(value, dict) or not isinstance(value.get("id"), str):
            raise Rejected(400, f"activity.{name}.id is required")
    _check_bounds(body)
    service_url = urlsplit(body["serviceUrl"])
    if service_url.scheme not in {"http", "https"} or not service_url.hostname:
        raise Rejected(400, "activity.serviceUrl must be an absolute http(s) URL")
    try:
        return Activity.model_validate(body)
    except ValidationError as err:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in err.errors()})
        raise Rejected(400, f"activity has invalid fields: {', '.join(fields[:5])}") from None


def _check_bounds(body: Mapping[str, Any]) -> None:
    """Every id and free text the agent reads, bounded; the answer names the field."""
    _bounded(body, _FIELD_LIMITS, "activity")
    for account in _ACCOUNTS:
        value = body.get(account)
        if isinstance(value, dict):
            _bounded(value, _ACCOUNT_LIMITS, f"activity.{account}")
    _counted(body, "attachments", MAX_ATTACHMENTS)
    _counted(body, "entities", MAX_ENTITIES)
    for name in ("value", "channelData"):
        if name in body and len(json.dumps(body[name])) > MAX_VALUE_BYTES:
            raise Rejected(400, f"activity.{name} is larger than {MAX_VALUE_BYTES} bytes")


def _bounded(container: Mapping[str, Any], limits: Mapping[str, int], where: str) -> None:
    for name, limit in limits.items():
        value = container.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise Rejected(400, f"{where}.{name} is longer than {limit} characters")


def _counted(container: Mapping[str, Any], name: str, limit: int) -> None:
    value = container.get(name)
    if isinstance(value, list) and len(value) > limit:
        raise Rejected(400, f"activity.{name} has more than {limit} items")


def _tenant_of(body: Mapping[str, Any]) -> str | None:
    """The activity's tenant; None when absent or when its two places disagree."""
    conversation = body.get("conversation") or {}
    named = conversation.get("tenantId")
    channel_data = body.get("channelData")
    tenant_info = channel_data.get("tenant") if isinstance(channel_data, dict) else None
    carried = tenant_info.get("id") if isinstance(tenant_info, dict) else None
    tenants = {t.lower() for t in (named, carried) if isinstance(t, str) and t}
    return tenants.pop() if len(tenants) == 1 else None


def loggable(value: object) -> str:
    """Attacker-controlled text made safe for one log line."""
    text = str(value)[:80]
    return "".join(ch if ch.isprintable() else "?" for ch in text)


@dataclass(frozen=True, slots=True)
class Edge:
    """What `POST /api/messages` needs, built once by the composition root."""

    adapter: CloudAdapter
    agent: Agent
    policy: InboundPolicy


EDGE = web.AppKey("edge", Edge)


class _ValidatedRequest:
    """The SDK's HttpRequestProtocol over a request the edge has already checked."""

    method = "POST"

    def __init__(self, request: web.Request, inbound: Inbound) -> None:
        self._request = request
        self._inbound = inbound

    @property
    def headers(self) -> Mapping[str, str]:
        return self._request.headers

    async def json(self) -> dict[str, Any]:
        return self._inbound.body

    def get_claims_identity(self) -> ClaimsIdentity:
        return self._inbound.claims

    def get_path_param(self, name: str) -> str:
        return self._request.match_info[name]


async def messages(request: web.Request) -> web.StreamResponse:
    """Bot Framework activities from Teams (through the Azure Bot Service)."""
    edge = request.app[EDGE]
    try:
        inbound = await accept(request, edge.policy)
    except Rejected as rejected:
        logger.info("Refused an inbound request (%d): %s", rejected.status, rejected.reason)
        return rejected.response()
    try:
        response = await edge.adapter.process_request(
            _ValidatedRequest(request, inbound), edge.agent
        )
    except Exception:  # the turn handler logs its own; this is what escaped it (token, connector)
        reference = error_reference()
        logger.exception(
            "Activity %s could not be processed (ref %s)",
            loggable(inbound.body.get("id")),
            reference,
        )
        # Never a 5xx: the Bot Service would show the user an error or retry a turn that may
        # already have changed something; the reference ties the log to any report.
        return web.json_response({"error": "not processed", "reference": reference}, status=202)
    if response.body is not None:
        return web.json_response(
            response.body, status=response.status_code, headers=response.headers
        )
    return web.Response(status=response.status_code, headers=response.headers)


def add_message_route(app: web.Application, edge: Edge) -> None:
    """Register `POST /api/messages` on `app`."""
    app[EDGE] = edge
    app.router.add_post("/api/messages", messages)
