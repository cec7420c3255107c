"""Health endpoints: `GET /healthz` (the process is up), `GET /readyz` (its dependencies answer)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class Probe:
    """One dependency `/readyz` checks: `check` raises when it is down."""

    name: str
    check: Callable[[], Awaitable[None]]


PROBES = web.AppKey("probes", tuple[Probe, ...])
# Set by the first `/readyz` that answers 200: work that may wait until the service is ready
# (loading what is only needed on first use) waits for it.
READY = web.AppKey("ready", asyncio.Event)


async def healthz(_request: web.Request) -> web.Response:
    """The process is up and serving HTTP."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Every dependency answers; otherwise 503 naming what is down."""
    probes = request.app[PROBES]
    results = await asyncio.gather(*(_run(probe) for probe in probes))
    down = {name: reason for name, reason in results if reason is not None}
    checks = {name: ("down" if reason else "ok") for name, reason in results}
    if down:
        return web.json_response(
            {"status": "unavailable", "checks": checks, "down": down}, status=503
        )
    request.app[READY].set()
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


def add_health_routes(app: web.Application, probes: Sequence[Probe]) -> None:
    """Register the health endpoints on `app`, `/readyz` checking `probes`."""
    app[PROBES] = tuple(probes)
    app[READY] = asyncio.Event()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
