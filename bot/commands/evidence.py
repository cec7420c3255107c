"""`evidence list|show|verify`, and the review clicks on exhibit and receipt cards."""

from __future__ import annotations

import logging
from collections.abc import Sequence, Set
from typing import TYPE_CHECKING, Any

from bot.commands.case import (
    consultation_words,
    conversation_channel_id,
    refusal_error,
    view_case,
)
from bot.commands.case_grammar import read_exhibit_target
from bot.proactive import reference_of, reference_without_names
from bot.receipts import receipt_view_for
from bot.replies import card_activity
from bot.services import Services, Turn
from bot.telemetry import note_integrity_failure
from cards.common import Tone, build_notice_card
from cards.exhibits import (
    REVIEW,
    build_exhibit_card,
    build_exhibit_list_card,
    build_verify_card,
)
from cards.words import size_text
from evidence.cases import MembersOf, check_visible
from evidence.custody import CustodyEntry
from evidence.errors import CaseNotFound
from evidence.exhibits import (
    ExhibitLookup,
    Verification,
    find_exhibit,
    record_verification,
    record_view,
    verify_exhibit,
)
from evidence.jobs import Job, JobKind
from evidence.model import Case, Exhibit
from evidence.officers import Officer
from evidence.policy import Decision, can_request_share, can_review
from evidence.records import RecordsUnit, run_unit
from evidence.review import REVIEW_ACTIONS, Review, review_exhibit, reviews_of

if TYPE_CHECKING:
    from microsoft_teams.cards import AdaptiveCard

logger = logging.getLogger(__name__)


async def evidence_list(turn: Turn) -> AdaptiveCard:
    """The exhibits of the named case, or of the channel's case."""

    async def exhibits_of(unit: RecordsUnit, case: Case) -> Sequence[Exhibit]:
        return await unit.exhibits_of(case.id)

    case, exhibits = await view_case(turn, exhibits_of, view="exhibits")
    return build_exhibit_list_card(case.reference, exhibits)


async def found_exhibit(turn: Turn) -> tuple[Case, Exhibit]:
    """The exhibit the command names, its view recorded; refusals recorded and raised."""
    services = turn.services
    words, reason = consultation_words(turn)
    target = read_exhibit_target(words)
    channel_id = conversation_channel_id(turn.context.activity)
    now = services.now()

    async def work(unit: RecordsUnit, members_of: MembersOf) -> ExhibitLookup:
        found = await find_exhibit(
            unit, turn.officer, target, members_of, channel_id=channel_id, now=now, reason=reason
        )
        if found.exhibit is not None:
            await record_view(unit, turn.officer, found.case, found.exhibit, now=now, reason=reason)
        return found

    found = await turn.run_unit_with_teams(work)
    if found.exhibit is None:
        reference = target.case_reference
        if found.decision.asks_reason:  # they may see the case: its reference is no secret
            reference = reference or found.case.reference
        raise refusal_error(found.decision, reference)
    return found.case, found.exhibit


async def evidence_show(turn: Turn) -> AdaptiveCard:
    """One exhibit: name, type, size, SHA-256, who and when, region, reviews."""
    case, exhibit = await found_exhibit(turn)
    return await exhibit_card_for(turn.services, turn.officer, case, exhibit)


async def exhibit_card_for(
    services: Services, officer: Officer, case: Case, exhibit: Exhibit, notice: str | None = None
) -> AdaptiveCard:
    """The exhibit card as `officer` should see it: review buttons if they may review."""

    async def entries(unit: RecordsUnit) -> list[CustodyEntry]:
        return list(await unit.custody_about(case.id, [exhibit.id], REVIEW_ACTIONS))

    chain = await run_unit(services.records, entries)
    members = await services.case_teams.members(case)
    return build_exhibit_card(
        exhibit,
        case.reference,
        reviews=reviews_of(exhibit.id, chain),
        with_review_actions=can_review(officer, case, exhibit, members).allowed,
        notice=notice,
        can_share=can_request_share(officer, case, members).allowed,
    )


async def on_review_action(
    services: Services, officer: Officer, verb: str, data: dict[str, Any]
) -> AdaptiveCard:
    """`Mark reviewed` / `Flag` from an exhibit card (Action.Execute); refusals recorded.

    Raises `CaseNotFound` for an unknown exhibit and for a case the officer may not see (the
    refusal then recorded), before anything of the case is read for a card.
    """
    exhibit_id = str(data.get("exhibitId") or "")[:64]
    comment = str(data.get("comment") or "").strip()[:500] or None
    review = Review.REVIEWED if verb == REVIEW else Review.FLAGGED
    now = services.now()

    async def load(unit: RecordsUnit) -> tuple[Case, Exhibit]:
        exhibit = await unit.exhibit_by_id(exhibit_id) if exhibit_id else None
        case = await unit.case_by_id(exhibit.case_id) if exhibit else None
        if exhibit is None or case is None:
            raise CaseNotFound(None)
        return case, exhibit

    case, exhibit = await run_unit(services.records, load)
    members = await services.case_teams.members(case)

    async def team(_case: Case) -> Set[str]:
        return members

    async def record(unit: RecordsUnit) -> Decision:
        visible = await check_visible(
            unit, officer, case, team, now=now, attempt={"attempt": review.value},
            exhibit_id=exhibit.id,
        )  # fmt: skip
        if not visible.allowed:
            return visible
        return await review_exhibit(
            unit, officer, case, exhibit, members, review, comment=comment, now=now
        )

    decision = await run_unit(services.records, record)
    if decision.hides_case:
        raise CaseNotFound(None)
    notice = None if decision.allowed else f"Refused: {decision.reason}."
    receipt = str(data.get("receipt") or "")
    if receipt:  # clicked on a receipt card: answer with that card, for this officer
        return await receipt_view_for(services, officer, receipt, notice=notice)
    return await exhibit_card_for(services, officer, case, exhibit, notice)


async def evidence_verify(turn: Turn) -> AdaptiveCard:
    """Re-hash the stored blob (streaming) and compare it with the intake hash; record it.

    Above `EXHIBIT_VERIFY_INLINE_BYTES` the officer is answered at once and the result is
    posted to the same conversation when the re-hash is done: a turn should not keep Teams
    waiting for minutes. The re-hash is a durable background job (`verify_job`): any instance
    runs it, a restart loses nothing, and asking again while it is queued or running makes no
    second job. The verification is recorded when it is done, as for small exhibits.
    """
    services = turn.services
    case, exhibit = await found_exhibit(turn)
    if exhibit.size <= services.settings.verify_inline_bytes:
        return await _verify(services, turn.officer, case, exhibit)
    officer = turn.officer
    _, started = await services.jobs.submit(
        JobKind.VERIFY,
        f"verify {exhibit.id} {officer.object_id}",
        {"case_id": case.id, "exhibit_id": exhibit.id},
        officer_id=officer.object_id,
        reference=reference_without_names(reference_of(turn.context.activity)),
    )
    what = f"{case.reference} {exhibit.ref} ({size_text(exhibit.size)})"
    if not started:
        return build_notice_card(
            "Already verifying", f"{what} is being verified; the result follows.", Tone.INFO
        )
    return build_notice_card(
        "Verifying",
        f"Re-hashing {what} and comparing it with its intake SHA-256; the result follows here.",
        Tone.INFO,
    )


async def verify_job(services: Services, job: Job) -> str:
    """The background half of `evidence verify` of a large exhibit: re-hash, record, and post
    the result to the conversation it was asked in. The officer is resolved afresh."""
    officer = await services.directory.officer(job.officer_id, fresh=True)
    if officer is None or not officer.enabled:
        return "officer no longer enrolled"
    case_id, exhibit_id = job.text("case_id"), job.text("exhibit_id")

    async def load(unit: RecordsUnit) -> tuple[Case | None, Exhibit | None]:
        return await unit.case_by_id(case_id), await unit.exhibit_by_id(exhibit_id)

    case, exhibit = await run_unit(services.records, load)
    if case is None or exhibit is None:
        return "exhibit not found"
    card = await _verify(services, officer, case, exhibit, job_id=job.id)
    await services.proactive.send(job.reference, card_activity(card))
    return "verified"


async def _verify(
    services: Services, officer: Officer, case: Case, exhibit: Exhibit, *, job_id: str | None = None
) -> AdaptiveCard:
    anchoring = services.anchoring
    result = await verify_exhibit(anchoring, services.evidence_store, case, exhibit)
    now = services.now()

    async def record(unit: RecordsUnit) -> Verification:
        await record_verification(unit, officer, case, result, now=now, job_id=job_id)
        return result

    await run_unit(services.records, record)
    await anchoring.after_decision(case)
    if not result.matches:
        note_integrity_failure("verify")
        logger.error("Exhibit %s failed verification: %s", exhibit.id, result.problem)
    return build_verify_card(case.reference, result)
