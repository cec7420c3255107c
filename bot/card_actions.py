"""Every `Action.Execute` click (`adaptiveCard/action` invokes), routed by its verb.

Review and receipt verbs go to the evidence commands, approval verbs and the share form to the
share commands.
Whatever was clicked, someone who may not see the case gets a bare refusal, never a card that
shows anything of it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from microsoft_agents.activity import AdaptiveCardInvokeResponse
from microsoft_agents.hosting.core import TurnContext
from microsoft_teams.cards import AdaptiveCard

from bot import wording
from bot.commands.evidence import on_review_action
from bot.commands.grammar import SHARE
from bot.commands.parsing import ParsedCommand
from bot.commands.share import share_form_action
from bot.commands.share_decision import on_share_card
from bot.identity import resolve_officer
from bot.receipts import receipt_view_for
from bot.replies import ADAPTIVE_CARD, card_payload
from bot.services import Services, Turn
from cards.cases import CONSULT
from cards.exhibits import FLAG, RECEIPT_REFRESH, REVIEW
from cards.sharing import APPROVE, REFRESH, REJECT, SHARE_FORM
from evidence.errors import CaseNotFound, DirectoryUnavailable, ExhibitError, InvalidInput

logger = logging.getLogger(__name__)

EXHIBIT_VERBS = frozenset({REVIEW, FLAG, RECEIPT_REFRESH})
SHARE_VERBS = frozenset({APPROVE, REJECT, REFRESH})


Rerun = Callable[[TurnContext, Mapping[str, object]], Awaitable[AdaptiveCard]]


async def on_card_action(
    context: TurnContext, services: Services, rerun: Rerun | None = None
) -> AdaptiveCardInvokeResponse:
    """Answer one click with the card to show in place of the clicked one.

    `rerun` answers the reason card (`CONSULT`): its data and inputs hold the command and the
    reason typed, and the command runs again as if typed with them.
    """
    value = _object(context.activity.value)
    action = _object(value.get("action"))
    verb = str(action.get("verb") or "")
    data = _object(action.get("data"))
    if verb == CONSULT and rerun is not None:
        return _card_response(await rerun(context, data))
    if verb in EXHIBIT_VERBS:
        return _card_response(await _on_exhibit_card(context, services, verb, data))
    if verb == SHARE_FORM:
        return _card_response(await _on_share_form(context, services))
    share_id = str(data.get("shareId") or "")[:40].upper()
    if verb not in SHARE_VERBS or not share_id:
        return _card_response(wording.unknown_action_card())
    return _card_response(await _on_share_card(context, services, verb, share_id, data))


async def _on_exhibit_card(
    context: TurnContext, services: Services, verb: str, data: dict[str, Any]
) -> AdaptiveCard:
    """`Mark reviewed`, `Flag` and the receipt's refresh.

    Visibility is checked before any card is built: someone who may not see the case gets
    `wording.unavailable_card()` — no file name, hash, comment or case reference — and the
    refusal is recorded; an unknown exhibit or receipt gets the same card.
    """
    try:
        officer = await resolve_officer(context.activity, services.directory)
    except ExhibitError:
        return wording.not_enrolled_for_card()
    try:
        if verb == RECEIPT_REFRESH:
            return await receipt_view_for(services, officer, str(data.get("receipt") or ""))
        return await on_review_action(services, officer, verb, data)
    except (CaseNotFound, InvalidInput):
        return wording.unavailable_card()
    except ExhibitError as err:
        logger.warning("Card action %s failed: %s", verb, type(err).__name__)
        return wording.not_possible_now_card()


async def _on_share_card(
    context: TurnContext, services: Services, verb: str, share_id: str, data: dict[str, Any]
) -> AdaptiveCard:
    """Approve, reject or refresh an approval card."""
    try:
        officer = await resolve_officer(context.activity, services.directory)
    except ExhibitError:
        return wording.not_enrolled_for_card()
    try:
        return await on_share_card(context, services, officer, verb, share_id, data)
    except DirectoryUnavailable:
        return wording.directory_unavailable_for_card()


async def _on_share_form(context: TurnContext, services: Services) -> AdaptiveCard:
    """The share form submitted: the outcome (or the form again, to put right) replaces it."""
    try:
        officer = await resolve_officer(context.activity, services.directory)
    except ExhibitError:
        return wording.not_enrolled_for_card()
    return await share_form_action(Turn(context, officer, ParsedCommand(SHARE, ()), services))


def _object(value: object) -> dict[str, Any]:
    """Untrusted JSON: a dict, or an empty one."""
    return value if isinstance(value, dict) else {}


def _card_response(card: AdaptiveCard) -> AdaptiveCardInvokeResponse:
    return AdaptiveCardInvokeResponse(status_code=200, type=ADAPTIVE_CARD, value=card_payload(card))
