"""Every `Action.Execute` click (`adaptiveCard/action` invokes), routed by its verb.

Review, receipt and custody-card verbs go to the evidence and custody commands, approval verbs
and the share form to the share commands.
Whatever was clicked, someone who may not see the case gets a bare refusal, never a card that
shows anything of it.

A next-step button (Verify, Custody, Share, Evidence, Shares) runs its command exactly as if
the clicker had typed it, through the same runner, with every check a typed command gets: the
clicked card stays as it is, the answer comes as a new message. Only the next-step commands may
be run so, and only with single words for their case and exhibit references.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from microsoft_agents.activity import AdaptiveCardInvokeResponse
from microsoft_agents.hosting.core import TurnContext

from bot import wording
from bot.commands.custody import on_custody_action
from bot.commands.evidence import on_review_action
from bot.commands.grammar import SHARE, command_named
from bot.commands.parsing import ParsedCommand
from bot.commands.share import share_form_action
from bot.commands.share_decision import on_share_card
from bot.identity import resolve_officer
from bot.receipts import receipt_view_for
from bot.replies import ADAPTIVE_CARD, card_activity, card_payload
from bot.services import Services, Turn
from cards.cases import CONSULT
from cards.common import NEXT_STEP
from cards.custody import CUSTODY_EARLIER, CUSTODY_VIEWS
from cards.exhibits import FLAG, RECEIPT_REFRESH, REVIEW
from cards.sharing import APPROVE, REFRESH, REJECT, SHARE_FORM
from evidence.errors import CaseNotFound, DirectoryUnavailable, ExhibitError, InvalidInput

if TYPE_CHECKING:
    from microsoft_teams.cards import AdaptiveCard

logger = logging.getLogger(__name__)

EXHIBIT_VERBS = frozenset({REVIEW, FLAG, RECEIPT_REFRESH, CUSTODY_EARLIER, CUSTODY_VIEWS})
SHARE_VERBS = frozenset({APPROVE, REJECT, REFRESH})
MESSAGE = "application/vnd.microsoft.activity.message"

# The commands a next-step button may run, and the data fields that become their words, in the
# order the command takes them.
NEXT_STEPS: dict[str, tuple[str, ...]] = {
    "evidence verify": ("case", "exhibit"),
    "custody": ("case", "exhibit"),
    "share": ("case", "exhibit"),
    "evidence list": ("case",),
    "share list": ("case",),
}
# One word of a reference: a field with a space could smuggle keywords into the command.
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9/._-]{0,39}")

# Runs a command for the turn's sender as if typed; the card to answer with, if any.
CommandRunner = Callable[[TurnContext, ParsedCommand], Awaitable["AdaptiveCard | None"]]


Rerun = Callable[[TurnContext, Mapping[str, object]], Awaitable["AdaptiveCard"]]


async def on_card_action(
    context: TurnContext,
    services: Services,
    run_command: CommandRunner,
    rerun: Rerun | None = None,
) -> AdaptiveCardInvokeResponse:
    """Answer one click with the card to show in place of the clicked one.

    `run_command` runs a next-step button's command as if typed; `rerun` answers the reason
    card (`CONSULT`): its data and inputs hold the command and the reason typed, and the
    command runs again as if typed with them.
    """
    value = _object(context.activity.value)
    action = _object(value.get("action"))
    verb = str(action.get("verb") or "")
    data = _object(action.get("data"))
    if verb == CONSULT and rerun is not None:
        return _card_response(await rerun(context, data))
    if verb == NEXT_STEP:
        return await _on_next_step(context, data, run_command)
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
    """`Mark reviewed`, `Flag`, the receipt's refresh, and a custody card's buttons (earlier
    entries, who viewed it).

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
        if verb in (CUSTODY_EARLIER, CUSTODY_VIEWS):
            return await on_custody_action(services, officer, verb, data)
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


async def _on_next_step(
    context: TurnContext, data: dict[str, Any], run_command: CommandRunner
) -> AdaptiveCardInvokeResponse:
    """Run the button's command as typed; its answer is a new message, the card stays."""
    parsed = next_step_command(data)
    if parsed is None:
        return _card_response(wording.unknown_action_card())
    card = await run_command(context, parsed)
    if card is not None:
        await context.send_activity(card_activity(card))
    return AdaptiveCardInvokeResponse(
        status_code=200, type=MESSAGE, value=wording.next_step_answered_text(parsed.spec.name)
    )


def next_step_command(data: dict[str, Any]) -> ParsedCommand | None:
    """The command a next-step button's data names, with its words; None if it names none."""
    name = str(data.get("command") or "")
    fields = NEXT_STEPS.get(name)
    spec = command_named(name)
    if fields is None or spec is None:
        return None
    words = tuple(str(data.get(field) or "") for field in fields)
    if not all(_WORD.fullmatch(word) for word in words):
        return None
    return ParsedCommand(spec, words)


def _object(value: object) -> dict[str, Any]:
    """Untrusted JSON: a dict, or an empty one."""
    return value if isinstance(value, dict) else {}


def _card_response(card: AdaptiveCard) -> AdaptiveCardInvokeResponse:
    return AdaptiveCardInvokeResponse(status_code=200, type=ADAPTIVE_CARD, value=card_payload(card))
