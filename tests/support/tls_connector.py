"""The recording connector over HTTPS at `https://localhost`, for bots with real credentials.

A bot with credentials checks every outbound `serviceUrl` (https only, no loopback IP literals,
listed hosts only), so its tests reply to `https://localhost:<port>` with `localhost` on the
allowed list. The connector's certificate is the tests' self-signed one; the Agents SDK's
connector client uses aiohttp's default verifying context, so that context is told to trust it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp.connector
from aiohttp.test_utils import TestServer

from tests.fakes.tenant import Tls
from tests.support.connector import RecordingConnector

_trusted: set[str] = set()


def trust_test_ca(tls: Tls) -> None:
    """Make aiohttp's default client context trust the tests' certificate (once per process)."""
    ca_file = str(tls.material.ca_file)
    if ca_file not in _trusted:
        aiohttp.connector._SSL_CONTEXT_VERIFIED.load_verify_locations(ca_file)
        _trusted.add(ca_file)


@asynccontextmanager
async def https_connector(tls: Tls) -> AsyncIterator[tuple[RecordingConnector, str]]:
    """A recording connector and its `https://localhost:<port>` URL."""
    trust_test_ca(tls)
    recorder = RecordingConnector()
    server = TestServer(recorder.app, host="127.0.0.1")
    await server.start_server(ssl=tls.context)
    try:
        yield recorder, f"https://localhost:{server.port}"
    finally:
        await server.close()
