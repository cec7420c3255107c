"""The integrity sweep: its progress and lease, and the alerts still to be posted.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration stands on its own: plain types here, `storage.tables.UtcDateTime` in queries.
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create `integrity_sweeps` and `integrity_alerts`."""
    op.create_table(
        "integrity_sweeps",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("pass_id", sa.String(), nullable=True),
        sa.Column("started_at", UTC_TIME, nullable=True),
        sa.Column("cursor", sa.String(), nullable=True),
        sa.Column("finished_at", UTC_TIME, nullable=True),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("mismatches", sa.Integer(), nullable=False),
        sa.Column("bytes_read", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_expires_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_integrity_sweeps")),
    )
    op.create_table(
        "integrity_alerts",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("pass_id", sa.String(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("exhibit_id", sa.String(), nullable=False),
        sa.Column("exhibit_ref", sa.String(), nullable=False),
        sa.Column("region", sa.String(), nullable=False),
        sa.Column("expected_sha256", sa.String(), nullable=False),
        sa.Column("expected_size", sa.BigInteger(), nullable=False),
        sa.Column("found_sha256", sa.String(), nullable=True),
        sa.Column("found_size", sa.BigInteger(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("found_at", UTC_TIME, nullable=False),
        sa.Column("to_case_channel", sa.Boolean(), nullable=False),
        sa.Column("to_security_channel", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrity_alerts")),
    )
    op.create_index(
        op.f("ix_integrity_alerts_found_at"), "integrity_alerts", ["found_at"], unique=False
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_index(op.f("ix_integrity_alerts_found_at"), table_name="integrity_alerts")
    op.drop_table("integrity_alerts")
    op.drop_table("integrity_sweeps")
