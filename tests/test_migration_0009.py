"""Migration 0009 on SQLite and PostgreSQL: cases and shares from before it read as unknown."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine

from cards.cases import channel_label
from storage.migrate import alembic_config, migrate
from storage.records import SqlRecords
from tests.test_share_migration import T0, _share, _upgrade_to
from tests.test_share_migration import engine as engine  # the fixture, on each backend

pytest_plugins = ["tests.support.postgres", "tests.support.record_backends"]


def _downgrade_to(revision: str) -> Callable[[sa.Connection], None]:
    def downgrade(connection: sa.Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    return downgrade


async def test_a_case_bound_before_has_no_name_and_a_share_no_contact(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade_to("0005"))
        meta = sa.MetaData()
        await connection.run_sync(meta.reflect)
        cases, shares = meta.tables["cases"], meta.tables["shares"]
        await connection.execute(
            cases.insert().values(
                id="case-1", reference="MET-26-0001", title="Burglary", region="uksouth",
                created_by="jane-oid", created_at=T0, channel_id="19:case@thread.tacv2",
                team_id="19:team@thread.tacv2", conversation_reference="{}", tenant_id="t",
            )
        )  # fmt: skip
        await connection.execute(shares.insert(), [_share("S-BEFORE", "pending")])

    await migrate(engine)

    async with SqlRecords(engine).unit() as unit:
        case = await unit.case_by_id("case-1")
        share = await unit.share("S-BEFORE")
    assert case is not None
    assert share is not None
    assert case.channel is not None
    assert case.channel.name is None
    assert channel_label(case.channel) == "bound (name not known yet)"
    assert (share.requester_email, share.requester_phone) == ("", "")

    # And back: the columns go, the rows stay.
    async with engine.begin() as connection:
        await connection.run_sync(_downgrade_to("0005"))
        columns = await connection.run_sync(
            lambda sync: (
                {c["name"] for c in sa.inspect(sync).get_columns("shares")}
                | {c["name"] for c in sa.inspect(sync).get_columns("cases")}
            )
        )
        assert not columns & {"channel_name", "requester_email", "requester_phone"}
        assert (await connection.execute(sa.text("SELECT count(*) FROM shares"))).scalar() == 1
