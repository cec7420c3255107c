"""Alembic environment: async engines, batch mode on SQLite, the URL always from the caller.

Where the URL comes from, first match wins: a connection handed over in
`config.attributes["connection"]` (what `storage.migrate.migrate` does), `-x url=...` on the
command line, `EXHIBIT_DATABASE_URL`, `sqlalchemy.url` set on the config by a program.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, text

from storage.database import create_engine
from storage.tables import UtcDateTime, metadata, open_job_key_index

# Any constant will do: it only has to be the same for every Exhibit process.
MIGRATION_LOCK_KEY = 0x45584849424954

config = context.config
open_job_key_index()  # autogenerate compares against the whole schema
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    """The URL given by the caller; stop with a message naming the ways to give one."""
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("EXHIBIT_DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise SystemExit(
            "No database URL: pass `-x url=<sqlalchemy url>` or set EXHIBIT_DATABASE_URL"
        )
    return url


def render_item(kind: str, item: Any, _context: AutogenContext) -> str | Literal[False]:
    """Autogenerate writes plain types into revisions, never this package's own."""
    if kind == "type" and isinstance(item, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations(connection: Connection) -> None:
    """Upgrade through `connection`; on PostgreSQL, one migrating process at a time."""
    if connection.dialect.name == "postgresql":
        # Held to the end of the transaction: a second process waits, then finds it done.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online(url: str) -> None:
    """Migrate in one transaction on a fresh engine, then close it."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


def run_offline(url: str) -> None:
    """Write the SQL to standard output (`alembic upgrade head --sql`)."""
    context.configure(
        url=url,
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


given: Connection | None = config.attributes.get("connection")
if context.is_offline_mode():
    run_offline(database_url())
elif given is not None:
    run_migrations(given)
else:
    asyncio.run(run_online(database_url()))
