"""`share ... with ...`, `share list`, `share revoke`, and the approval card's Universal Actions."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from microsoft_agents.activity import AdaptiveCardInvokeResponse
from microsoft_agents.hosting.core import TurnContext
from microsoft_teams.cards import AdaptiveCard

from bot.case_commands import conversation_channel_id, view_case
from bot.case_teams import connector_accounts
from bot.evidence_commands import on_exhibit_card_action
from bot.identity import resolve_officer
from bot.proactive import post_new, reference_of
from bot.replies import ADAPTIVE_CARD, card_activity, card_payload
from bot.services import Services, Turn
from bot.share_mail import mail_link
from cards.common import Tone, build_notice_card
from cards.exhibits import FLAG, RECEIPT_REFRESH, REVIEW, size_text
from cards.sharing import (
    APPROVE,
    REFRESH,
    REJECT,
    SHARE_FORM,
    build_approval_card,
    build_link_card,
    build_share_form,
    build_share_list_card,
)
from evidence.cases import MembersOf
from evidence.errors import AccessRefused, ExhibitError, InvalidInput
from evidence.exhibits import ExhibitTarget, Found, compare, find_exhibit
from evidence.model import Case, Exhibit, ExhibitRef
from evidence.officers import Officer, Role
from evidence.records import RecordsUnit
from evidence.share_cases import Outcome, decide_share, reissue_link, request_share
from evidence.sharing import (
    Share,
    ShareAction,
    ShareRules,
    ShareStatus,
    can_act_on_share,
    new_link_token,
    read_share_request,
)
from storage.records import in_unit

logger = logging.getLogger(__name__)


def share_rules(services: Services) -> ShareRules:
    """The force's sharing settings."""
    settings = services.settings
    low, default, high = settings.share_days
    return ShareRules(
        allowed_domains=settings.share_domains,
        organisation_types=settings.share_organisation_types,
        min_days=low,
        max_days=high,
        default_days=default,
    )


async def share(turn: Turn) -> AdaptiveCard:
    """Request a share; the approval card goes to the case channel."""
    services = turn.services
    if "with" not in {word.lower() for word in turn.command.args}:
        settings = services.settings
        return build_share_form(
            " ".join(turn.command.args), settings.share_organisation_types, settings.share_days
        )
    request = read_share_request(turn.command.args, share_rules(services))
    first = ExhibitRef.parse(request.exhibit_refs[0] if request.exhibit_refs else "")
    channel_id = conversation_channel_id(turn.context.activity)
    now = services.now()

    async def locate(unit: RecordsUnit, members_of: MembersOf) -> Found:
        return await find_exhibit(
            unit, turn.officer, ExhibitTarget(None, first), members_of,
            channel_id=channel_id, now=now,
        )  # fmt: skip

    found = await turn.in_unit(locate)
    if found.exhibit is None:
        raise AccessRefused(found.decision.reason)
    case = found.case
    if case.channel is None:
        raise InvalidInput(
            "case channel", f"bind a channel to {case.reference} first: approvals happen there"
        )
    members = await turn.members_of(case)
    reference = reference_of(turn.context.activity)
    share_id = f"S-{uuid.uuid4().hex[:10].upper()}"

    async def record(unit: RecordsUnit) -> tuple[Share, list[Exhibit]]:
        made = await request_share(
            unit, turn.officer, case, members, request, share_id=share_id, now=now
        )
        made = replace(made, requester_reference=reference)
        await unit.save_share(made)
        return made, await _exhibits(unit, made)

    requested, exhibits = await in_unit(services.records, record)
    await post_approval_card(services, case, requested, exhibits)
    return build_notice_card(
        "Share requested",
        f"Share {requested.id} of {', '.join(str(e.ref) for e in exhibits)} with "
        f"{requested.recipient} is waiting for an approver in the case channel. You will get "
        "the link here once it is approved.",
        Tone.GOOD,
    )


async def post_approval_card(
    services: Services, case: Case, requested: Share, exhibits: Sequence[Exhibit]
) -> None:
    """Post the approval card in the case channel, refreshed for the case's approvers."""
    channel = case.channel
    if channel is None:
        return

    async def post(context: TurnContext) -> None:
        approvers = await _approver_accounts(services, context, requested)
        card = build_approval_card(requested, case.reference, exhibits, approvers=approvers)
        sent = await post_new(context, card_activity(card))
        if sent:
            posted = replace(requested, approval_activity_id=sent)

            async def remember(unit: RecordsUnit) -> None:
                await unit.save_share(posted)

            await in_unit(services.records, remember)

    await services.proactive.run(channel.conversation_reference, post)


async def _approver_accounts(
    services: Services, context: TurnContext, requested: Share
) -> list[str]:
    """Teams user ids of the channel's approvers other than the requester (at most 60)."""
    accounts = await connector_accounts(context) or {}
    officers = await services.directory.officers(list(accounts))
    return [
        accounts[object_id]
        for object_id, officer in officers.items()
        if officer.has(Role.APPROVER) and object_id.lower() != requested.requested_by.lower()
    ][:60]


async def share_list(turn: Turn) -> AdaptiveCard:
    """The shares of the named case, or of the channel's case."""

    async def shares_of(unit: RecordsUnit, case: Case) -> Sequence[Share]:
        return await unit.shares_of(case.id)

    case, shares = await view_case(turn, shares_of, view="shares")
    return build_share_list_card(case.reference, shares)


async def share_link(turn: Turn) -> AdaptiveCard:
    """A new link for an approved share, for its requester; the old link stops working."""
    if len(turn.command.args) != 1:
        raise InvalidInput("share id", "type `share link S-...`")
    share_id = turn.command.args[0].upper()
    services = turn.services
    now = services.now()
    _share, case, _exhibits = await in_unit(services.records, lambda unit: _load(unit, share_id))
    members = await turn.members_of(case)
    token = new_link_token()

    async def reissue(unit: RecordsUnit) -> Outcome:
        return await reissue_link(unit, turn.officer, share_id, case, members, token=token, now=now)

    outcome = await in_unit(services.records, reissue)
    if outcome.refused:
        raise AccessRefused(outcome.refused)
    url = f"{services.settings.public_url}/s/{token.secret}"
    mailed = await mail_link(services, outcome.share, case_reference=case.reference, url=url)
    logger.info("Share %s has a new link", share_id)
    return build_link_card(
        outcome.share,
        case.reference,
        url,
        mailed_from=mailed.sender if mailed else None,
        mail_problem=mailed.problem if mailed else None,
        reissued=True,
    )


async def share_revoke(turn: Turn) -> AdaptiveCard:
    """Stop a share's link at once."""
    if len(turn.command.args) != 1:
        raise InvalidInput("share id", "type `share revoke S-...`")
    share_id = turn.command.args[0].upper()
    outcome, case, exhibits = await _decide(
        turn.services, turn.officer, share_id, ShareAction.REVOKE, None
    )
    if outcome.refused:
        raise AccessRefused(outcome.refused)
    await _redraw_channel_card(turn.services, case, outcome.share, exhibits)
    return build_notice_card(
        "Share revoked", f"The link of share {share_id} no longer works.", Tone.GOOD
    )


async def _decide(
    services: Services,
    officer: Officer,
    share_id: str,
    action: ShareAction,
    note: str | None,
    loaded: Loaded | None = None,
) -> tuple[Outcome, Case, list[Exhibit]]:
    """Decide and tell everyone; `loaded`: the share, case and exhibits if just read."""
    now = services.now()
    if loaded is None:
        loaded = await in_unit(services.records, lambda unit: _load(unit, share_id))
    current, case, exhibits = loaded
    members = await services.case_teams.members(case)
    problem = None
    token = None
    # Re-verify only when the approval would go through: hashing is the expensive part.
    if (
        action is ShareAction.APPROVE
        and can_act_on_share(officer, action, current, case, members, now).allowed
    ):
        problem = await _integrity_problem(services, exhibits)
        token = new_link_token()

    async def decide(unit: RecordsUnit) -> Outcome:
        return await decide_share(
            unit, officer, share_id, case, members, action,
            note=note, token=token, integrity_problem=problem, now=now,
        )  # fmt: skip

    outcome = await in_unit(services.records, decide)
    if outcome.changed and outcome.share.status is ShareStatus.APPROVED and token is not None:
        url = f"{services.settings.public_url}/s/{token.secret}"
        mailed = await mail_link(services, outcome.share, case_reference=case.reference, url=url)
        card = build_link_card(
            outcome.share,
            case.reference,
            url,
            mailed_from=mailed.sender if mailed else None,
            mail_problem=mailed.problem if mailed else None,
        )
        if outcome.share.requester_reference:
            await services.proactive.send(outcome.share.requester_reference, card_activity(card))
    if outcome.changed and problem and case.channel is not None:
        alert = build_notice_card(
            f"Integrity alert: share {share_id} blocked",
            f"Before sharing, Exhibit re-verified the exhibits: {problem}. Nothing was shared. "
            "Tell your supervisor and professional standards.",
            Tone.ATTENTION,
        )
        await services.proactive.send(case.channel.conversation_reference, card_activity(alert))
    return outcome, case, exhibits


async def _approve_in_background(
    services: Services, officer: Officer, loaded: Loaded, note: str | None
) -> AdaptiveCard | None:
    """Answer the click at once and approve after re-verifying, when that takes a while.

    Teams gives an `Action.Execute` a few seconds; re-hashing gigabytes of video takes longer.
    Above `EXHIBIT_VERIFY_INLINE_BYTES` the clicker is told the exhibits are being
    checked, and the check and the decision (all of `_decide`, re-checked from the record) run
    in the background; the channel card and the requester's link card follow. Nothing is
    recorded until the decision, so if the service stops meanwhile the approver clicks again.
    None: small enough to decide while the approver waits, or not theirs to approve (the
    refusal is then answered and recorded as usual).
    """
    current, case, exhibits = loaded
    share_id = current.id
    total = sum(exhibit.size for exhibit in exhibits)
    if total <= services.settings.verify_inline_bytes:
        return None
    members = await services.case_teams.members(case)
    now = services.now()
    if not can_act_on_share(officer, ShareAction.APPROVE, current, case, members, now).allowed:
        return None

    async def approve() -> None:
        outcome, decided_case, shared = await _decide(
            services, officer, share_id, ShareAction.APPROVE, note
        )
        if outcome.changed:
            await _redraw_channel_card(services, decided_case, outcome.share, shared)

    started = services.background.start(f"approve {share_id}", approve)
    what = f"{len(exhibits)} exhibit{'s' if len(exhibits) != 1 else ''} ({size_text(total)})"
    notice = (
        f"Checking {what} against their intake hashes before the link is made. This card "
        "changes when that is done; the requester gets the link."
        if started
        else f"{what} are already being checked for this share. This card changes when done."
    )
    return build_approval_card(current, case.reference, exhibits, with_buttons=False, notice=notice)


async def _integrity_problem(services: Services, exhibits: Sequence[Exhibit]) -> str | None:
    """Re-hash every exhibit of the share; the first that differs from its intake hash."""
    for exhibit in exhibits:
        try:
            stored = await services.evidence_store.rehash(exhibit.region, exhibit.blob_name)
        except ExhibitError as err:
            return f"exhibit {exhibit.ref} cannot be read ({type(err).__name__})"
        result = compare(exhibit, stored)
        if not result.matches:
            return f"exhibit {exhibit.ref}: {result.problem}"
    return None


async def _redraw_channel_card(
    services: Services, case: Case, current: Share, exhibits: Sequence[Exhibit]
) -> None:
    """Update the approval card in the channel for everyone."""
    if case.channel is None or not current.approval_activity_id:
        return
    card = build_approval_card(current, case.reference, exhibits, with_buttons=False)
    try:
        await services.proactive.update(
            case.channel.conversation_reference, current.approval_activity_id, card_activity(card)
        )
    except Exception as err:  # the record is what counts; the card is a view of it
        logger.warning("Approval card of %s not redrawn: %s", current.id, type(err).__name__)


async def on_card_action(context: TurnContext, services: Services) -> AdaptiveCardInvokeResponse:
    """`adaptiveCard/action` invokes: approve, reject, refresh."""
    value = _object(context.activity.value)
    action = _object(value.get("action"))
    verb = str(action.get("verb") or "")
    data = _object(action.get("data"))
    share_id = str(data.get("shareId") or "")[:40]
    if verb in {REVIEW, FLAG, RECEIPT_REFRESH}:
        return _card_response(await on_exhibit_card_action(context.activity, services, verb, data))
    if verb not in {APPROVE, REJECT, REFRESH} or not share_id:
        return _card_response(
            build_notice_card("Unknown action", "This card's action is not known.", Tone.WARNING)
        )
    try:
        officer = await resolve_officer(context.activity, services.directory)
    except ExhibitError:
        return _card_response(
            build_notice_card(
                "Not enrolled in Exhibit", "You cannot act on this card.", Tone.ATTENTION
            )
        )
    try:
        if verb == REFRESH:
            return _card_response(await _view_for(services, officer, share_id))
        note = str(data.get("reason") or "").strip()[:500] or None
        kind = ShareAction.APPROVE if verb == APPROVE else ShareAction.REJECT
        loaded = await in_unit(services.records, lambda unit: _load(unit, share_id))
        if kind is ShareAction.APPROVE:
            later = await _approve_in_background(services, officer, loaded, note)
            if later is not None:
                return _card_response(later)
        outcome, case, exhibits = await _decide(services, officer, share_id, kind, note, loaded)
    except InvalidInput as err:
        return _card_response(build_notice_card("Not possible", err.problem, Tone.WARNING))
    card = build_approval_card(
        outcome.share, case.reference, exhibits, with_buttons=False,
        notice=f"Refused: {outcome.refused}." if outcome.refused else None,
    )  # fmt: skip
    if outcome.changed:
        await _redraw_channel_card(services, case, outcome.share, exhibits)
    return _card_response(card)


async def _view_for(services: Services, officer: Officer, share_id: str) -> AdaptiveCard:
    """The card as this officer should see it: buttons only for an eligible approver."""

    current, case, exhibits = await in_unit(services.records, lambda unit: _load(unit, share_id))
    members = await services.case_teams.members(case)
    eligible = can_act_on_share(
        officer, ShareAction.APPROVE, current, case, members, services.now()
    ).allowed
    return build_approval_card(current, case.reference, exhibits, with_buttons=eligible)


def _object(value: object) -> dict[str, Any]:
    """Untrusted JSON: a dict, or an empty one."""
    return value if isinstance(value, dict) else {}


def _card_response(card: AdaptiveCard) -> AdaptiveCardInvokeResponse:
    return AdaptiveCardInvokeResponse(status_code=200, type=ADAPTIVE_CARD, value=card_payload(card))


async def _exhibits(unit: RecordsUnit, found: Share) -> list[Exhibit]:
    exhibits = []
    for exhibit_id in found.exhibit_ids:
        exhibit = await unit.exhibit_by_id(exhibit_id)
        if exhibit is not None:
            exhibits.append(exhibit)
    return exhibits


Loaded = tuple[Share, Case, list[Exhibit]]  # a share, its case and its exhibits, as read


async def _load(unit: RecordsUnit, share_id: str) -> Loaded:
    """A share, its case and its exhibits; `InvalidInput` for an unknown (or forged) id."""
    found = await unit.share(share_id)
    case = await unit.case_by_id(found.case_id) if found else None
    if found is None or case is None:
        raise InvalidInput("share", f"there is no share {share_id}")
    return found, case, await _exhibits(unit, found)


def form_words(value: object) -> tuple[str, ...] | None:
    """The share form's submitted fields as the words of a `share` command, if it is one."""
    fields = _object(value)
    if fields.get("exhibitAction") != SHARE_FORM:
        return None
    words = [str(fields.get("exhibits") or "").replace(" ", ""), "with",
             str(fields.get("recipient") or "").strip()]  # fmt: skip
    days = str(fields.get("days") or "").strip()
    if days:
        words += ["for", f"{days.split('.')[0]}d"]
    organisation = str(fields.get("organisation") or "").strip()
    if organisation:
        words += ["as", organisation]
    reason = str(fields.get("reason") or "").split()
    if reason:
        words += ["reason", *reason]
    return tuple(w for w in words if w)
