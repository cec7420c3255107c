"""Intake jobs get an idempotency key apart from their (now random) id; refusal tallies.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration stands on its own: plain types here, `storage.tables.UtcDateTime` in queries.
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add `intake_jobs.idempotency_key` (unique) and create `refusal_tallies`."""
    with op.batch_alter_table("intake_jobs") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(), nullable=True))
        batch.create_unique_constraint(op.f("uq_intake_jobs_idempotency_key"), ["idempotency_key"])
    op.create_table(
        "refusal_tallies",
        sa.Column("chain", sa.String(), nullable=False),
        sa.Column("actor_id", sa.String(), nullable=False),
        sa.Column("window_start", UTC_TIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "chain", "actor_id", "window_start", name=op.f("pk_refusal_tallies")
        ),
    )


def downgrade() -> None:
    """Drop `refusal_tallies` and the idempotency key."""
    op.drop_table("refusal_tallies")
    with op.batch_alter_table("intake_jobs") as batch:
        batch.drop_constraint(op.f("uq_intake_jobs_idempotency_key"), type_="unique")
        batch.drop_column("idempotency_key")
