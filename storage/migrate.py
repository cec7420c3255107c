"""Bring a database's schema up to date (Alembic `upgrade head`), from code.

The bot calls `migrate` at start-up; `alembic -x url=... upgrade head` (alembic.ini at the
repository root) does the same by hand. Both run the same `storage/migrations` scripts.
"""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import create_engine, entra_password

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Alembic keeps its running environment in module globals: one migration per process at a time.
_running: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def alembic_config() -> Config:
    """Alembic's configuration without alembic.ini: the scripts travel with the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def migrate(target: AsyncEngine | str) -> None:
    """Upgrade the database of `target` (an engine, or a URL) to the newest revision.

    Idempotent. Concurrent callers wait for each other: in one process on a lock, across
    processes on an advisory lock (PostgreSQL) or the database's write lock (SQLite).
    """
    engine = create_engine(target) if isinstance(target, str) else target
    lock = _running.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    try:
        async with lock, engine.begin() as connection:
            await connection.run_sync(_upgrade)
    finally:
        if isinstance(target, str):
            await engine.dispose()


async def upgrade_and_report(url: str, *, entra: bool = False) -> str | None:
    """`migrate` the database at `url` and return the revision it is at afterwards.

    `entra`: log in with the service's Entra identity (a token as password) rather than a
    password in the URL.
    """
    credential = None
    if entra:
        from azure.identity.aio import DefaultAzureCredential  # only this mode needs it

        credential = DefaultAzureCredential()
    engine = create_engine(url, password=entra_password(credential) if credential else None)
    try:
        await migrate(engine)
        return await current_revision(engine)
    finally:
        await engine.dispose()
        if credential is not None:
            await credential.close()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


def head_revision() -> str | None:
    """The newest revision among the migration scripts."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
