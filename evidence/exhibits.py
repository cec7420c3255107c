"""Finding, viewing and verifying exhibits, and reading their chain of custody."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from evidence.cases import MembersOf, check_visible, find_case
from evidence.custody import (
    Action,
    Actor,
    ChainReport,
    CustodyEntry,
    CustodyEvent,
    verify_chain,
)
from evidence.errors import ExhibitError, InvalidInput
from evidence.model import Case, Exhibit, ExhibitRef
from evidence.officers import Officer
from evidence.policy import Decision, can_view_case
from evidence.records import RecordsUnit
from evidence.stored_blob import StoredBlob


class ExhibitNotFound(ExhibitError):
    """No exhibit with this reference in the case (or in any case the officer can see)."""

    def __init__(self, case_reference: str | None, exhibit_ref: str) -> None:
        super().__init__(f"{case_reference or '?'} {exhibit_ref}")
        self.case_reference = case_reference
        self.exhibit_ref = exhibit_ref


@dataclass(frozen=True, slots=True)
class ExhibitTarget:
    """`[<case-ref>] <exhibit-ref>` as typed."""

    case_reference: str | None
    ref: ExhibitRef


@dataclass(frozen=True, slots=True)
class ExhibitLookup:
    """An exhibit the officer asked for, or the refusal to show it."""

    case: Case
    exhibit: Exhibit | None
    decision: Decision


async def find_exhibit(
    unit: RecordsUnit,
    officer: Officer,
    target: ExhibitTarget,
    members_of: MembersOf,
    *,
    channel_id: str | None,
    now: datetime,
) -> ExhibitLookup:
    """The exhibit in the named case, the channel's case, or the one visible case that has it.

    A refusal is recorded in the case's chain; the caller commits, then raises.
    """
    if target.case_reference is not None or channel_id is not None:
        case = await find_case(unit, target.case_reference, channel_id)
        decision = await check_visible(unit, officer, case, members_of, now=now)
        if not decision.allowed:
            return ExhibitLookup(case, None, decision)
        exhibit = await unit.exhibit_by_ref(case.id, target.ref.initials, target.ref.number)
        if exhibit is None:
            raise ExhibitNotFound(case.reference, str(target.ref))
        return ExhibitLookup(case, exhibit, decision)
    matches = []
    for case in await unit.cases():
        exhibit = await unit.exhibit_by_ref(case.id, target.ref.initials, target.ref.number)
        if exhibit is not None and can_view_case(officer, case, await members_of(case)).allowed:
            matches.append((case, exhibit))
    if not matches:
        raise ExhibitNotFound(None, str(target.ref))
    if len(matches) > 1:
        cases = ", ".join(case.reference for case, _ in matches[:5])
        raise InvalidInput(
            "exhibit reference", f"{target.ref} exists in several cases ({cases}): name the case"
        )
    case, exhibit = matches[0]
    return ExhibitLookup(case, exhibit, Decision(True))


async def record_view(
    unit: RecordsUnit, officer: Officer, case: Case, exhibit: Exhibit, *, now: datetime
) -> None:
    """`exhibit.viewed` in the case's chain."""
    await unit.append_custody(
        CustodyEvent.by(officer, Action.EXHIBIT_VIEWED, case.id, now, exhibit_id=exhibit.id)
    )


@dataclass(frozen=True, slots=True)
class Verification:
    """The stored blob re-hashed, compared with the intake hash."""

    exhibit: Exhibit
    stored: StoredBlob | None
    matches: bool
    problem: str | None = None


def compare(
    exhibit: Exhibit, stored: StoredBlob | None, problem: str | None = None
) -> Verification:
    """Whether the stored bytes are still the bytes taken in."""
    if stored is None:
        return Verification(exhibit, None, False, problem or "the stored file is missing")
    matches = stored.sha256 == exhibit.sha256 and stored.size == exhibit.size
    return Verification(exhibit, stored, matches, None if matches else "the hash differs")


async def record_verification(
    unit: RecordsUnit,
    officer: Officer | Actor,
    case: Case,
    result: Verification,
    *,
    now: datetime,
    pass_id: str | None = None,
) -> None:
    """`exhibit.verified` with the outcome, in the case's chain.

    `officer` is who asked, or `SYSTEM_ACTOR` for the integrity sweep, whose `pass_id` is kept.
    """
    details = {
        "matches": result.matches,
        "expected_sha256": result.exhibit.sha256,
        "found_sha256": result.stored.sha256 if result.stored else None,
        "found_size": result.stored.size if result.stored else None,
        "problem": result.problem,
    }
    if pass_id is not None:
        details["pass"] = pass_id
    await unit.append_custody(
        CustodyEvent.by(
            officer, Action.EXHIBIT_VERIFIED, case.id, now, details, exhibit_id=result.exhibit.id
        )
    )


@dataclass(frozen=True, slots=True)
class CustodyView:
    """An exhibit's entries, and whether the whole case chain verifies."""

    case: Case
    exhibit: Exhibit
    entries: list[CustodyEntry]
    report: ChainReport


async def read_custody(
    unit: RecordsUnit, officer: Officer, case: Case, exhibit: Exhibit, *, now: datetime
) -> CustodyView:
    """Verify the case's chain, pick the exhibit's entries, and record that they were read."""
    chain = list(await unit.custody(case.id))
    report = verify_chain(case.id, chain, head=await unit.custody_head(case.id))
    mine = [entry for entry in chain if entry.exhibit_id == exhibit.id]
    intake = [
        entry
        for entry in chain
        if entry.exhibit_id is None and entry.details.get("job") == exhibit.id
    ]
    await unit.append_custody(
        CustodyEvent.by(officer, Action.CUSTODY_VIEWED, case.id, now, exhibit_id=exhibit.id)
    )
    entries = sorted(intake + mine, key=lambda entry: entry.sequence)
    return CustodyView(case, exhibit, entries, report)
