"""Whether a database's schema is already at the newest migration, without importing Alembic.

Alembic imports every SQL dialect it knows, Mako and Pygments: about a third of the bot's
start-up. A service that starts against a database already at the newest revision (every start
but the first after a release) needs none of it, so start-up asks this first and runs
`storage.migrate.migrate` only when the answer is no (or unknown).
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import DEFERRED_BEGIN

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"

_REVISION = re.compile(r'^revision\s*(?::[^=]*)?=\s*"([^"]+)"\s*$', re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


def script_head(versions: Path = VERSIONS) -> str | None:
    """The newest revision among the migration scripts, or None when this simple reading
    cannot tell (a branch, a merge, a script it does not understand): then ask Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions.glob("*.py"):
        source = script.read_text(encoding="utf-8")
        revision = _REVISION.findall(source)
        down = _DOWN.findall(source)
        if len(revision) != 1 or len(down) != 1:
            return None
        revisions.add(revision[0])
        if down[0] == "None":
            continue
        parent = re.fullmatch(r'"([^"]+)"', down[0])
        if parent is None:
            return None
        parents.add(parent.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


async def schema_is_current(engine: AsyncEngine) -> bool:
    """Whether the database behind `engine` is at `script_head()` (False when unknown)."""
    head = script_head()
    if head is None:
        return False
    try:
        async with engine.connect() as connection:
            await connection.execution_options(**DEFERRED_BEGIN)
            rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    except DBAPIError:  # no version table yet: a new database
        return False
    return [row[0] for row in rows] == [head]
