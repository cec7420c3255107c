"""The SQL database (SQLite embedded, PostgreSQL in production) via SQLAlchemy async.

On SQLite every transaction starts with `BEGIN IMMEDIATE`, so it holds the database's write
lock from its first statement: a unit that reads a counter and then writes it can neither be
overtaken nor fail half-way with `SQLITE_BUSY_SNAPSHOT` (which `busy_timeout` cannot cure).
A connection whose execution options carry `DEFERRED_BEGIN` starts a plain deferred `BEGIN`
instead, for reads that must not queue behind writers (the readiness probe).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from azure.core.credentials_async import AsyncTokenCredential
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DEFERRED_BEGIN = {"exhibit_deferred_begin": True}
BUSY_TIMEOUT_MS = 5000
# The audience of Entra tokens for Azure Database for PostgreSQL.
POSTGRES_TOKEN_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"  # noqa: S105 (a scope)

Password = Callable[[], Awaitable[str]]


def entra_password(credential: AsyncTokenCredential) -> Password:
    """A password for each new PostgreSQL connection: a fresh Entra access token of the
    service's identity (tokens live about an hour; pooled connections outlive them, which
    PostgreSQL allows — the token is checked when a connection starts)."""

    async def token() -> str:
        return (await credential.get_token(POSTGRES_TOKEN_SCOPE)).token

    return token


def create_engine(
    url: str,
    *,
    sqlite_busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    password: Password | None = None,
    **kwargs: Any,
) -> AsyncEngine:
    """An async engine for `url`; on SQLite: folder created, FKs on, WAL, immediate transactions.

    `sqlite_busy_timeout_ms` is how long a SQLite transaction waits for another process's
    write lock; `password` (PostgreSQL) is asked for each new connection (`entra_password`);
    `kwargs` go to SQLAlchemy's `create_async_engine` (pool sizes, echo, ...).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if password is not None:
            if parsed.password:
                raise ValueError("a database URL with a password and an Entra identity")
            kwargs["connect_args"] = {**kwargs.get("connect_args", {}), "password": password}
        return create_async_engine(url, pool_pre_ping=True, **kwargs)
    if password is not None:
        raise ValueError("SQLite takes no password")
    database = parsed.database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: object) -> None:
        # The driver's own transaction handling (legacy sqlite3 mode) starts no transaction
        # for SELECT and commits SAVEPOINTs early: switch it off and BEGIN ourselves below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(sqlite_busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        deferred = connection.get_execution_options().get("exhibit_deferred_begin", False)
        connection.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

    return engine


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database cannot answer a trivial query."""
    async with engine.connect() as connection:
        await connection.execution_options(**DEFERRED_BEGIN)
        await connection.execute(text("SELECT 1"))
