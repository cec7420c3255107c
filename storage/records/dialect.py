"""INSERT … ON CONFLICT for the database in use, loading only that database's dialect.

SQLAlchemy's PostgreSQL dialect takes a noticeable part of a cold start; a SQLite run never
needs it, and a PostgreSQL run never needs SQLite's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Table

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

    Insert = postgresql.Insert | sqlite.Insert


def insert_into(table: Table, dialect_name: str) -> Insert:
    """`insert(table)` with `on_conflict_*` for `dialect_name` ("postgresql" or "sqlite")."""
    if dialect_name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)
