"""Shares keep the revocation apart from the decision, and a request key against duplicates.

Revision ID: 0005
Revises: 0008
Create Date: 2026-12-01

Until now a revocation overwrote `decided_by`/`decided_at`/`decision_reason`. For shares
revoked before this revision those columns are moved to the new `revoked_*` columns, and the
approval is restored from the case's chain of custody (its `share.approved` entry), which was
never overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration stands on its own: plain types here, `storage.tables.UtcDateTime` in queries.
UTC_TIME = sa.DateTime(timezone=True)

_shares = sa.table(
    "shares",
    sa.column("id", sa.String()),
    sa.column("case_id", sa.String()),
    sa.column("status", sa.String()),
    sa.column("decided_by", sa.String()),
    sa.column("decided_by_name", sa.Text()),
    sa.column("decided_at", UTC_TIME),
    sa.column("decision_reason", sa.Text()),
    sa.column("revoked_by", sa.String()),
    sa.column("revoked_by_name", sa.Text()),
    sa.column("revoked_at", UTC_TIME),
    sa.column("revocation_reason", sa.Text()),
)
_entries = sa.table(
    "custody_entries",
    sa.column("chain", sa.String()),
    sa.column("sequence", sa.Integer()),
    sa.column("at", UTC_TIME),
    sa.column("actor_id", sa.String()),
    sa.column("actor_name", sa.Text()),
    sa.column("action", sa.String()),
    sa.column("details", sa.JSON()),
)


def upgrade() -> None:
    """Add `revoked_*` and `request_key` (unique); split the revoked shares' two facts."""
    with op.batch_alter_table("shares") as batch:
        batch.add_column(sa.Column("revoked_by", sa.String(), nullable=True))
        batch.add_column(sa.Column("revoked_by_name", sa.Text(), nullable=True))
        batch.add_column(sa.Column("revoked_at", UTC_TIME, nullable=True))
        batch.add_column(sa.Column("revocation_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("request_key", sa.String(), nullable=True))
        batch.create_unique_constraint(op.f("uq_shares_request_key"), ["request_key"])
    connection = op.get_bind()
    revoked = connection.execute(
        sa.select(_shares.c.id, _shares.c.case_id).where(_shares.c.status == "revoked")
    ).all()
    for share_id, case_id in revoked:
        connection.execute(
            _shares.update()
            .where(_shares.c.id == share_id)
            .values(
                revoked_by=_shares.c.decided_by,
                revoked_by_name=_shares.c.decided_by_name,
                revoked_at=_shares.c.decided_at,
                revocation_reason=_shares.c.decision_reason,
            )
        )
        approval = _approval(connection, case_id, share_id)
        connection.execute(
            _shares.update()
            .where(_shares.c.id == share_id)
            .values(
                decided_by=approval.get("actor_id"),
                decided_by_name=approval.get("actor_name"),
                decided_at=approval.get("at"),
                decision_reason=approval.get("note"),
            )
        )


def _approval(connection: sa.Connection, case_id: str, share_id: str) -> dict[str, Any]:
    """Who approved `share_id`, when and with what note, from the case's chain (empty if none)."""
    rows = connection.execute(
        sa.select(_entries.c.actor_id, _entries.c.actor_name, _entries.c.at, _entries.c.details)
        .where(_entries.c.chain == case_id)
        .where(_entries.c.action == "share.approved")
        .order_by(_entries.c.sequence)
    ).all()
    for actor_id, actor_name, at, details in rows:
        if isinstance(details, dict) and details.get("share") == share_id:
            note = details.get("note")
            return {"actor_id": actor_id, "actor_name": actor_name, "at": at,
                    "note": str(note) if note else None}  # fmt: skip
    return {}


def downgrade() -> None:
    """Drop the revocation and the request key (a revoked share's decider becomes the revoker)."""
    connection = op.get_bind()
    connection.execute(
        _shares.update()
        .where(_shares.c.status == "revoked")
        .values(
            decided_by=_shares.c.revoked_by,
            decided_by_name=_shares.c.revoked_by_name,
            decided_at=_shares.c.revoked_at,
            decision_reason=_shares.c.revocation_reason,
        )
    )
    with op.batch_alter_table("shares") as batch:
        batch.drop_constraint(op.f("uq_shares_request_key"), type_="unique")
        batch.drop_column("request_key")
        batch.drop_column("revocation_reason")
        batch.drop_column("revoked_at")
        batch.drop_column("revoked_by_name")
        batch.drop_column("revoked_by")
