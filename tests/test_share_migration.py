"""Migration 0005 on SQLite and PostgreSQL: a share revoked before it keeps who approved it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine

from evidence.shares import ShareStatus
from storage.database import create_engine
from storage.migrate import alembic_config, migrate
from storage.records import SqlRecords

if TYPE_CHECKING:  # importing it here would keep pytest from registering it as a plugin
    from tests.support.postgres import PostgresServer

pytest_plugins = ["tests.support.postgres", "tests.support.record_backends"]

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
APPROVED_AT = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
REVOKED_AT = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)


@pytest.fixture
async def engine(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """A database of its own (migrations are not undone), on each backend."""
    server: PostgresServer | None = None
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = await server.create_database("exhibit_migration")
    engine = create_engine(url)
    yield engine
    await engine.dispose()
    if server is not None:
        await server.drop_database(url)


def _upgrade_to(revision: str) -> Callable[[sa.Connection], None]:
    def upgrade(connection: sa.Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    return upgrade


def _share(share_id: str, status: str, **decided: object) -> dict[str, object]:
    return {
        "id": share_id, "case_id": "case-1", "exhibit_ids": ["ex-1"],
        "requested_by": "jane-oid", "requested_by_name": "Jane Smith",
        "recipient": "lawyer@cps.gov.uk", "organisation_type": "cps", "reason": "trial",
        "days": 14, "status": status, "created_at": T0, "request_expires_at": T0,
        "downloads": 0, "requester_reference": "{}", **decided,
    }  # fmt: skip


async def test_revoked_shares_get_their_approval_back_from_the_chain(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade_to("0003"))
        meta = sa.MetaData()
        await connection.run_sync(meta.reflect)
        cases, shares, entries = (meta.tables[n] for n in ("cases", "shares", "custody_entries"))
        await connection.execute(
            cases.insert().values(
                id="case-1", reference="MET-26-0001", title="Burglary", region="uksouth",
                created_by="jane-oid", created_at=T0,
            )
        )  # fmt: skip
        revoked_by_jane = {"decided_by": "jane-oid", "decided_by_name": "Jane Smith",
                           "decided_at": REVOKED_AT, "decision_reason": "wrong lawyer"}  # fmt: skip
        await connection.execute(
            shares.insert(),
            [
                _share("S-REVOKED", "revoked", **revoked_by_jane),
                _share("S-REJECTED", "rejected", decided_by="ravi-oid",
                       decided_by_name="Ravi Patel", decided_at=APPROVED_AT,
                       decision_reason="not relevant"),
            ],
        )  # fmt: skip
        await connection.execute(
            entries.insert(),
            [
                {"chain": "case-1", "sequence": n, "at": at, "actor_id": actor,
                 "actor_name": name, "case_id": "case-1", "exhibit_id": None,
                 "action": action, "details": details,
                 "previous_hash": "0" * 64, "hash": f"{n}" * 64}
                for n, at, actor, name, action, details in [
                    (1, APPROVED_AT, "sarah-oid", "Sarah Okafor", "share.approved",
                     {"share": "S-OTHER", "note": None}),
                    (2, APPROVED_AT, "ravi-oid", "Ravi Patel", "share.approved",
                     {"share": "S-REVOKED", "note": "fine"}),
                    (3, REVOKED_AT, "jane-oid", "Jane Smith", "share.revoked",
                     {"share": "S-REVOKED", "note": "wrong lawyer"}),
                ]
            ],
        )  # fmt: skip

    await migrate(engine)

    async with SqlRecords(engine).unit() as unit:
        revoked = await unit.share("S-REVOKED")
        rejected = await unit.share("S-REJECTED")
    assert revoked is not None
    assert rejected is not None
    assert revoked.status is ShareStatus.REVOKED
    assert (revoked.decided_by, revoked.decided_by_name, revoked.decided_at) == (
        "ravi-oid", "Ravi Patel", APPROVED_AT)  # fmt: skip
    assert revoked.decision_reason == "fine"
    assert (revoked.revoked_by, revoked.revoked_by_name, revoked.revoked_at) == (
        "jane-oid", "Jane Smith", REVOKED_AT)  # fmt: skip
    assert revoked.revocation_reason == "wrong lawyer"
    # A share that was never revoked is left as it was.
    assert (rejected.decided_by_name, rejected.revoked_by) == ("Ravi Patel", None)
    assert rejected.request_key is None
