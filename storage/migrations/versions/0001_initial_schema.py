"""Initial schema: cases, exhibits and their counters, intake jobs, the custody ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration stands on its own: plain types here, `storage.tables.UtcDateTime` in queries.
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "cases",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("reference", sa.String(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("region", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("channel_id", sa.String(), nullable=True),
        sa.Column("team_id", sa.String(), nullable=True),
        sa.Column("graph_team_id", sa.String(), nullable=True),
        sa.Column("conversation_reference", sa.Text(), nullable=True),
        sa.Column("tenant_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_cases_channel_id")),
        sa.UniqueConstraint("reference", name=op.f("uq_cases_reference")),
    )
    op.create_index("ix_cases_created_at", "cases", ["created_at"])
    op.create_table(
        "exhibits",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("initials", sa.String(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("produced_by", sa.String(), nullable=False),
        sa.Column("produced_by_name", sa.Text(), nullable=False),
        sa.Column("original_name", sa.Text(), nullable=False),
        sa.Column("stored_name", sa.Text(), nullable=False),
        sa.Column("declared_type", sa.String(), nullable=False),
        sa.Column("detected_type", sa.String(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("region", sa.String(), nullable=False),
        sa.Column("blob_name", sa.Text(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("source_details", sa.JSON(), nullable=False),
        sa.Column(
            "created_at", UTC_TIME, server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_exhibits_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exhibits")),
        sa.UniqueConstraint(
            "case_id", "initials", "number", name=op.f("uq_exhibits_case_id_initials_number")
        ),
    )
    op.create_table(
        "exhibit_counters",
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("initials", sa.String(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_exhibit_counters_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("case_id", "initials", name=op.f("pk_exhibit_counters")),
    )
    op.create_table(
        "intake_jobs",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("officer_id", sa.String(), nullable=False),
        sa.Column("officer_name", sa.Text(), nullable=False),
        sa.Column("source_kind", sa.String(), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("declared_type", sa.String(), nullable=False),
        sa.Column("declared_size", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.Column("conversation_reference", sa.Text(), nullable=False),
        sa.Column("receipt_activity_id", sa.String(), nullable=True),
        sa.Column("exhibit_id", sa.String(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("source_details", sa.JSON(none_as_null=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_intake_jobs_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["exhibit_id"], ["exhibits.id"], name=op.f("fk_intake_jobs_exhibit_id_exhibits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_jobs")),
    )
    op.create_table(
        "custody_entries",
        sa.Column("chain", sa.String(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("actor_id", sa.String(), nullable=False),
        sa.Column("actor_name", sa.Text(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=True),
        sa.Column("exhibit_id", sa.String(), nullable=True),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("previous_hash", sa.String(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("chain", "sequence", name=op.f("pk_custody_entries")),
    )
    op.create_table(
        "custody_heads",
        sa.Column("chain", sa.String(), nullable=False),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_custody_heads")),
    )


def downgrade() -> None:
    """Drop every table."""
    op.drop_table("custody_heads")
    op.drop_table("custody_entries")
    op.drop_table("intake_jobs")
    op.drop_table("exhibit_counters")
    op.drop_table("exhibits")
    op.drop_index("ix_cases_created_at", table_name="cases")
    op.drop_table("cases")
