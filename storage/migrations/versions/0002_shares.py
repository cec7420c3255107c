"""Shares: exhibits shared with an external recipient through an expiring link.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration stands on its own: plain types here, `storage.tables.UtcDateTime` in queries.
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the shares table."""
    op.create_table(
        "shares",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("exhibit_ids", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("requested_by_name", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("organisation_type", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("request_expires_at", UTC_TIME, nullable=False),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.Column("decided_by_name", sa.Text(), nullable=True),
        sa.Column("decided_at", UTC_TIME, nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("token_sha256", sa.String(), nullable=True),
        sa.Column("link_expires_at", UTC_TIME, nullable=True),
        sa.Column("max_downloads", sa.Integer(), nullable=True),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.Column("requester_reference", sa.Text(), nullable=False),
        sa.Column("approval_activity_id", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_shares_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shares")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_shares_token_sha256")),
    )
    op.create_index("ix_shares_case_id_created_at", "shares", ["case_id", "created_at"])
    op.create_index("ix_shares_status_link_expires_at", "shares", ["status", "link_expires_at"])


def downgrade() -> None:
    """Drop the shares table."""
    op.drop_index("ix_shares_status_link_expires_at", table_name="shares")
    op.drop_index("ix_shares_case_id_created_at", table_name="shares")
    op.drop_table("shares")
