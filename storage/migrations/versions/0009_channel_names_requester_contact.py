"""Cases keep their channel's display name; shares keep how to reach the requesting officer.

Revision ID: 0009
Revises: 0005
Create Date: 2026-12-01

Cases bound before this revision have no name (NULL): the case card says the name is not known
yet until Teams tells it (a rename) or the channel is bound again. Shares requested before it
have no contact (''): the recipient's page and the e-mail then name only the force's line.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add `cases.channel_name` and `shares.requester_email`/`requester_phone`."""
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("channel_name", sa.Text(), nullable=True))
    with op.batch_alter_table("shares") as batch:
        batch.add_column(sa.Column("requester_email", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("requester_phone", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    """Drop them again.

    Plain `ALTER TABLE ... DROP COLUMN` (SQLite 3.35+): a batch would copy `cases`, which
    SQLite refuses while `exhibits` and `shares` hold foreign keys to it.
    """
    op.drop_column("shares", "requester_phone")
    op.drop_column("shares", "requester_email")
    op.drop_column("cases", "channel_name")
