"""The integrity sweep's records: one pass at a time over every exhibit, and its alerts.

A pass re-hashes every exhibit of every case in a stable order (by exhibit id). Its progress
(`SweepState`) is kept in the records with a lease, so that of several workers exactly one
sweeps at a time, another takes over when the holder stops renewing, and a restart resumes
after the last exhibit whose result was recorded. A mismatch becomes an `IntegrityAlert`,
kept until it has been posted everywhere it should go.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class SweepState:
    """The current (or last) pass and who holds the lease to work on it."""

    pass_id: str | None = None  # None: no pass has ever started
    started_at: datetime | None = None
    cursor: str | None = None  # id of the last exhibit whose result is recorded in this pass
    finished_at: datetime | None = None
    checked: int = 0
    mismatches: int = 0
    bytes_read: int = 0
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None

    @property
    def running(self) -> bool:
        """Whether a pass has started and not finished."""
        return self.pass_id is not None and self.finished_at is None

    def due(self, now: datetime, period: timedelta) -> bool:
        """Whether a new pass should start: none yet, or the last finished `period` ago."""
        if self.running:
            return False
        return self.finished_at is None or now - self.finished_at >= period

    def next_due(self, period: timedelta) -> datetime | None:
        """When the next pass is due after a finished one."""
        return None if self.finished_at is None else self.finished_at + period


class AlertTarget(StrEnum):
    """Where an integrity alert is posted."""

    CASE_CHANNEL = "case channel"
    SECURITY_CHANNEL = "security channel"


@dataclass(frozen=True, slots=True)
class IntegrityAlert:
    """A stored exhibit that no longer matches what was taken in, and who is still to be told."""

    id: str
    pass_id: str
    case_id: str
    exhibit_id: str
    exhibit_ref: str
    region: str
    expected_sha256: str
    expected_size: int
    found_sha256: str | None  # None: the stored file could not be read (missing)
    found_size: int | None
    problem: str
    found_at: datetime
    pending: frozenset[AlertTarget]
    attempts: int = 0
