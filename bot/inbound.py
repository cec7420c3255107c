"""The edge of `POST /api/messages`: size, content type, token, body shape and tenant.

Everything a caller controls is checked here, before the Agents SDK sees it, so bad input gets a
4xx with a reason instead of the SDK's 500 (see NOTES: a bare SDK app answers 500 to `null`, `[]`
or a relative `serviceUrl`). Tenant restriction is ours too: the SDK never compares a caller's
tenant with the allow-list.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import web
from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core import ClaimsIdentity
from pydantic import ValidationError

logger = logging.getLogger(__name__)


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


async def accept(request: web.Request, policy: InboundPolicy) -> Inbound:
    """Check an inbound activity request; raise `Rejected` with the status to answer."""
    if request.content_type != "application/json":
        raise Rejected(415, "content type must be application/json")
    claims = await _authenticate(request.headers.get("Authorization"), policy)
    token_tenant = claims.get_claim_value("tid")
    if token_tenant and token_tenant.lower() not in policy.allowed_tenants:
        logger.warning("Token from a tenant that is not allowed: %s", token_tenant)
        raise Rejected(401, "token is not valid for this service")
    body = await _read_json(request)
    activity = _activity(body)
    tenant = _tenant_of(body)
    if tenant is None or tenant.lower() not in policy.allowed_tenants:
        logger.warning(
            "Refused activity %s from tenant %s (not on the allow-list)",
            _loggable(body.get("id")),
            _loggable(tenant),
        )
        raise Rejected(403, "tenant is not allowed")
    return Inbound(claims, body, activity, tenant.lower())


async def _authenticate(header: str | None, policy: InboundPolicy) -> ClaimsIdentity:
    if header is None:
        if policy.allow_anonymous:
            return ClaimsIdentity()
        raise Rejected(401, "authorization header is required")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Rejected(401, "authorization header must be a bearer token")
    try:
        return await policy.validator.validate_token(token)
    except Exception as err:  # any failure to validate is a 401, never a 500
        logger.warning("Token refused: %s", type(err).__name__)
        raise Rejected(401, "token is not valid for this service") from err


async def _read_json(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Rejected(413, "request body is too large") from None
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Rejected(400, "body is not valid JSON") from None
    if not isinstance(body, dict):
        raise Rejected(400, "body must be a JSON object (an activity)")
    return body


def _activity(body: Mapping[str, Any]) -> Activity:
    for name in ("type", "serviceUrl"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise Rejected(400, f"activity.{name} is required")
    for name in ("conversation", "from", "recipient"):
        value = body.get(name)
        if not isinstance(value, dict) or not isinstance(value.get("id"), str):
            raise Rejected(400, f"activity.{name}.id is required")
    service_url = urlsplit(body["serviceUrl"])
    if service_url.scheme not in {"http", "https"} or not service_url.hostname:
        raise Rejected(400, "activity.serviceUrl must be an absolute http(s) URL")
    try:
        return Activity.model_validate(body)
    except ValidationError as err:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in err.errors()})
        raise Rejected(400, f"activity has invalid fields: {', '.join(fields[:5])}") from None


def _tenant_of(body: Mapping[str, Any]) -> str | None:
    conversation = body.get("conversation") or {}
    tenant = conversation.get("tenantId")
    if isinstance(tenant, str) and tenant:
        return tenant
    channel_data = body.get("channelData")
    if isinstance(channel_data, dict):
        tenant_info = channel_data.get("tenant")
        if isinstance(tenant_info, dict) and isinstance(tenant_info.get("id"), str):
            return str(tenant_info["id"])
    return None


def _loggable(value: object) -> str:
    """Attacker-controlled text made safe for one log line."""
    text = str(value)[:80]
    return "".join(ch if ch.isprintable() else "?" for ch in text)
