"""Exhibit's agent: one turn of conversation, from activity to reply."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

from microsoft_agents.activity import Activity, ActivityTypes, InvokeResponse
from microsoft_agents.hosting.core import TurnContext
from microsoft_teams.cards import AdaptiveCard

from bot.commands.case import case_list, case_open, case_show
from bot.commands.custody import custody
from bot.commands.evidence import evidence_list, evidence_show, evidence_verify
from bot.commands.grammar import COMMANDS, command_named
from bot.commands.intake import add_files, incoming_files
from bot.commands.parsing import ParsedCommand, parse_command
from bot.commands.share import (
    form_words,
    on_card_action,
    share,
    share_link,
    share_list,
    share_revoke,
)
from bot.identity import resolve_officer
from bot.replies import card_activity
from bot.services import Handler, Services, Turn
from cards.common import Tone, build_notice_card
from cards.help import build_help_card
from cards.officer import build_whoami_card
from cards.text import clean
from evidence.errors import (
    AccessRefused,
    CaseNotFound,
    DirectoryUnavailable,
    InvalidInput,
    NotEnrolled,
    SourceError,
)
from evidence.exhibits import ExhibitNotFound
from evidence.records import DuplicateCase

logger = logging.getLogger(__name__)


async def whoami(turn: Turn) -> AdaptiveCard:
    """Who the directory says the sender is."""
    return build_whoami_card(turn.officer, turn.services.directory.source)


HANDLERS: Mapping[str, Handler] = {
    "whoami": whoami,
    "case open": case_open,
    "case list": case_list,
    "case show": case_show,
    "add": add_files,
    "evidence list": evidence_list,
    "evidence show": evidence_show,
    "evidence verify": evidence_verify,
    "custody": custody,
    "share": share,
    "share list": share_list,
    "share revoke": share_revoke,
    "share link": share_link,
}


class ExhibitAgent:
    """Handles every inbound activity (the Agents SDK `Agent` protocol)."""

    def __init__(self, services: Services, handlers: Mapping[str, Handler] = HANDLERS) -> None:
        self._services = services
        self._handlers = handlers

    async def on_turn(self, context: TurnContext) -> None:
        """Dispatch one activity."""
        activity = context.activity
        if activity.type == ActivityTypes.message:
            await self._on_message(context)
        elif activity.type == ActivityTypes.invoke and activity.name == "adaptiveCard/action":
            answer = await on_card_action(context, self._services)
            await context.send_activity(
                Activity(
                    type=ActivityTypes.invoke_response,
                    value=InvokeResponse(
                        status=200,
                        body=answer.model_dump(mode="json", by_alias=True, exclude_none=True),
                    ),
                )
            )
        # Other activity types (conversation updates, typing, ...) need no answer yet;
        # an invoke left unanswered gets the protocol's 501 from the adapter.

    async def _on_message(self, context: TurnContext) -> None:
        text = _command_text(context.activity)
        parsed = parse_command(text)
        submitted = form_words(context.activity.value)
        share_spec = command_named("share")
        if submitted is not None and share_spec is not None:
            parsed = ParsedCommand(share_spec, submitted)
        if incoming_files(context.activity) and (parsed is None or parsed.spec.name == "add"):
            add = command_named("add")
            if add is not None:
                parsed = parsed or ParsedCommand(add, ())
        if parsed is None:
            hint = "Here is what I can do." if not text else _not_understood(text)
            await context.send_activity(card_activity(build_help_card(COMMANDS, hint)))
            return
        if parsed.spec.name == "help":
            await context.send_activity(card_activity(build_help_card(COMMANDS)))
            return
        handler = self._handlers.get(parsed.spec.name)
        if handler is None:
            hint = f"'{parsed.spec.name}' is not yet available in this version."
            await context.send_activity(card_activity(build_help_card(COMMANDS, hint)))
            return
        card = await self._run(context, parsed, handler)
        if card is not None:
            await context.send_activity(card_activity(card))

    async def _run(
        self, context: TurnContext, parsed: ParsedCommand, handler: Handler
    ) -> AdaptiveCard | None:
        try:
            officer = await resolve_officer(context.activity, self._services.directory)
            return await handler(Turn(context, officer, parsed, self._services))
        except NotEnrolled as err:
            reason = "Your account is disabled" if err.disabled else "You are not enrolled"
            return build_notice_card(
                "Not enrolled in Exhibit",
                f"{reason} in the force directory, so Exhibit cannot give you access to any "
                "case. Ask your Exhibit administrator to add you to an Exhibit group.",
                Tone.ATTENTION,
            )
        except DirectoryUnavailable:
            return build_notice_card(
                "Directory unavailable",
                "Exhibit cannot reach the force directory just now, so it cannot check who you "
                "are. Nothing was changed. Please try again in a few minutes.",
                Tone.WARNING,
            )
        except InvalidInput as err:
            return build_notice_card(f"Check the {err.field}", err.problem, Tone.WARNING)
        except AccessRefused as err:
            return build_notice_card("Not allowed", f"Refused: {err.reason}.", Tone.ATTENTION)
        except CaseNotFound as err:
            # The same words for a case that does not exist and one the officer may not see.
            return build_notice_card(
                "Case not found", case_not_found_text(err.reference), Tone.WARNING
            )
        except SourceError as err:
            return build_notice_card(
                "Files unavailable",
                f"Exhibit could not read the files from Teams ({type(err).__name__}). "
                "Nothing was recorded. Please try again, or send them in a 1:1 chat.",
                Tone.WARNING,
            )
        except ExhibitNotFound as err:
            where = f" in case {err.case_reference}" if err.case_reference else ""
            return build_notice_card(
                "Exhibit not found", f"There is no exhibit {err.exhibit_ref}{where}.", Tone.WARNING
            )
        except DuplicateCase as err:
            # A reference is unique force-wide, so its being taken must be told; nothing else
            # about the case is, and the words are the same whether the officer is on it or not.
            return build_notice_card(
                "Reference in use",
                f"The case reference {err.reference} is already in use. If it is your case, ask "
                "its officer to add you to the case channel.",
                Tone.WARNING,
            )


def case_not_found_text(reference: str | None) -> str:
    """What someone is told of a case that is absent or that they may not see: the same."""
    if reference is None:
        return (
            "Name a case (e.g. `case show MET-24-0001`): this conversation is not bound to a "
            "case you can see."
        )
    return (
        f"No case {reference} that you can see. Check the reference, or ask the case's officer "
        "to add you to the case channel."
    )


def _command_text(activity: Activity) -> str:
    """The text the officer typed, without the bot's @mention."""
    activity.remove_recipient_mention()
    text = activity.text or ""
    # Teams may leave non-breaking spaces behind where the mention was.
    return " ".join(text.replace("\u00a0", " ").split())


def _not_understood(text: str) -> str:
    # Cleaned before it is cut (a bidi override must not survive the cut); the help card makes
    # what is left literal, so a typed link or mention shows as typed.
    shown = clean(text, limit=60)
    return f"I did not understand \u201c{shown}\u201d. Here is what I can do."


def error_reference() -> str:
    """A short reference for an error, given to the user and written in the log."""
    return uuid.uuid4().hex[:8]
