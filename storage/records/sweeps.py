"""The integrity sweep's records on SQL: its progress row with a lease, and pending alerts.

The lease is taken with one conditional `UPDATE ... WHERE` (free, expired or already ours), so
of several workers racing for it exactly one gets the row back; progress is saved only `WHERE`
the lease, the pass and the cursor are still as read, so a worker that lost its lease records
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, Table, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evidence.model import Exhibit
from evidence.sweeps import AlertTarget, IntegrityAlert, SweepState
from storage.records.rows import exhibit_from_row
from storage.tables import exhibits, integrity_alerts, integrity_sweeps

if TYPE_CHECKING:
    from storage.records.dialect import Insert

SWEEP = "exhibits"  # the one sweep there is: every exhibit of every case


class SweepQueries:
    """What a unit of work reads and writes for the integrity sweep."""

    _connection: AsyncConnection

    def _insert(self, table: Table) -> Insert:
        raise NotImplementedError

    async def sweep_state(self) -> SweepState | None:
        """The sweep's progress and lease as recorded (None before the first claim)."""
        query = select(integrity_sweeps).where(integrity_sweeps.c.name == SWEEP)
        row = (await self._connection.execute(query)).first()
        return None if row is None else _state(row)

    async def claim_sweep(self, owner: str, now: datetime, until: datetime) -> SweepState | None:
        """Take or renew the lease until `until` if it is free, expired or `owner`'s already.

        The state with the lease, or None when another owner holds an unexpired lease.
        """
        await self._connection.execute(
            self._insert(integrity_sweeps)
            .values(name=SWEEP, checked=0, mismatches=0, bytes_read=0)
            .on_conflict_do_nothing(index_elements=[integrity_sweeps.c.name])
        )
        lease = integrity_sweeps.c
        claimed = await self._connection.execute(
            update(integrity_sweeps)
            .where(
                lease.name == SWEEP,
                or_(
                    lease.lease_owner.is_(None),
                    lease.lease_owner == owner,
                    lease.lease_expires_at <= now,
                ),
            )
            .values(lease_owner=owner, lease_expires_at=until)
            .returning(*integrity_sweeps.c)
        )
        row = claimed.first()
        return None if row is None else _state(row)

    async def save_sweep(self, state: SweepState, *, expected: SweepState) -> bool:
        """Save the pass's progress and the lease's expiry, if still as `expected` was read.

        The condition is `expected`'s lease owner, pass and cursor: False (nothing changed) when
        another worker took the lease or moved the pass on meanwhile.
        """
        if expected.lease_owner is None or state.lease_owner != expected.lease_owner:
            return False
        row = integrity_sweeps.c
        saved = await self._connection.execute(
            update(integrity_sweeps)
            .where(
                row.name == SWEEP,
                row.lease_owner == expected.lease_owner,
                row.pass_id.is_not_distinct_from(expected.pass_id),
                row.cursor.is_not_distinct_from(expected.cursor),
            )
            .values(
                pass_id=state.pass_id,
                started_at=state.started_at,
                cursor=state.cursor,
                finished_at=state.finished_at,
                checked=state.checked,
                mismatches=state.mismatches,
                bytes_read=state.bytes_read,
                lease_expires_at=state.lease_expires_at,
            )
        )
        return saved.rowcount == 1

    async def release_sweep(self, owner: str) -> None:
        """Give the lease up, if `owner` holds it (progress stays)."""
        await self._connection.execute(
            update(integrity_sweeps)
            .where(integrity_sweeps.c.name == SWEEP, integrity_sweeps.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )

    async def exhibit_after(self, exhibit_id: str | None) -> Exhibit | None:
        """The exhibit following `exhibit_id` in id order (the first with None), any case."""
        query = select(exhibits).order_by(exhibits.c.id).limit(1)
        if exhibit_id is not None:
            query = query.where(exhibits.c.id > exhibit_id)
        row = (await self._connection.execute(query)).first()
        return None if row is None else exhibit_from_row(row)

    async def add_integrity_alert(self, alert: IntegrityAlert) -> None:
        """Keep a new alert until it has been posted."""
        await self._connection.execute(integrity_alerts.insert().values(_alert_row(alert)))

    async def open_integrity_alerts(self, limit: int = 10) -> Sequence[IntegrityAlert]:
        """Alerts still to be posted somewhere, oldest first."""
        alert = integrity_alerts.c
        query = (
            select(integrity_alerts)
            .where(or_(alert.to_case_channel.is_(True), alert.to_security_channel.is_(True)))
            .order_by(alert.found_at, alert.id)
            .limit(limit)
        )
        return [_alert(row) for row in await self._connection.execute(query)]

    async def save_integrity_alert(self, alert: IntegrityAlert) -> None:
        """Record where an alert is still to go, and how often it was tried."""
        await self._connection.execute(
            update(integrity_alerts)
            .where(integrity_alerts.c.id == alert.id)
            .values(
                to_case_channel=AlertTarget.CASE_CHANNEL in alert.pending,
                to_security_channel=AlertTarget.SECURITY_CHANNEL in alert.pending,
                attempts=alert.attempts,
            )
        )


def _state(row: Row[Any]) -> SweepState:
    return SweepState(
        pass_id=row.pass_id,
        started_at=row.started_at,
        cursor=row.cursor,
        finished_at=row.finished_at,
        checked=row.checked,
        mismatches=row.mismatches,
        bytes_read=row.bytes_read,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
    )


def _alert_row(alert: IntegrityAlert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "pass_id": alert.pass_id,
        "case_id": alert.case_id,
        "exhibit_id": alert.exhibit_id,
        "exhibit_ref": alert.exhibit_ref,
        "region": alert.region,
        "expected_sha256": alert.expected_sha256,
        "expected_size": alert.expected_size,
        "found_sha256": alert.found_sha256,
        "found_size": alert.found_size,
        "problem": alert.problem,
        "found_at": alert.found_at,
        "to_case_channel": AlertTarget.CASE_CHANNEL in alert.pending,
        "to_security_channel": AlertTarget.SECURITY_CHANNEL in alert.pending,
        "attempts": alert.attempts,
    }


def _alert(row: Row[Any]) -> IntegrityAlert:
    pending = set()
    if row.to_case_channel:
        pending.add(AlertTarget.CASE_CHANNEL)
    if row.to_security_channel:
        pending.add(AlertTarget.SECURITY_CHANNEL)
    return IntegrityAlert(
        id=row.id,
        pass_id=row.pass_id,
        case_id=row.case_id,
        exhibit_id=row.exhibit_id,
        exhibit_ref=row.exhibit_ref,
        region=row.region,
        expected_sha256=row.expected_sha256,
        expected_size=row.expected_size,
        found_sha256=row.found_sha256,
        found_size=row.found_size,
        problem=row.problem,
        found_at=row.found_at,
        pending=frozenset(pending),
        attempts=row.attempts,
    )
