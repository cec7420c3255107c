"""The msgraph-sdk client: Graph's default middleware, our base URL, retries and timeout."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from kiota_abstractions.request_option import RequestOption
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_request_adapter import options as msgraph_default_options
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core.authentication import AzureIdentityAuthenticationProvider
from msgraph_core.graph_client_factory import GraphClientFactory
from opentelemetry import trace

from graph.config import GraphDirectoryConfig
from graph.credentials import AsyncCredential
from storage.telemetry import span

tracer = trace.get_tracer("exhibit.graph")

# Graph resources named on spans; any other first path segment is "other".
RESOURCES = frozenset(
    {"users", "groups", "teams", "chats", "drives", "sites", "me", "directoryObjects", "$batch",
     "applications", "servicePrincipals", "shares", "subscriptions"}
)  # fmt: skip


class TracedTransport(httpx.AsyncBaseTransport):
    """Each request that reaches the network, in an `exhibit.graph.request` span: the method,
    the resource (the path's first segment after the version, from a fixed list), the status.
    Never the path or query, which carry ids, addresses and search terms."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        segments = [part for part in request.url.path.split("/") if part]
        resource = segments[1] if len(segments) > 1 else ""
        attributes = {
            "http.request.method": request.method,
            "exhibit.graph.resource": resource if resource in RESOURCES else "other",
        }
        with span(tracer, "exhibit.graph.request", attributes) as current:
            response = await self._inner.handle_async_request(request)
            current.set_attribute("http.response.status_code", response.status_code)
            return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(frozen=True, slots=True)
class GraphConnection:
    """A Graph client and what must be closed with it."""

    client: GraphServiceClient
    adapter: GraphRequestAdapter
    http: httpx.AsyncClient
    transport: httpx.AsyncHTTPTransport
    credential: AsyncCredential

    async def aclose(self) -> None:
        """Close the HTTP client, its connection pool and the credential."""
        try:
            await self.http.aclose()
        finally:
            try:
                # msgraph's transport wrapper does not close the transport it wraps.
                await self.transport.aclose()
            finally:
                await self.credential.close()


def connect(config: GraphDirectoryConfig, credential: AsyncCredential) -> GraphConnection:
    """Build the client; no request is sent until first use."""
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=[config.scope], allowed_hosts=list(config.allowed_hosts)
    )
    options: dict[str, RequestOption] = dict(msgraph_default_options)
    options[RetryHandlerOption.get_key()] = RetryHandlerOption(
        delay=config.retry_delay, max_retries=config.max_retries
    )
    transport = httpx.AsyncHTTPTransport(http2=True, retries=0)
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(
            transport=TracedTransport(transport),
            timeout=httpx.Timeout(config.timeout),
            follow_redirects=False,
        ),
        options=options,
    )
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = config.base_url.rstrip("/")
    client = GraphServiceClient(request_adapter=adapter)
    return GraphConnection(client, adapter, http, transport, credential)
