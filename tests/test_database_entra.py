"""PostgreSQL reached with the service's Entra identity: a fresh token as each login's password.

Azure Database for PostgreSQL checks the token as the login role's password. Here a server of
the test's own checks a SCRAM password instead, and the "token" a credential hands out is that
password: what is proven is that the engine asks the credential for the PostgreSQL audience on
every new connection and logs in with what it returns — and fails with anything else.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from storage.database import POSTGRES_TOKEN_SCOPE, create_engine, entra_password
from tests.support.postgres import LocalPostgres, find_bindir

ROLE = "id-exhibit-test"


class Credential:
    """The remote Entra boundary: hands out `token` for the scopes asked, and counts them."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, 2_000_000_000)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> Credential:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None


@pytest.fixture(scope="module")
def server() -> Iterator[LocalPostgres]:
    bindir = find_bindir()
    if bindir is None:
        pytest.fail("PostgreSQL binaries (initdb, pg_ctl) not found", pytrace=False)
    local = LocalPostgres(bindir, password_roles=(ROLE,))
    try:
        local.start()
        yield local
    finally:
        local.stop()


async def test_each_connection_logs_in_with_a_fresh_entra_token(server: LocalPostgres) -> None:
    admin = create_async_engine(server.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    async with admin.connect() as connection:
        await connection.execute(text(f"CREATE ROLE \"{ROLE}\" LOGIN PASSWORD 'token-1'"))
    await admin.dispose()
    url = f"postgresql+asyncpg://{ROLE}@127.0.0.1:{server.port}/postgres"

    good = Credential("token-1")
    engine = create_engine(url, password=entra_password(good), poolclass=NullPool)
    for _ in range(2):
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT current_user"))).scalar() == ROLE
    await engine.dispose()
    assert good.scopes == [(POSTGRES_TOKEN_SCOPE,)] * 2

    wrong = create_engine(url, password=entra_password(Credential("stale")), poolclass=NullPool)
    with pytest.raises(Exception, match="password authentication failed"):
        async with wrong.connect() as connection:
            await connection.execute(text("SELECT 1"))
    await wrong.dispose()


def test_a_password_in_the_url_and_an_identity_are_refused() -> None:
    with pytest.raises(ValueError, match="password and an Entra identity"):
        create_engine(
            "postgresql+asyncpg://exhibit:secret@db/exhibit",
            password=entra_password(Credential("x")),
        )
    with pytest.raises(ValueError, match="SQLite takes no password"):
        create_engine("sqlite+aiosqlite:///x.db", password=entra_password(Credential("x")))
