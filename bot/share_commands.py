"""`share ... with ...`, `share list`, `share revoke`, and the approval card's Universal Actions."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from microsoft_agents.activity import AdaptiveCardInvokeResponse
from microsoft_agents.hosting.core import TurnContext
from microsoft_teams.cards import AdaptiveCard

from bot.case_commands import conversation_channel_id, refusal_error, view_case
from bot.case_teams import connector_accounts
from bot.evidence_commands import on_exhibit_card_action
from bot.identity import resolve_officer
from bot.link_delivery import (
    PERSONAL_CHAT,
    is_personal,
    link_card,
    record_delivery,
    send_to_requester,
)
from bot.proactive import post_new, reference_of
from bot.replies import ADAPTIVE_CARD, card_activity, card_payload
from bot.services import Services, Turn
from cards.common import Tone, build_notice_card
from cards.exhibits import FLAG, RECEIPT_REFRESH, REVIEW, size_text
from cards.sharing import (
    APPROVE,
    REFRESH,
    REJECT,
    SHARE_FORM,
    build_approval_card,
    build_share_form,
    build_share_list_card,
)
from evidence.cases import MembersOf
from evidence.errors import AccessRefused, DirectoryUnavailable, ExhibitError, InvalidInput
from evidence.exhibits import ExhibitLookup, ExhibitTarget, compare, find_exhibit
from evidence.model import Case, Exhibit, ExhibitRef
from evidence.officers import Officer, Role
from evidence.policy import can_view_case
from evidence.records import RecordsUnit, run_unit
from evidence.share_cases import (
    ShareDecision,
    decide_share,
    record_share_refusal,
    reissue_link,
    request_share,
)
from evidence.sharing import (
    LinkToken,
    Share,
    ShareAction,
    ShareRules,
    ShareStatus,
    can_act_on_share,
    new_link_token,
    read_share_request,
)

logger = logging.getLogger(__name__)


SHARE_ID = re.compile(r"S-[0-9A-F]{10}")


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

    async def locate(unit: RecordsUnit, members_of: MembersOf) -> ExhibitLookup:
        return await find_exhibit(
            unit, turn.officer, ExhibitTarget(None, first), members_of,
            channel_id=channel_id, now=now,
        )  # fmt: skip

    found = await turn.run_unit_with_teams(locate)
    if found.exhibit is None:
        raise refusal_error(found.decision, found.case.reference)
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
            unit, turn.officer, case, members, request,
            share_id=share_id, now=now, requester_reference=reference,
        )  # fmt: skip
        return made, await _exhibits(unit, made)

    requested, exhibits = await run_unit(services.records, record)
    await post_approval_card(services, case, requested, exhibits)
    return build_notice_card(
        "Share requested",
        f"Share {requested.id} of {', '.join(str(e.ref) for e in exhibits)} with "
        f"{requested.recipient} is waiting for an approver in the case channel. Once it is "
        "approved, the link comes to you in a personal chat with Exhibit, never here.",
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
            await run_unit(services.records, lambda unit: _remember_card(unit, requested.id, sent))

    await services.proactive.run(channel.conversation_reference, post)


async def _remember_card(unit: RecordsUnit, share_id: str, activity_id: str) -> None:
    """Note the approval card's id on the share as it stands now (it may be decided already)."""
    while (current := await unit.share(share_id)) is not None:
        posted = replace(current, approval_activity_id=activity_id)
        if await unit.update_share(posted, expected=current):
            return


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
    """A new link for an approved share, for its requester; the old link stops working.

    The link card goes to the requester's 1:1 chat: typed in a channel, the answer there is a
    notice only.
    """
    if len(turn.command.args) != 1:
        raise InvalidInput("share id", "type `share link S-...`")
    share_id = turn.command.args[0].upper()
    services = turn.services
    seen = await visible_share(services, turn.officer, share_id, "new link", context=turn.context)
    if seen is None:
        raise InvalidInput("share", no_share_text(share_id))
    officer = await _officer_now(services, turn.officer)
    token = new_link_token()
    now = services.now()

    async def reissue(unit: RecordsUnit) -> ShareDecision:
        return await reissue_link(
            unit, officer, share_id, seen.case, seen.members, token=token, now=now
        )

    outcome = await run_unit(services.records, reissue)
    if outcome.refused:
        raise AccessRefused(outcome.refused)
    url = f"{services.settings.public_url}/s/{token.secret}"
    case_reference = seen.case.reference
    card = await link_card(
        services, outcome.share, case_reference=case_reference, url=url, reissued=True
    )
    logger.info("Share %s has a new link", share_id)
    if is_personal(turn.context.activity):
        await record_delivery(services, outcome.share, via=PERSONAL_CHAT)
        return card
    chat = await send_to_requester(
        services, outcome.share, reference_of(turn.context.activity), card
    )
    if chat is None:
        return build_notice_card(
            "New link not delivered",
            f"The previous link of share {share_id} no longer works, but Exhibit could not "
            "reach you in a personal chat. Open a chat with Exhibit and type "
            f"`share link {share_id}` there.",
            Tone.WARNING,
        )
    return build_notice_card(
        "New link sent to you",
        f"The new link for share {share_id} is in your personal chat with Exhibit, not here: "
        "links are never posted where others can read them. The previous link no longer works.",
        Tone.GOOD,
    )


async def share_revoke(turn: Turn) -> AdaptiveCard:
    """Stop a share's link at once."""
    if len(turn.command.args) != 1:
        raise InvalidInput("share id", "type `share revoke S-...`")
    share_id = turn.command.args[0].upper()
    seen = await visible_share(
        turn.services, turn.officer, share_id, ShareAction.REVOKE.value, context=turn.context
    )
    if seen is None:
        raise InvalidInput("share", no_share_text(share_id))
    decided = await _decide(
        turn.services, turn.officer, share_id, ShareAction.REVOKE, None, seen.loaded
    )
    outcome = decided.outcome
    if outcome.refused:
        raise AccessRefused(outcome.refused)
    await _redraw_channel_card(turn.services, decided.case, outcome.share, decided.exhibits)
    return build_notice_card(
        "Share revoked", f"The link of share {share_id} no longer works.", Tone.GOOD
    )


@dataclass(frozen=True, slots=True)
class Seen:
    """A share, its case and exhibits, as read for an officer allowed to see that case, and the
    case team that was checked against."""

    share: Share
    case: Case
    exhibits: list[Exhibit]
    members: frozenset[str]

    @property
    def loaded(self) -> LoadedShare:
        """The share, case and exhibits as one tuple."""
        return self.share, self.case, self.exhibits


def no_share_text(share_id: str) -> str:
    """The one answer for an unknown share and for a share of a case the officer is not on."""
    shown = share_id if SHARE_ID.fullmatch(share_id) else "with that id"
    return f"there is no share {shown} that you can act on"


async def visible_share(
    services: Services,
    officer: Officer,
    share_id: str,
    attempt: str,
    *,
    context: TurnContext | None = None,
    fresh: bool = True,
) -> Seen | None:
    """The share if the officer may see its case; None if unknown or not theirs to see.

    Checked before any card is built: someone off the case learns nothing of it, not even that
    it exists. An attempt on an existing share of a case they may not see is recorded.
    `fresh`: the case team asked now (for decisions), not as cached.
    """
    loaded = await run_unit(services.records, lambda unit: _find(unit, share_id))
    if loaded is None:
        return None
    share, case, exhibits = loaded
    members = await services.case_teams.members(case, context, fresh=fresh)
    decision = can_view_case(officer, case, members)
    if decision.allowed:
        return Seen(share, case, exhibits, members)
    now = services.now()
    await run_unit(
        services.records,
        lambda unit: record_share_refusal(
            unit, officer, case, share.id, attempt, decision.reason, now
        ),
    )
    logger.info(
        "Share %s: %s refused to %s (not on the case)", share.id, attempt, officer.object_id
    )
    return None


async def _as_of_now(
    services: Services, officer: Officer, case: Case, context: TurnContext | None = None
) -> tuple[Officer, frozenset[str]]:
    """The officer as the directory has them now and the case team now, past every cache.

    A decision must not rest on a role or a channel membership removed a moment ago. Someone
    the directory no longer knows is treated as disabled, so the policy refuses and it is
    recorded.
    """
    members = await services.case_teams.members(case, context, fresh=True)
    return await _officer_now(services, officer), members


async def _officer_now(services: Services, officer: Officer) -> Officer:
    """The officer as the directory has them now (disabled, if it no longer knows them)."""
    current = await services.directory.officer(officer.object_id, fresh=True)
    return current or replace(officer, enabled=False, roles=frozenset())


@dataclass(frozen=True, slots=True)
class Decided:
    """What `_decide` did, with the case and exhibits it was decided on.

    `visible`: whether the officer could see the case at decision time (only then may the answer
    show the share).
    """

    outcome: ShareDecision
    case: Case
    exhibits: list[Exhibit]
    visible: bool


async def _decide(
    services: Services,
    officer: Officer,
    share_id: str,
    action: ShareAction,
    note: str | None,
    loaded: LoadedShare | None = None,
) -> Decided:
    """Decide and tell everyone; `loaded`: the share, case and exhibits if just read.

    The officer's roles and the case team are read afresh for the decision, and again after the
    exhibits are re-verified (which can take minutes).
    """
    if loaded is None:
        loaded = await run_unit(services.records, lambda unit: _load(unit, share_id))
    current, case, exhibits = loaded
    deciding, members = await _as_of_now(services, officer, case)
    problem = None
    token = None
    # Re-verify only when the approval would go through: hashing is the expensive part.
    if (
        action is ShareAction.APPROVE
        and can_act_on_share(deciding, action, current, case, members, services.now()).allowed
    ):
        problem = await _integrity_problem(services, exhibits)
        token = new_link_token()
        deciding, members = await _as_of_now(services, officer, case)
    now = services.now()

    async def decide(unit: RecordsUnit) -> ShareDecision:
        return await decide_share(
            unit, deciding, share_id, case, members, action,
            note=note, token=token, integrity_problem=problem, now=now,
        )  # fmt: skip

    outcome = await run_unit(services.records, decide)
    if outcome.changed and outcome.share.status is ShareStatus.APPROVED and token is not None:
        await _send_link(services, outcome.share, case, token)
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
    notice = build_notice_card(
        f"Share {share.id} approved",
        f"Exhibit could not reach {share.requested_by_name} in a personal chat to give them the "
        f"link. {share.requested_by_name}: open a chat with Exhibit and type "
        f"`share link {share.id}` there.",
        Tone.WARNING,
    )
    try:
        await services.proactive.send(share.requester_reference, card_activity(notice))
    except Exception as err:  # the record is what counts
        logger.warning("Share %s: requester not told: %s", share.id, type(err).__name__)


async def _approve_in_background(
    services: Services, officer: Officer, seen: Seen, note: str | None
) -> AdaptiveCard | None:
    """Answer the click at once and approve after re-verifying, when that takes a while.

    Teams gives an `Action.Execute` a few seconds; re-hashing gigabytes of video takes longer.
    Above `EXHIBIT_VERIFY_INLINE_BYTES` the clicker is told the exhibits are being
    checked, and the check and the decision (all of `_decide`, re-checked from the record, with
    the approver's roles and the case team read again when it decides) run in the background;
    the channel card and the requester's link card follow. Nothing is recorded until the
    decision, so if the service stops meanwhile the approver clicks again.
    None: small enough to decide while the approver waits, or not theirs to approve (the
    refusal is then answered and recorded as usual).
    """
    current, case, exhibits = seen.loaded
    share_id = current.id
    total = sum(exhibit.size for exhibit in exhibits)
    if total <= services.settings.verify_inline_bytes:
        return None
    now = services.now()
    if not can_act_on_share(officer, ShareAction.APPROVE, current, case, seen.members, now).allowed:
        return None

    async def approve() -> None:
        decided = await _decide(services, officer, share_id, ShareAction.APPROVE, note)
        if decided.outcome.changed:
            await _redraw_channel_card(
                services, decided.case, decided.outcome.share, decided.exhibits
            )

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
    share_id = str(data.get("shareId") or "")[:40].upper()
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
        return _card_response(
            await _on_share_card(context, services, officer, verb, share_id, data)
        )
    except DirectoryUnavailable:
        return _card_response(
            build_notice_card(
                "Directory unavailable",
                "Exhibit cannot reach the force directory just now. Nothing was changed. "
                "Please try again in a few minutes.",
                Tone.WARNING,
            )
        )


async def _on_share_card(
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
        return _no_share_card(share_id)
    if kind is None:
        return _view_for(services, officer, seen)
    note = str(data.get("reason") or "").strip()[:500] or None
    if kind is ShareAction.APPROVE:
        later = await _approve_in_background(services, officer, seen, note)
        if later is not None:
            return later
    decided = await _decide(services, officer, share_id, kind, note, seen.loaded)
    outcome = decided.outcome
    if outcome.refused and not decided.visible:
        return _no_share_card(share_id)
    notice = None
    if outcome.refused:
        # A lost race is news, not a refusal: someone else decided a moment ago.
        notice = _sentence(outcome.refused) if outcome.lost_race else f"Refused: {outcome.refused}."
    card = build_approval_card(
        outcome.share, decided.case.reference, decided.exhibits, with_buttons=False, notice=notice
    )
    if outcome.changed:
        await _redraw_channel_card(services, decided.case, outcome.share, decided.exhibits)
    return card


def _no_share_card(share_id: str) -> AdaptiveCard:
    """A bare refusal: nothing of any case, nor whether the share exists."""
    return build_notice_card("Not possible", _sentence(no_share_text(share_id)), Tone.WARNING)


def _sentence(text: str) -> str:
    return f"{text[:1].upper()}{text[1:]}."


def _view_for(services: Services, officer: Officer, seen: Seen) -> AdaptiveCard:
    """The card as this officer (who may see the case) should see it: buttons only for an
    eligible approver."""
    eligible = can_act_on_share(
        officer, ShareAction.APPROVE, seen.share, seen.case, seen.members, services.now()
    ).allowed
    return build_approval_card(
        seen.share, seen.case.reference, seen.exhibits, with_buttons=eligible
    )


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


LoadedShare = tuple[Share, Case, list[Exhibit]]  # a share, its case and its exhibits, as read


async def _find(unit: RecordsUnit, share_id: str) -> LoadedShare | None:
    """A share, its case and its exhibits; None for an unknown (or forged) id."""
    found = await unit.share(share_id)
    case = await unit.case_by_id(found.case_id) if found else None
    if found is None or case is None:
        return None
    return found, case, await _exhibits(unit, found)


async def _load(unit: RecordsUnit, share_id: str) -> LoadedShare:
    """As `_find`, for a share known to exist; `InvalidInput` if it has gone meanwhile."""
    found = await _find(unit, share_id)
    if found is None:
        raise InvalidInput("share", no_share_text(share_id))
    return found


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
