"""A fake Entra tenant: the HTTPS token endpoint and the fake Graph, wired to trust each other."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graph.config import CredentialKind, GraphDirectoryConfig
from tests.fakes.graph_server import FakeGraph, serve_graph
from tests.fakes.token_server import TlsMaterial, TokenServer, make_tls, serve_tokens

TENANT_ID = "6d2c4a10-5b1e-4c8f-9a3e-0e5f1b7c2d41"
CLIENT_ID = "0b7c2a51-8d3e-4f6a-9b1c-2d3e4f5a6b7c"
CLIENT_SECRET = "exhibit-test-secret"


@dataclass(frozen=True, slots=True)
class Tls:
    """Test TLS: files for clients, a ready context for the server."""

    material: TlsMaterial
    context: ssl.SSLContext


def make_test_tls(directory: Path, dns_names: Sequence[str] = ("localhost",)) -> Tls:
    """Fresh TLS material (blocking: call from a sync fixture)."""
    material = make_tls(directory, dns_names)
    return Tls(material, material.server_context())


@dataclass(frozen=True, slots=True)
class FakeTenant:
    """Token endpoint and Graph of one fake tenant."""

    graph: FakeGraph
    tokens: TokenServer
    tls: Tls

    def config(self, **overrides: Any) -> GraphDirectoryConfig:
        """A client-secret configuration pointing at this tenant; `overrides` win."""
        settings: dict[str, Any] = {
            "credential_kind": CredentialKind.CLIENT_SECRET,
            "tenant_id": TENANT_ID,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "authority_host": self.tokens.authority,
            "ca_bundle": self.tls.material.ca_file,
            "base_url": self.graph.base_url,
            "retry_delay": 0.0,
        }
        settings.update(overrides)
        return GraphDirectoryConfig(**settings)


@asynccontextmanager
async def fake_tenant(tls: Tls, **token_options: Any) -> AsyncIterator[FakeTenant]:
    """Serve a token endpoint (HTTPS) and a Graph (HTTP on loopback) that accepts its tokens."""
    tokens = TokenServer(
        tenant_id=TENANT_ID, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **token_options
    )
    fake = FakeGraph(token=tokens.token, tenant_id=TENANT_ID)
    async with serve_tokens(tokens, tls.context), serve_graph(fake) as graph:
        yield FakeTenant(graph, tokens, tls)
