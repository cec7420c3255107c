"""Refusals on the record, without letting one officer flood a case's chain of custody.

Every refused attempt is counted; only the first `LISTED_PER_WINDOW` refusals by one officer on
one case in a window become entries of their own. The next one appends a single
`refusals.suppressed` entry saying that further attempts in that window are counted, not
listed; after that the window's tally (kept beside the ledger, one row per officer, case and
window) is all that moves. So a script clicking a refused button 10,000 times adds a handful
of entries, and how often it clicked stays knowable (`refused_attempts`).

Windows are fixed (aligned to the epoch), so a tally row is one upsert and never rewritten by
another window.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from evidence.custody import Action, CustodyEvent
from evidence.officers import Officer
from evidence.records import RecordsUnit

LISTED_PER_WINDOW = 5
WINDOW = timedelta(minutes=10)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def window_start(now: datetime) -> datetime:
    """The start of the fixed window `now` falls in."""
    windows = (now - _EPOCH) // WINDOW
    return _EPOCH + windows * WINDOW


async def record_refusal(
    unit: RecordsUnit,
    officer: Officer,
    chain: str,
    action: Action | str,
    details: Mapping[str, Any],
    now: datetime,
    *,
    exhibit_id: str | None = None,
) -> bool:
    """Count a refused attempt on the case `chain`; list it unless the window is full.

    Returns whether an entry of its own was appended. `chain` is the case id.
    """
    start = window_start(now)
    attempts = await unit.tally_refusal(chain, officer.object_id, start)
    if attempts <= LISTED_PER_WINDOW:
        await unit.append_custody(
            CustodyEvent.by(officer, action, chain, now, details, exhibit_id=exhibit_id)
        )
        return True
    if attempts == LISTED_PER_WINDOW + 1:
        await unit.append_custody(
            CustodyEvent.by(
                officer,
                Action.REFUSALS_SUPPRESSED,
                chain,
                now,
                {
                    "window_start": start.isoformat(),
                    "window_end": (start + WINDOW).isoformat(),
                    "listed": LISTED_PER_WINDOW,
                    "note": "further refused attempts in this window are counted, not listed",
                },
            )
        )
    return False


async def refused_attempts(unit: RecordsUnit, officer_id: str, chain: str, since: datetime) -> int:
    """How many attempts by `officer_id` on `chain` were refused in the windows from `since`."""
    return await unit.refused_attempts(chain, officer_id, window_start(since))
