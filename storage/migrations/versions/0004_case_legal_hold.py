"""Cases keep their legal hold: reason, since when, and who set it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the `cases.hold_*` columns (all NULL: no case is on hold)."""
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("hold_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("hold_since", UTC_TIME, nullable=True))
        batch.add_column(sa.Column("hold_by_id", sa.String(), nullable=True))
        batch.add_column(sa.Column("hold_by_name", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop the `cases.hold_*` columns."""
    with op.batch_alter_table("cases") as batch:
        for column in ("hold_by_name", "hold_by_id", "hold_since", "hold_reason"):
            batch.drop_column(column)
