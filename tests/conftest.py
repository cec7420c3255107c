"""Shared fixtures: Azurite on free ports, settings, the bot app with a recording connector."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from azure.core.credentials_async import AsyncTokenCredential
from microsoft_agents.hosting.core import AccessTokenProviderBase, AgentAuthConfiguration

from bot.edge import TokenValidator
from devtools.devstack import (
    ROOT,
    AzuriteAccount,
    Children,
    Ports,
    make_accounts,
    start_azurite,
    tenant_id,
)
from exhibit.composition import create_app
from exhibit.settings import Settings, load_settings
from tests.fakes.tenant import Tls, make_test_tls
from tests.support.connector import RecordingConnector
from tests.support.conversation import PERSONAL_CHAT, Conversation

TENANT = tenant_id()
BOT_APP_ID = "3f1d2c4b-5a69-4788-9b0a-1c2d3e4f5a6b"


@dataclass(frozen=True, slots=True)
class Azurite:
    """A running Azurite with one account per region."""

    ports: Ports
    accounts: tuple[AzuriteAccount, ...]

    def connection_string(self, region: str) -> str:
        """The connection string of `region`'s account."""
        account = next(a for a in self.accounts if a.region == region)
        return account.connection_string(self.ports)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite in memory on free ports for the whole session (uksouth and ukwest accounts)."""
    children = Children(tmp_path_factory.mktemp("azurite-logs"))
    ports = Ports.free()
    accounts = make_accounts()
    try:
        start_azurite(children, ports, accounts, location=None)
        yield Azurite(ports, accounts)
    finally:
        children.stop()


@pytest.fixture
def base_env(azurite: Azurite, tmp_path: Path) -> dict[str, str]:
    """Environment for a local, anonymous bot on Azurite and a fresh SQLite file."""
    return {
        "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS": "true",
        "EXHIBIT_ALLOWED_TENANTS": TENANT,
        "EXHIBIT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'exhibit.db'}",
        "EXHIBIT_REGIONS": "uksouth,ukwest",
        "EXHIBIT_REGION_UKSOUTH_CONNECTION_STRING": azurite.connection_string("uksouth"),
        "EXHIBIT_REGION_UKWEST_CONNECTION_STRING": azurite.connection_string("ukwest"),
        "EXHIBIT_LOCAL_DIRECTORY_FILE": str(ROOT / "dev" / "directory.yaml"),
        # Each test its own queue: a worker must never meet another test's jobs.
        "EXHIBIT_QUEUE_NAME": f"intake-{uuid.uuid4().hex[:12]}",
        "EXHIBIT_DOWNLOAD_HOSTS": "127.0.0.1",
        "EXHIBIT_SHARE_DOMAINS": "cps.gov.uk,justice.gov.uk",
        # Development creates it on first start; never the repository's var/.
        "EXHIBIT_CHECKPOINT_KEY_FILE": str(tmp_path / "checkpoint-key.pem"),
        # The scheduled integrity sweep would add its own custody entries to any test's case:
        # its tests step it themselves (tests/test_integrity_sweep.py).
        "EXHIBIT_SWEEP_ENABLED": "false",
    }


@pytest.fixture
def settings(base_env: dict[str, str]) -> Settings:
    """Settings of the local, anonymous bot."""
    return load_settings(base_env)


@pytest.fixture
async def connector() -> AsyncIterator[tuple[RecordingConnector, str]]:
    """A recording connector and its URL (use it as the activity's `serviceUrl`)."""
    recorder = RecordingConnector()
    server = TestServer(recorder.app, host="127.0.0.1")
    await server.start_server()
    try:
        yield recorder, str(server.make_url("/")).rstrip("/")
    finally:
        await server.close()


class StaticTokenProvider(AccessTokenProviderBase):
    """Outbound tokens for tests: the bot's calls to the connector carry this bearer."""

    TOKEN = "outbound-test-token"

    def __init__(self, config: AgentAuthConfiguration) -> None:
        self._config = config

    @property
    def configuration(self) -> AgentAuthConfiguration:
        return self._config

    async def get_access_token(
        self, resource_url: str, scopes: list[str], force_refresh: bool = False
    ) -> str:
        return self.TOKEN

    def get_token_credential(self) -> AsyncTokenCredential:
        raise NotImplementedError


BotClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
async def bot_client() -> AsyncIterator[BotClientFactory]:
    """Start the real bot app in-process: `await bot_client(settings, token_validator=...)`.

    Its `/readyz` is asked once, as a readiness probe would, unless `probe_ready=False`.
    """
    clients: list[TestClient[web.Request, web.Application]] = []

    async def start(
        settings: Settings,
        *,
        token_validator: TokenValidator | None = None,
        probe_ready: bool = True,
        **kw: Any,
    ) -> TestClient[web.Request, web.Application]:
        app = await create_app(
            settings, token_validator=token_validator, provider_factory=StaticTokenProvider, **kw
        )
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        if probe_ready:  # as the platform's readiness probe would: background work starts then
            await client.get("/readyz")
        return client

    yield start
    for client in clients:
        await client.close()


ConversationFactory = Callable[..., Awaitable[Conversation]]


@pytest.fixture
def converse(
    bot_client: BotClientFactory, connector: tuple[RecordingConnector, str]
) -> ConversationFactory:
    """Start the real app and talk to it: `await converse(settings, where=..., **app_parts)`."""

    async def start(settings: Settings, *, where: str = PERSONAL_CHAT, **kw: Any) -> Conversation:
        recorder, url = connector
        return Conversation(await bot_client(settings, **kw), recorder, url, where=where)

    return start


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A CA and a server certificate for the fake tenant's HTTPS token endpoint."""
    return make_test_tls(tmp_path_factory.mktemp("tls"))
