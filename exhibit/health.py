"""HTTP endpoints: `POST /api/messages`, `GET /healthz`, `GET /readyz`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import Agent, ClaimsIdentity

from bot.agent import error_reference
from bot.edge import Inbound, InboundPolicy, Rejected, accept, loggable

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class Probe:
    """One dependency `/readyz` checks: `check` raises when it is down."""

    name: str
    check: Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Runtime:
    """What the endpoints need, built once by the composition root."""

    adapter: CloudAdapter
    agent: Agent
    policy: InboundPolicy
    probes: Sequence[Probe]


RUNTIME = web.AppKey("runtime", Runtime)


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
    runtime = request.app[RUNTIME]
    try:
        inbound = await accept(request, runtime.policy)
    except Rejected as rejected:
        logger.info("Refused an inbound request (%d): %s", rejected.status, rejected.reason)
        return rejected.response()
    try:
        response = await runtime.adapter.process_request(
            _ValidatedRequest(request, inbound), runtime.agent
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


async def healthz(_request: web.Request) -> web.Response:
    """The process is up and serving HTTP."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Every dependency answers; otherwise 503 naming what is down."""
    probes = request.app[RUNTIME].probes
    results = await asyncio.gather(*(_run(probe) for probe in probes))
    down = {name: reason for name, reason in results if reason is not None}
    checks = {name: ("down" if reason else "ok") for name, reason in results}
    if down:
        return web.json_response(
            {"status": "unavailable", "checks": checks, "down": down}, status=503
        )
    return web.json_response({"status": "ready", "checks": checks})


async def _run(probe: Probe) -> tuple[str, str | None]:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            await probe.check()
    except TimeoutError:
        logger.warning("Readiness probe %s timed out", probe.name)
        return probe.name, "timed out"
    except Exception as err:  # a probe reports any failure as "down", never raises
        logger.warning("Readiness probe %s failed: %s", probe.name, type(err).__name__)
        return probe.name, type(err).__name__
    return probe.name, None


def add_routes(app: web.Application) -> None:
    """Register the endpoints on `app`."""
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
