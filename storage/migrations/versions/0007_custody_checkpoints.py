"""An index of the custody checkpoints written to the checkpoint store.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create `custody_checkpoints`."""
    op.create_table(
        "custody_checkpoints",
        sa.Column("chain", sa.String(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.String(), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("chain", "sequence", name=op.f("pk_custody_checkpoints")),
    )


def downgrade() -> None:
    """Drop `custody_checkpoints`."""
    op.drop_table("custody_checkpoints")
