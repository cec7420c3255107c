"""Approve, reject and refresh on an approval card: decided once, the link sent afterwards."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from microsoft_agents.hosting.core import TurnContext

from bot import wording
from bot.commands.share_view import (
    LoadedShare,
    Seen,
    approval_card,
    as_of_now,
    load_share,
    officer_now,
    visible_share,
)
from bot.link_delivery import (
    NOT_DELIVERED,
    link_card,
    record_delivery,
    send_to_requester,
)
from bot.proactive import reference_of, reference_without_names
from bot.replies import card_activity
from bot.services import Services
from bot.telemetry import note_decision, note_integrity_failure
from cards.common import Tone, build_notice_card
from cards.sharing import (
    APPROVE,
    FLAGS_READ,
    REJECT,
    build_rejection_card,
)
from cards.words import size_text
from evidence.custody import Action
from evidence.errors import ExhibitError
from evidence.exhibits import verify_exhibit
from evidence.jobs import Job, JobKind
from evidence.model import Case, Exhibit
from evidence.officers import Officer
from evidence.policy import Decision, can_act_on_share, can_approve_flagged, can_view_case
from evidence.records import RecordsUnit, run_unit
from evidence.share_cases import PolicyAnswer, ShareDecision, decide_share, flagged_exhibits
from evidence.shares import Share, ShareAction, ShareStatus
from evidence.sharing import LinkToken, new_link_token

if TYPE_CHECKING:
    from microsoft_teams.cards import AdaptiveCard

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Click:
    """One click (or command) on a share, weighed once: the officer and the case team as of
    the click, the time, and the policy's answer for the share as read."""

    officer: Officer
    members: frozenset[str]
    now: datetime
    decided: PolicyAnswer


async def weigh(
    services: Services, officer: Officer, seen: Seen, action: ShareAction, *, fresh: bool = True
) -> Click:
    """The policy's answer to this click, on the team read for it (`seen.members`).

    `fresh`: with the officer as the directory has them now, past every cache; otherwise as
    resolved for the click (to answer at once a click whose decision is taken later, afresh).
    """
    deciding = await officer_now(services, officer) if fresh else officer
    now = services.now()
    decision = can_act_on_share(deciding, action, seen.share, seen.case, seen.members, now)
    return Click(deciding, seen.members, now, PolicyAnswer(seen.share, decision))


@dataclass(frozen=True, slots=True)
class Decided:
    """What `decide` did, with the case and exhibits it was decided on.

    `visible`: whether the officer could see the case at decision time (only then may the answer
    show the share).
    """

    outcome: ShareDecision
    case: Case
    exhibits: list[Exhibit]
    visible: bool


async def decide(
    services: Services,
    officer: Officer,
    share_id: str,
    action: ShareAction,
    note: str | None,
    loaded: LoadedShare | None = None,
    click: Click | None = None,
    *,
    flags_read: bool = False,
) -> Decided:
    """Decide and tell everyone; `loaded`: the share, case and exhibits if just read.

    `flags_read`: the approver ticked "I have read the flags".

    `click`: the decision as weighed for the click that asked, if it is being answered now;
    without one (a background approval, minutes later) the officer's roles and the case team
    are read afresh and the decision weighed again. An approval that goes through is weighed
    once more after the exhibits are re-verified (which can take minutes).
    """
    if loaded is None:
        loaded = await run_unit(services.records, lambda unit: load_share(unit, share_id))
    current, case, exhibits = loaded
    if click is None:
        deciding, members = await as_of_now(services, officer, case)
        now = services.now()
        decision = can_act_on_share(deciding, action, current, case, members, now)
        click = Click(deciding, members, now, PolicyAnswer(current, decision))
    deciding, members, now, decided = click.officer, click.members, click.now, click.decided
    problem = None
    token = None
    # Re-verify only when the approval would go through: hashing is the expensive part.
    if (
        action is ShareAction.APPROVE
        and decided.decision.allowed
        and await flags_refusal(services, current, flags_read) is None
    ):
        problem = await _integrity_problem(services, case, exhibits)
        token = new_link_token()
        deciding, members = await as_of_now(services, officer, case)
        now = services.now()
        decision = can_act_on_share(deciding, action, current, case, members, now)
        decided = PolicyAnswer(current, decision)

    async def decide(unit: RecordsUnit) -> ShareDecision:
        return await decide_share(
            unit, deciding, share_id, case, members, action,
            note=note, token=token, integrity_problem=problem, now=now, decided=decided,
            flags_read=flags_read,
        )  # fmt: skip

    outcome = await run_unit(services.records, decide)
    if outcome.changed:
        await services.anchoring.after_decision(case)
        if problem:
            note_integrity_failure("share")
        if outcome.share.status in (ShareStatus.APPROVED, ShareStatus.REJECTED):
            note_decision(
                outcome.share.status.value, outcome.share.created_at, outcome.share.decided_at
            )
    if outcome.changed and outcome.share.status is ShareStatus.APPROVED and token is not None:
        await _send_link(services, outcome.share, case, token)
    if outcome.changed and outcome.share.status is ShareStatus.REJECTED:
        await _tell_rejection(services, outcome.share, case, exhibits)
    if outcome.changed and problem and case.channel is not None:
        alert = build_notice_card(
            f"Integrity alert: share {share_id} blocked",
            f"Before sharing, Exhibit re-verified the exhibits: {problem}. Nothing was shared. "
            "Tell your supervisor and professional standards.",
            Tone.ATTENTION,
        )
        await services.proactive.send(case.channel.conversation_reference, card_activity(alert))
    visible = can_view_case(deciding, case, members).allowed
    return Decided(outcome, case, exhibits, visible)


async def _send_link(services: Services, share: Share, case: Case, token: LinkToken) -> None:
    """The new link to the requester in their 1:1 chat (and the recipient by e-mail, if on).

    If the 1:1 chat cannot be reached, the conversation they asked in is told so — without the
    link — and how to have it.
    """
    url = f"{services.settings.public_url}/s/{token.secret}"
    card = await link_card(services, share, case_reference=case.reference, url=url, reissued=False)
    if await send_to_requester(services, share, share.requester_reference, card):
        return
    await _tell_without_link(
        services,
        share,
        f"Exhibit could not reach {share.requested_by_name} in a personal chat to give them the "
        "link.",
    )


async def _tell_without_link(services: Services, share: Share, why: str) -> None:
    """Tell the requester, where they asked, that the share is approved and how to have a link."""
    notice = build_notice_card(
        f"Share {share.id} approved",
        f"{why} {share.requested_by_name}: open a chat with Exhibit and type "
        f"`share link {share.id}` there.",
        Tone.WARNING,
    )
    try:
        await services.proactive.send(share.requester_reference, card_activity(notice))
    except Exception as err:  # the record is what counts
        logger.warning("Share %s: requester not told: %s", share.id, type(err).__name__)


async def _tell_link_lost(services: Services, share: Share, problem: str) -> None:
    """The link made for `share` was lost with the attempt that made it: say how to have one,
    and record that no link was delivered."""
    await _tell_without_link(services, share, "Its link was lost before it reached you.")
    await record_delivery(services, share, via=NOT_DELIVERED, problem=problem)


async def _tell_rejection(
    services: Services, share: Share, case: Case, exhibits: Sequence[Exhibit]
) -> None:
    """The rejection, with who, when and the note, to the requester in their 1:1 chat."""
    card = build_rejection_card(share, case.reference, exhibits)
    await send_to_requester(services, share, share.requester_reference, card, rejection=True)


async def flags_refusal(services: Services, share: Share, flags_read: bool) -> str | None:
    """Why an approval of `share` cannot go through as the flags stand (None: it can)."""

    async def check(unit: RecordsUnit) -> Decision:
        return can_approve_flagged(await flagged_exhibits(unit, share), flags_read)

    decision = await run_unit(services.records, check)
    return None if decision.allowed else decision.reason


def _checked_in_background(services: Services, seen: Seen) -> bool:
    """Whether the share's exhibits take too long to re-verify while the approver waits."""
    return sum(exhibit.size for exhibit in seen.exhibits) > services.settings.verify_inline_bytes


async def _approve_in_background(
    services: Services,
    officer: Officer,
    seen: Seen,
    note: str | None,
    flags_read: bool,
    reference: str,
) -> AdaptiveCard:
    """Answer the click at once and approve after re-verifying, when that takes a while.

    Teams gives an `Action.Execute` a few seconds; re-hashing gigabytes of video takes longer.
    Above `EXHIBIT_VERIFY_INLINE_BYTES` the clicker is told the exhibits are being
    checked, and the check and the decision (all of `decide`, re-checked from the record, with
    the approver's roles and the case team read again when it decides) run as a durable
    background job (`approve_job`): any instance finishes it, a restart loses nothing, and a
    second click while it is queued or running makes no second job. The channel card and the
    requester's link card follow. Only for an approval the policy allows as the click was
    resolved.
    """
    current, case, exhibits = seen.loaded
    share_id = current.id
    total = sum(exhibit.size for exhibit in exhibits)
    _, started = await services.jobs.submit(
        JobKind.APPROVE,
        f"approve {share_id}",
        {"share_id": share_id, "flags_read": flags_read},
        officer_id=officer.object_id,
        reference=reference_without_names(reference),
        note=note,
    )
    what = f"{len(exhibits)} exhibit{'s' if len(exhibits) != 1 else ''} ({size_text(total)})"
    notice = (
        f"Checking {what} against their intake hashes before the link is made. This card "
        "changes when that is done; the requester gets the link."
        if started
        else f"{what} are already being checked for this share. This card changes when done."
    )
    return await approval_card(
        services, current, case.reference, exhibits, with_buttons=False, notice=notice
    )


async def approve_job(services: Services, job: Job) -> str:
    """The background approval: `decide` as of now (the approver and the case team read
    afresh, the exhibits re-verified), then the channel card redrawn."""
    officer = await services.directory.officer(job.officer_id, fresh=True)
    if officer is None:  # no longer known: decided as disabled, so refused and recorded
        officer = Officer(object_id=job.officer_id, display_name="", enabled=False)
    decided = await decide(
        services,
        officer,
        job.text("share_id"),
        ShareAction.APPROVE,
        job.note,
        flags_read=job.flag("flags_read"),
    )
    share = decided.outcome.share
    if decided.outcome.changed:
        await redraw_channel_card(services, decided.case, share, decided.exhibits)
        return share.status.value
    if job.attempts > 1 and await _approved_by_lost_attempt(services, job, share):
        # An earlier attempt of this job approved the share and its runner died before the link
        # went out. Only the link's hash is kept, so the requester is told how to have a new one.
        await redraw_channel_card(services, decided.case, share, decided.exhibits)
        await _tell_link_lost(services, share, "the approval's runner stopped")
        return share.status.value
    return "unchanged"


async def _approved_by_lost_attempt(services: Services, job: Job, share: Share) -> bool:
    """Whether `share` stands approved by the officer of `job`, with no link delivery recorded
    (what an attempt that died between the decision and the link leaves)."""
    if share.status is not ShareStatus.APPROVED or share.decided_by != job.officer_id:
        return False
    chain = await run_unit(services.records, lambda unit: unit.custody(share.case_id))
    return not any(
        entry.action == Action.SHARE_LINK_DELIVERED and entry.details.get("share") == share.id
        for entry in chain
    )


async def _integrity_problem(
    services: Services, case: Case, exhibits: Sequence[Exhibit]
) -> str | None:
    """Re-hash every exhibit of the share against the anchored chain's intake entries; the
    first that differs (or a chain, or a record, that does not verify)."""
    anchoring = services.anchoring
    check = await anchoring.check(case)
    for exhibit in exhibits:
        try:
            result = await verify_exhibit(
                anchoring, services.evidence_store, case, exhibit, check=check
            )
        except ExhibitError as err:
            return f"exhibit {exhibit.ref} cannot be read ({type(err).__name__})"
        if not result.matches:
            return f"exhibit {exhibit.ref}: {result.problem}"
    return None


async def redraw_channel_card(
    services: Services, case: Case, current: Share, exhibits: Sequence[Exhibit]
) -> None:
    """Update the approval card in the channel for everyone."""
    if case.channel is None or not current.approval_activity_id:
        return
    card = await approval_card(services, current, case.reference, exhibits, with_buttons=False)
    try:
        await services.proactive.update(
            case.channel.conversation_reference, current.approval_activity_id, card_activity(card)
        )
    except Exception as err:  # the record is what counts; the card is a view of it
        logger.warning("Approval card of %s not redrawn: %s", current.id, type(err).__name__)


async def on_share_card(
    context: TurnContext,
    services: Services,
    officer: Officer,
    verb: str,
    share_id: str,
    data: dict[str, Any],
) -> AdaptiveCard:
    """Approve, reject or refresh, once the officer is known to see the share's case."""
    kind = {APPROVE: ShareAction.APPROVE, REJECT: ShareAction.REJECT}.get(verb)
    attempt = kind.value if kind else "view"
    # A refresh is a view, asked by Teams each time the card is shown: the cached team will do.
    seen = await visible_share(
        services, officer, share_id, attempt, context=context, fresh=kind is not None
    )
    if seen is None:
        return wording.no_share_card(share_id)
    if kind is None:
        return await _view_for(services, officer, seen)
    note = str(data.get("reason") or "").strip()[:500] or None
    flags_read = str(data.get(FLAGS_READ) or "").lower() == "true"
    if kind is ShareAction.APPROVE and _checked_in_background(services, seen):
        # The click is answered at once on the officer as resolved for it; the background
        # approval reads the directory and the team again when it decides. A refusal here is
        # weighed again below on the directory as it is now, then answered and recorded.
        later = await weigh(services, officer, seen, kind, fresh=False)
        if later.decided.decision.allowed:
            unread = await flags_refusal(services, seen.share, flags_read)
            if unread is not None:
                return await _view_for(services, officer, seen, notice=f"Refused: {unread}.")
            return await _approve_in_background(
                services, officer, seen, note, flags_read, reference_of(context.activity)
            )
    click = await weigh(services, officer, seen, kind)
    decided = await decide(
        services, officer, share_id, kind, note, seen.loaded, click, flags_read=flags_read
    )
    outcome = decided.outcome
    if outcome.refused and not decided.visible:
        return wording.no_share_card(share_id)
    notice = None
    if outcome.refused:
        # A lost race is news, not a refusal: someone else decided a moment ago.
        notice = (
            wording.sentence(outcome.refused)
            if outcome.lost_race
            else f"Refused: {outcome.refused}."
        )
    if outcome.changed:
        await redraw_channel_card(services, decided.case, outcome.share, decided.exhibits)
    # Still pending (a missing note or tick): the approver may put it right and click again.
    still_open = (
        outcome.share.status is ShareStatus.PENDING
        and can_act_on_share(
            click.officer, kind, outcome.share, decided.case, click.members, services.now()
        ).allowed
    )
    return await approval_card(
        services,
        outcome.share,
        decided.case.reference,
        decided.exhibits,
        with_buttons=still_open,
        notice=notice,
    )


async def _view_for(
    services: Services, officer: Officer, seen: Seen, *, notice: str | None = None
) -> AdaptiveCard:
    """The card as this officer (who may see the case) should see it: buttons only for an
    eligible approver."""
    eligible = can_act_on_share(
        officer, ShareAction.APPROVE, seen.share, seen.case, seen.members, services.now()
    ).allowed
    return await approval_card(
        services, seen.share, seen.case.reference, seen.exhibits, with_buttons=eligible,
        notice=notice,
    )  # fmt: skip
