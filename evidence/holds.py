"""Legal hold on a case: set or lifted by an approver or admin, kept in the case and in storage.

The hold is recorded in the case first (so the force's retention processes honour it even
where storage cannot), then applied to every blob of the case where the region's storage
supports version-level immutability. Setting is safe first: the case is on hold before any
blob is, and an exhibit committed meanwhile reads the case's hold after its commit (and takes
it). Lifting is safe last: blobs are released first and the case only once every blob is; a
partial failure leaves the case on hold and says so. Repeating either is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from evidence.cases import MembersOf, check_visible
from evidence.custody import Action, CustodyEvent
from evidence.model import Case, LegalHold
from evidence.officers import Officer
from evidence.policy import Decision, can_hold_case
from evidence.records import RecordsUnit
from evidence.refusals import record_refusal


@dataclass(frozen=True, slots=True)
class HoldOutcome:
    """What storage did with a case's blobs: how many changed, how many failed."""

    supported: bool  # the region's storage supports legal holds at all
    changed: int
    failed: int
    listed: bool = True  # every container of the case could be listed

    @property
    def complete(self) -> bool:
        """Every blob of the case is as asked (trivially, where storage has no holds)."""
        return not self.supported or (self.listed and self.failed == 0)


class CaseHolds(Protocol):
    """Legal holds on a case's blobs in its region (version-level immutability)."""

    def supports(self, region: str) -> bool:
        """Whether the region's storage account supports legal holds."""
        ...

    async def hold_case(self, region: str, case_id: str, hold: bool) -> HoldOutcome:
        """Set or clear the legal hold on every blob of the case; never raises for one blob."""
        ...


async def decide_hold(
    unit: RecordsUnit,
    officer: Officer,
    case: Case,
    members_of: MembersOf,
    *,
    hold: bool,
    reason: str,
    now: datetime,
) -> tuple[Decision, Case]:
    """Whether the officer may set (`hold`) or lift the case's hold; setting marks the case.

    A refusal is recorded (the caller commits, then raises). Setting a hold on a case already
    on hold keeps the first hold (its reason and time) and changes nothing here.
    """
    attempt = {"attempt": "case hold on" if hold else "case hold off"}
    decision = await check_visible(unit, officer, case, members_of, now=now, attempt=attempt)
    if decision.allowed:
        decision = can_hold_case(officer, case, await members_of(case))
        if not decision.allowed:
            await check_visible_refusal(unit, officer, case, decision, attempt, now)
    if not decision.allowed or not hold or case.hold is not None:
        return decision, case
    placed = LegalHold(reason, now, officer.object_id, officer.display_name)
    if not await unit.set_case_hold(case.id, placed, expected=None):
        current = await unit.case_by_id(case.id)  # set meanwhile by someone else: theirs stands
        return decision, current or case
    return decision, replace(case, hold=placed)


async def check_visible_refusal(
    unit: RecordsUnit,
    officer: Officer,
    case: Case,
    decision: Decision,
    attempt: dict[str, str],
    now: datetime,
) -> None:
    """Record a refusal of someone who may see the case but not hold it."""
    details = {**attempt, "reason": decision.reason}
    await record_refusal(unit, officer, case.id, Action.ACCESS_REFUSED, details, now)


async def record_hold(
    unit: RecordsUnit,
    officer: Officer,
    case: Case,
    *,
    hold: bool,
    reason: str,
    outcome: HoldOutcome,
    now: datetime,
) -> Case | None:
    """Record what was done in the chain; lifting clears the case's hold once storage has.

    Returns the case as it now stands, or None when lifting lost a race (the hold changed
    since it was read: nothing cleared, the caller says so).
    """
    current = case
    lifted = not hold and outcome.complete and case.hold is not None
    if lifted:
        if not await unit.set_case_hold(case.id, None, expected=case.hold):
            return None
        current = replace(case, hold=None)
    details: dict[str, object] = {
        "reason": reason,
        "blobs": outcome.changed,
        "storage": "held" if hold else "released",
    }
    if not outcome.supported:
        details["storage"] = "not available in this region"
    elif not outcome.complete:
        details["storage"] = "incomplete"
        details["failed"] = outcome.failed
    if not hold and case.hold is None:
        details["note"] = "the case was not on hold"
    elif not hold and not lifted:
        details["note"] = "the case stays on hold until every file is released"
    action = Action.CASE_HOLD_SET if hold else Action.CASE_HOLD_CLEARED
    await unit.append_custody(CustodyEvent.by(officer, action, case.id, now, details))
    return current
