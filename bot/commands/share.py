"""`share ... with ...`, `share list`, `share revoke`, and the approval card's Universal Actions."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core import TurnContext

from bot import wording
from bot.case_teams import connector_accounts
from bot.commands.case import conversation_channel_id, refusal_error, view_case
from bot.commands.share_decision import decide, redraw_channel_card, weigh
from bot.commands.share_grammar import (
    FORM_FIELDS,
    asks_for_form,
    form_case,
    form_id_of,
    read_revoke_words,
    read_share_form,
    read_share_target,
    read_share_words,
    submitted_form,
)
from bot.commands.share_view import approval_card, officer_now, share_exhibits, visible_share
from bot.link_delivery import (
    PERSONAL_CHAT,
    is_personal,
    link_card,
    record_delivery,
    send_to_requester,
)
from bot.proactive import post_new, reference_of
from bot.replies import card_activity
from bot.services import Services, Turn
from cards.common import Tone, build_notice_card
from cards.sharing import (
    build_share_form,
    build_share_list_card,
)
from evidence.cases import MembersOf
from evidence.errors import AccessRefused, InvalidInput
from evidence.exhibits import ExhibitLookup, ExhibitTarget, find_exhibit
from evidence.model import Case, Exhibit, ExhibitRef
from evidence.officers import Role
from evidence.records import RecordsUnit, run_unit
from evidence.share_cases import (
    ShareDecision,
    ShareRequested,
    reissue_link,
    request_key,
    request_share,
)
from evidence.shares import Share, ShareAction, ShareStatus
from evidence.sharing import ShareRules, check_share_request, new_link_token

if TYPE_CHECKING:
    from microsoft_teams.cards import AdaptiveCard

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
    """Request a share; the approval card goes to the case channel.

    Typed (`share [<case-ref>] JS/1 with ...`), or the share form submitted: as a Universal
    Action (the answer replaces the form), or as a message (forms posted before that).
    """
    services = turn.services
    activity = turn.context.activity
    form = submitted_form(activity)
    draft = read_share_form(form)
    if draft is None:
        case_ref, words = read_share_target(turn.command.args)
        if asks_for_form(words):
            settings = services.settings
            return build_share_form(
                " ".join(words), settings.share_organisation_types, settings.share_days,
                form_id=uuid.uuid4().hex, case_reference=case_ref,
            )  # fmt: skip
        draft = read_share_words(words)
        origin = f"message:{_conversation_id(activity)}:{activity.id or uuid.uuid4().hex}"
    else:
        case_ref = form_case(form)
        form_id = form_id_of(form)
        origin = f"form:{form_id}" if form_id else f"message:{activity.id or uuid.uuid4().hex}"
    request = check_share_request(draft, share_rules(services))
    first = ExhibitRef.parse(request.exhibit_refs[0] if request.exhibit_refs else "")
    channel_id = conversation_channel_id(activity)
    now = services.now()

    async def locate(unit: RecordsUnit, members_of: MembersOf) -> ExhibitLookup:
        return await find_exhibit(
            unit, turn.officer, ExhibitTarget(case_ref, first), members_of,
            channel_id=channel_id, now=now,
        )  # fmt: skip

    found = await turn.run_unit_with_teams(locate)
    if found.exhibit is None:
        raise refusal_error(found.decision, found.case.reference)
    case = found.case
    if case.channel is None:
        raise InvalidInput(
            "case channel",
            f"case {case.reference} has no channel yet, and approvals happen there: in the team "
            f"channel for the case, type `@Exhibit case bind {case.reference}`, then share again",
        )
    members = await turn.members_of(case)
    reference = reference_of(activity)
    share_id = f"S-{uuid.uuid4().hex[:10].upper()}"
    key = request_key(turn.officer, origin)

    async def record(unit: RecordsUnit) -> tuple[ShareRequested, list[Exhibit]]:
        made = await request_share(
            unit, turn.officer, case, members, request,
            share_id=share_id, now=now, requester_reference=reference, key=key,
        )  # fmt: skip
        return made, await share_exhibits(unit, made.share)

    made, exhibits = await run_unit(services.records, record)
    requested = made.share
    refs = ", ".join(str(e.ref) for e in exhibits)
    if not made.new:
        status = _STATUS_WORDS.get(requested.status, requested.status.value)
        return build_notice_card(
            "Share already requested",
            f"This request was sent already: share {requested.id} of {refs} with "
            f"{requested.recipient} {status}. Nothing new was requested.",
            Tone.INFO,
        )
    await post_approval_card(services, case, requested, exhibits)
    return build_notice_card(
        "Share requested",
        f"Share {requested.id} of {refs} with "
        f"{requested.recipient} is waiting for an approver in the case channel. Once it is "
        "approved, the link comes to you in a personal chat with Exhibit, never here.",
        Tone.GOOD,
    )


_STATUS_WORDS = {
    ShareStatus.PENDING: "is waiting for an approver",
    ShareStatus.APPROVED: "was approved",
    ShareStatus.REJECTED: "was rejected",
    ShareStatus.REVOKED: "was revoked",
    ShareStatus.EXPIRED: "has expired",
}


def _conversation_id(activity: Activity) -> str:
    return activity.conversation.id if activity.conversation else ""


async def share_form_action(turn: Turn) -> AdaptiveCard:
    """The share form's Universal Action: the outcome replaces the form; a request that cannot
    be made shows the form again, as filled in, with what to put right."""
    try:
        return await share(turn)
    except InvalidInput as err:
        form = submitted_form(turn.context.activity)
        if not isinstance(form, dict):
            return wording.command_error_card(err)
        settings = turn.services.settings
        filled = {name: str(form.get(name) or "") for name in FORM_FIELDS}
        return build_share_form(
            filled["exhibits"], settings.share_organisation_types, settings.share_days,
            form_id=form_id_of(form) or uuid.uuid4().hex, case_reference=form_case(form),
            filled=filled, notice=wording.sentence(f"{err.field}: {err.problem}"),
        )  # fmt: skip
    except wording.COMMAND_ERRORS as err:
        return wording.command_error_card(err)


async def post_approval_card(
    services: Services, case: Case, requested: Share, exhibits: Sequence[Exhibit]
) -> None:
    """Post the approval card in the case channel, refreshed for the case's approvers."""
    channel = case.channel
    if channel is None:
        return

    async def post(context: TurnContext) -> None:
        approvers = await _approver_accounts(services, context, requested)
        card = await approval_card(
            services, requested, case.reference, exhibits, approvers=approvers
        )
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
        raise InvalidInput("share", wording.no_share_text(share_id))
    officer = await officer_now(services, turn.officer)
    token = new_link_token()
    now = services.now()

    async def reissue(unit: RecordsUnit) -> ShareDecision:
        return await reissue_link(
            unit, officer, share_id, seen.case, seen.members, token=token, now=now
        )

    outcome = await run_unit(services.records, reissue)
    if outcome.refused:
        raise AccessRefused(outcome.refused)
    await services.anchoring.after_decision(seen.case)
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
    """Stop a share's link at once (`reason ...`: why, for the record and the cards)."""
    share_id, why = read_revoke_words(turn.command.args)
    seen = await visible_share(
        turn.services, turn.officer, share_id, ShareAction.REVOKE.value, context=turn.context
    )
    if seen is None:
        raise InvalidInput("share", wording.no_share_text(share_id))
    click = await weigh(turn.services, turn.officer, seen, ShareAction.REVOKE)
    decided = await decide(
        turn.services, turn.officer, share_id, ShareAction.REVOKE, why, seen.loaded, click
    )
    outcome = decided.outcome
    if outcome.refused:
        raise AccessRefused(outcome.refused)
    await redraw_channel_card(turn.services, decided.case, outcome.share, decided.exhibits)
    return build_notice_card(
        "Share revoked", f"The link of share {share_id} no longer works.", Tone.GOOD
    )
