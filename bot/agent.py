"""Exhibit's agent: one turn of conversation, from activity to reply."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

from microsoft_agents.activity import Activity, ActivityTypes, InvokeResponse
from microsoft_agents.hosting.core import TurnContext
from opentelemetry import trace

from bot import wording
from bot.card_actions import on_card_action
from bot.channel_events import on_conversation_update
from bot.commands.case import case_bind, case_list, case_open, case_show
from bot.commands.custody import custody
from bot.commands.evidence import evidence_list, evidence_show, evidence_verify
from bot.commands.grammar import SHARE, command_named
from bot.commands.help import help_card, not_understood_card
from bot.commands.hold import case_hold_off, case_hold_on
from bot.commands.intake import add_files, incoming_files
from bot.commands.parsing import MAX_TEXT, ParsedCommand, parse_command, split_reason
from bot.commands.share import (
    share,
    share_link,
    share_list,
    share_revoke,
)
from bot.commands.share_grammar import is_share_form
from bot.exports import custody_export, on_file_consent
from bot.identity import resolve_officer
from bot.replies import card_activity
from bot.services import Handler, Services, Turn
from bot.telemetry import note_outcome, outcome_of, tracer
from cards.cases import CONSULT, build_reason_card
from cards.officer import build_whoami_card
from evidence.errors import ReasonRequired
from storage.telemetry import span

if TYPE_CHECKING:
    from microsoft_teams.cards import AdaptiveCard

logger = logging.getLogger(__name__)


async def whoami(turn: Turn) -> AdaptiveCard:
    """Who the directory says the sender is."""
    return build_whoami_card(turn.officer, turn.services.directory.source)


HANDLERS: Mapping[str, Handler] = {
    "whoami": whoami,
    "case open": case_open,
    "case list": case_list,
    "case bind": case_bind,
    "case show": case_show,
    "case hold on": case_hold_on,
    "case hold off": case_hold_off,
    "add": add_files,
    "evidence list": evidence_list,
    "evidence show": evidence_show,
    "evidence verify": evidence_verify,
    "custody": custody,
    "custody export": custody_export,
    "share": share,
    "share list": share_list,
    "share revoke": share_revoke,
    "share link": share_link,
}


# The commands that consult a case, re-run by the reason card's button.
CONSULTATIONS = frozenset(
    {"case show", "evidence list", "evidence show", "evidence verify", "custody", "share list"}
)


class ExhibitAgent:
    """Handles every inbound activity (the Agents SDK `Agent` protocol)."""

    def __init__(self, services: Services, handlers: Mapping[str, Handler] = HANDLERS) -> None:
        self._services = services
        self._handlers = handlers

    async def on_turn(self, context: TurnContext) -> None:
        """Dispatch one activity, in an `exhibit.turn` span (kind of activity, command name,
        outcome code: never the text)."""
        with span(tracer, "exhibit.turn", {"exhibit.activity": _activity_kind(context.activity)}):
            await self._dispatch(context)

    async def _dispatch(self, context: TurnContext) -> None:
        activity = context.activity
        if activity.type == ActivityTypes.message:
            await self._on_message(context)
        elif activity.type == ActivityTypes.invoke and activity.name == "adaptiveCard/action":
            answer = await on_card_action(
                context, self._services, self.run_command, self.rerun_with_reason
            )
            await context.send_activity(
                Activity(
                    type=ActivityTypes.invoke_response,
                    value=InvokeResponse(
                        status=200,
                        body=answer.model_dump(mode="json", by_alias=True, exclude_none=True),
                    ),
                )
            )
        elif activity.type == ActivityTypes.invoke and activity.name == "fileConsent/invoke":
            await on_file_consent(context, self._services)
        elif activity.type == ActivityTypes.conversation_update:
            await on_conversation_update(activity, self._services)
        # Other activity types (typing, ...) need no answer;
        # an invoke left unanswered gets the protocol's 501 from the adapter.

    async def _on_message(self, context: TurnContext) -> None:
        text = _command_text(context.activity)
        parsed = parse_command(text)
        if is_share_form(context.activity.value):
            parsed = ParsedCommand(SHARE, ())  # the share command reads the form's fields
        if incoming_files(context.activity) and (parsed is None or parsed.spec.name == "add"):
            add = command_named("add")
            if add is not None:
                parsed = parsed or ParsedCommand(add, ())
        if parsed is None:
            note_outcome("not_understood")
            await context.send_activity(card_activity(not_understood_card(text)))
            return
        card = await self.run_command(context, parsed)
        if card is not None:
            await context.send_activity(card_activity(card))

    async def run_command(self, context: TurnContext, parsed: ParsedCommand) -> AdaptiveCard | None:
        """Run one command for the turn's sender: what a typed command and a button both do."""
        trace.get_current_span().set_attribute("exhibit.command", parsed.spec.name)
        if parsed.spec.name == "help":
            note_outcome("ok")
            return help_card(parsed.args)
        handler = self._handlers.get(parsed.spec.name)
        if handler is None:
            note_outcome("not_available")
            return help_card(hint=wording.not_available_yet_hint(parsed.spec.name))
        try:
            officer = await resolve_officer(context.activity, self._services.directory)
            card = await handler(Turn(context, officer, parsed, self._services))
        except ReasonRequired as err:
            note_outcome(outcome_of(err))
            return build_reason_card(_command_line(parsed), err.reference, CONSULT)
        except wording.COMMAND_ERRORS as err:
            note_outcome(outcome_of(err))
            return wording.command_error_card(err)
        note_outcome("ok")
        return card

    async def rerun_with_reason(
        self, context: TurnContext, data: Mapping[str, object]
    ) -> AdaptiveCard:
        """The reason card's button: the consultation command again, with the reason typed."""
        command = str(data.get("command") or "")[:MAX_TEXT]
        reason = " ".join(str(data.get("reason") or "").split())
        parsed = parse_command(command)
        if parsed is None or parsed.spec.name not in CONSULTATIONS or not reason:
            return wording.unknown_action_card()
        words, _ = split_reason(parsed.args)  # a reason inside the command is not taken
        again = ParsedCommand(parsed.spec, (*words, "reason", *reason.split()))
        card = await self.run_command(context, again)
        return card or wording.unknown_action_card()


def _activity_kind(activity: Activity) -> str:
    """A fixed word for the activity (its type, and the invoke's name when it is one we know)."""
    if activity.type == ActivityTypes.invoke:
        if activity.name in ("adaptiveCard/action", "fileConsent/invoke"):
            return f"invoke:{activity.name}"
        return "invoke"
    return activity.type if activity.type in _ACTIVITY_TYPES else "other"


_ACTIVITY_TYPES = frozenset({ActivityTypes.message, ActivityTypes.conversation_update, "typing"})


def _command_line(parsed: ParsedCommand) -> str:
    """The command as typed, without any reason (the reason card asks for that)."""
    words, _ = split_reason(parsed.args)
    return " ".join([parsed.spec.name, *words])


def _command_text(activity: Activity) -> str:
    """The text the officer typed, without the bot's @mention."""
    activity.remove_recipient_mention()
    text = activity.text or ""
    # Teams may leave non-breaking spaces behind where the mention was.
    return " ".join(text.replace("\u00a0", " ").split())


def error_reference() -> str:
    """A short reference for an error, given to the user and written in the log."""
    return uuid.uuid4().hex[:8]


async def on_turn_error(context: TurnContext, error: Exception) -> None:
    """Log the failure with a reference; tell the user only the reference, never the error."""
    reference = error_reference()
    activity = context.activity
    logger.error(
        "Turn failed (ref %s) for activity %s in conversation %s",
        reference,
        activity.id,
        activity.conversation.id if activity.conversation else None,
        exc_info=error,
    )
    if activity.type == ActivityTypes.invoke:
        await context.send_activity(_invoke_error(reference))
        return
    if activity.type != ActivityTypes.message:
        return  # proactive and other turns have nobody to tell
    try:
        await context.send_activity(
            Activity(
                type=ActivityTypes.message,
                text=wording.turn_failed_text(reference),
            )
        )
    except Exception as apology_error:  # the connector that failed the turn may fail this too
        logger.warning(
            "Could not send the apology for ref %s: %s", reference, type(apology_error).__name__
        )


def _invoke_error(reference: str) -> Activity:
    """The Universal Actions error answer: Teams shows it and keeps the card as it was."""
    message = wording.action_failed_text(reference)
    return Activity(
        type=ActivityTypes.invoke_response,
        value=InvokeResponse(
            status=200,
            body={
                "statusCode": 500,
                "type": "application/vnd.microsoft.error",
                "value": {
                    "code": "InternalError",
                    "message": message,
                },
            },
        ),
    )
