"""Finding, viewing and verifying exhibits, and reading their chain of custody."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from evidence.anchoring import AnchoredReport, Anchoring, Anchors, ChainCheck, verify_anchored
from evidence.cases import MembersOf, check_consultation, find_case
from evidence.custody import Action, Actor, CustodyEntry, CustodyEvent
from evidence.custody_story import SharedWith, exhibit_story, page_before
from evidence.errors import EvidenceStoreError, ExhibitError, InvalidInput, StoreUnavailable
from evidence.model import Case, Exhibit, ExhibitRef
from evidence.officers import Officer
from evidence.policy import Decision, can_view_case, consultation_needs_reason
from evidence.ports import EvidenceStore
from evidence.records import RecordsUnit, read_chain
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
    reason: str | None = None,
) -> ExhibitLookup:
    """The exhibit in the named case, the channel's case, or the one visible case that has it.

    A refusal is recorded in the case's chain; the caller commits, then raises.
    """
    if target.case_reference is not None or channel_id is not None:
        case = await find_case(unit, target.case_reference, channel_id)
        decision = await check_consultation(unit, officer, case, members_of, now=now, reason=reason)
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
    if reason is None and consultation_needs_reason(officer, case, await members_of(case)):
        return ExhibitLookup(case, None, Decision(False, "a reason is needed", asks_reason=True))
    return ExhibitLookup(case, exhibit, Decision(True))


async def record_view(
    unit: RecordsUnit,
    officer: Officer,
    case: Case,
    exhibit: Exhibit,
    *,
    now: datetime,
    reason: str | None = None,
) -> None:
    """`exhibit.viewed` in the case's chain (with the reason of someone not on the case)."""
    details = {} if reason is None else {"reason": reason}
    await unit.append_custody(
        CustodyEvent.by(
            officer, Action.EXHIBIT_VIEWED, case.id, now, details, exhibit_id=exhibit.id
        )
    )


@dataclass(frozen=True, slots=True)
class Verification:
    """The stored blob re-hashed, compared with the hash and size the anchored chain recorded.

    `intake`: the exhibit's `intake.completed` entry (what is compared with), None if the chain
    has none; `chain`: the case chain's report, which must verify for the exhibit to match.
    """

    exhibit: Exhibit
    stored: StoredBlob | None
    matches: bool
    problem: str | None = None
    intake: CustodyEntry | None = None
    chain: AnchoredReport | None = None

    @property
    def recorded_sha256(self) -> str | None:
        """The SHA-256 the chain recorded at intake."""
        return None if self.intake is None else _text(self.intake.details.get("sha256"))

    @property
    def anchored(self) -> bool:
        """Whether the intake entry is covered by a valid signed checkpoint."""
        anchored = self.chain.anchored_sequence if self.chain else None
        return self.intake is not None and anchored is not None and self.intake.sequence <= anchored


def intake_entry(entries: Sequence[CustodyEntry], exhibit: Exhibit) -> CustodyEntry | None:
    """The exhibit's `intake.completed` entry in its case chain."""
    for entry in entries:
        if entry.exhibit_id == exhibit.id and entry.action == Action.INTAKE_COMPLETED:
            return entry
    return None


def compare(
    exhibit: Exhibit,
    stored: StoredBlob | None,
    problem: str | None = None,
    *,
    check: ChainCheck | None = None,
) -> Verification:
    """Whether the stored bytes are still the bytes taken in, as the anchored chain says.

    The blob is compared with the SHA-256 and size in the exhibit's `intake.completed` entry,
    not with the exhibit's row: a row that disagrees with the chain is itself reported as
    tampering, and a chain that does not verify is said so rather than "matches".
    """
    intake = intake_entry(check.entries, exhibit) if check else None
    report = check.report if check else None
    problems: list[str] = []
    if report is not None and not report.ok:
        problems.append(f"the chain of custody does not verify ({report.summary()})")
    if intake is None:
        problems.append("the chain of custody holds no intake record for this exhibit")
    else:
        recorded = (_text(intake.details.get("sha256")), intake.details.get("size"))
        if (exhibit.sha256, exhibit.size) != recorded:
            problems.append(
                f"the exhibit's database record disagrees with its intake entry "
                f"{intake.sequence} in the chain of custody (the record was altered)"
            )
        if stored is not None and (stored.sha256, stored.size) != recorded:
            problems.append(
                f"the stored file's SHA-256 differs from the one recorded at intake "
                f"(entry {intake.sequence})"
            )
    if stored is None:
        problems.insert(0, problem or "the stored file is missing")
    if report is not None and report.ok and not report.checkpoints_read:
        problems.append("the checkpoints could not be read to confirm the chain")
    return Verification(
        exhibit,
        stored,
        not problems,
        "; ".join(problems) or None,
        intake,
        report,
    )


async def verify_exhibit(
    anchoring: Anchoring,
    store: EvidenceStore,
    case: Case,
    exhibit: Exhibit,
    *,
    check: ChainCheck | None = None,
) -> Verification:
    """Re-hash the exhibit's blob and compare it with the anchored chain (for `evidence verify`,
    the re-hash before a share is approved, and the integrity sweep); nothing is recorded.

    `check`: the case chain already checked (several exhibits of one case). Raises
    `StoreUnavailable` when storage does not answer (try again later).
    """
    if check is None:
        check = await anchoring.check(case)
    try:
        stored: StoredBlob | None = await store.rehash(exhibit.region, exhibit.blob_name)
        problem = None
    except StoreUnavailable:
        raise
    except EvidenceStoreError as err:
        stored, problem = None, f"the stored file cannot be read ({type(err).__name__})"
    return compare(exhibit, stored, problem, check=check)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


async def record_verification(
    unit: RecordsUnit,
    officer: Officer | Actor,
    case: Case,
    result: Verification,
    *,
    now: datetime,
    pass_id: str | None = None,
    job_id: str | None = None,
) -> None:
    """`exhibit.verified` with the outcome, in the case's chain.

    `officer` is who asked, or `SYSTEM_ACTOR` for the integrity sweep, whose `pass_id` is kept.
    A background job's verification keeps its `job_id` and is recorded once: a second attempt
    (its first runner died after recording, before the officer was told) records nothing more.
    """
    if job_id is not None:
        entries = await unit.custody_about(
            case.id, [result.exhibit.id], [Action.EXHIBIT_VERIFIED.value]
        )
        if any(entry.details.get("job") == job_id for entry in entries):
            return
    details: dict[str, object] = {
        "matches": result.matches,
        "expected_sha256": result.recorded_sha256,
        "intake_entry": result.intake.sequence if result.intake else None,
        "found_sha256": result.stored.sha256 if result.stored else None,
        "found_size": result.stored.size if result.stored else None,
        "problem": result.problem,
    }
    if pass_id is not None:
        details["pass"] = pass_id
    if job_id is not None:
        details["job"] = job_id
    await unit.append_custody(
        CustodyEvent.by(
            officer, Action.EXHIBIT_VERIFIED, case.id, now, details, exhibit_id=result.exhibit.id
        )
    )


@dataclass(frozen=True, slots=True)
class CustodyView:
    """A page of an exhibit's story (oldest first), whether the whole case chain verifies, the
    number of entries before the page, every view of the exhibit, and whom its shares were for.

    `reason` is the consultation's reason, carried by the card's buttons.
    """

    case: Case
    exhibit: Exhibit
    entries: list[CustodyEntry]
    report: AnchoredReport
    earlier: int = 0
    views: list[CustodyEntry] = field(default_factory=list)
    shares: Mapping[str, SharedWith] = field(default_factory=dict)
    reason: str | None = None


async def read_custody(
    unit: RecordsUnit,
    officer: Officer,
    case: Case,
    exhibit: Exhibit,
    anchors: Anchors,
    *,
    now: datetime,
    reason: str | None = None,
    before: int | None = None,
) -> CustodyView:
    """Verify the case's chain against its checkpoints (`Anchoring.anchors`, read before this
    unit), pick the exhibit's story (the newest page of it, or the page of entries before
    sequence `before`), and record that it was read."""
    chain, head = await read_chain(unit, case.id)
    report = verify_anchored(case.id, chain, head, anchors)
    story = exhibit_story(chain, exhibit)
    page = page_before(story.entries, before)
    details: dict[str, object] = {} if reason is None else {"reason": reason}
    if before is not None:
        details["before"] = before
    await unit.append_custody(
        CustodyEvent.by(
            officer, Action.CUSTODY_VIEWED, case.id, now, details, exhibit_id=exhibit.id
        )
    )
    return CustodyView(
        case, exhibit, page.entries, report, page.earlier, story.views, story.shares, reason
    )
