"""Records backends for contract suites: SQLite (a file) and a real PostgreSQL, migrated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import create_engine
from storage.migrate import migrate
from storage.records import SqlRecords
from storage.tables import metadata

if TYPE_CHECKING:  # importing it here would keep pytest from registering it as a plugin
    from tests.support.postgres import PostgresServer

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test."""
    return cast(str, request.param)


@pytest.fixture(scope="session")
async def contract_postgres(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """One migrated PostgreSQL database for the session: creating one per test costs ~0.2 s."""
    url = await postgres_server.create_database("exhibit_contract")
    try:
        await migrate(url)
        yield url
    finally:
        await postgres_server.drop_database(url)


@pytest.fixture
async def emptied_postgres(contract_postgres: str) -> str:
    """The session's PostgreSQL database with every row deleted."""
    engine = create_engine(contract_postgres)
    try:
        async with engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                await connection.execute(delete(table))
    finally:
        await engine.dispose()
    return contract_postgres


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database holding no records: a new SQLite file, or the emptied PostgreSQL one."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'records.db'}"
    return cast(str, request.getfixturevalue("emptied_postgres"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on that database."""
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def records(engine: AsyncEngine) -> SqlRecords:
    """The records store on the migrated database."""
    await migrate(engine)
    return SqlRecords(engine)
