"""Durable background jobs with a lease, and single-runner leases for periodic passes.

Revision ID: 0010
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration stands on its own: plain types here, `storage.tables.UtcDateTime` in queries.
UTC_TIME = sa.DateTime(timezone=True)
UNFINISHED = sa.text("state IN ('queued', 'running')")


def upgrade() -> None:
    """Create `background_jobs` and `service_leases`."""
    op.create_table(
        "background_jobs",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("dedupe_key", sa.String(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("officer_id", sa.String(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_until", UTC_TIME, nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.Column("due_at", UTC_TIME, nullable=False),
        sa.Column("finished_at", UTC_TIME, nullable=True),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_background_jobs")),
    )
    op.create_index(
        "ux_background_jobs_open_key",
        "background_jobs",
        ["dedupe_key"],
        unique=True,
        sqlite_where=UNFINISHED,
        postgresql_where=UNFINISHED,
    )
    op.create_index(
        "ix_background_jobs_state_due_at", "background_jobs", ["state", "due_at"], unique=False
    )
    op.create_table(
        "service_leases",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("expires_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_service_leases")),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("service_leases")
    op.drop_index("ix_background_jobs_state_due_at", table_name="background_jobs")
    op.drop_index("ux_background_jobs_open_key", table_name="background_jobs")
    op.drop_table("background_jobs")
