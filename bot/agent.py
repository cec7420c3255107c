"""Exhibit's agent: one turn of conversation, from activity to reply."""

from __future__ import annotations

import logging
import uuid

from microsoft_agents.activity import Activity, ActivityTypes, Attachment
from microsoft_agents.hosting.core import TurnContext
from microsoft_teams.cards import AdaptiveCard

from bot.commands import COMMANDS
from bot.parsing import parse_command
from cards.help import build_help_card

logger = logging.getLogger(__name__)

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


def card_activity(card: AdaptiveCard) -> Activity:
    """A message activity carrying one Adaptive Card."""
    content = card.model_dump(mode="json", by_alias=True, exclude_none=True)
    return Activity(
        type=ActivityTypes.message,
        attachments=[Attachment(content_type=ADAPTIVE_CARD, content=content)],
    )


class ExhibitAgent:
    """Handles every inbound activity (the Agents SDK `Agent` protocol)."""

    async def on_turn(self, context: TurnContext) -> None:
        """Dispatch one activity."""
        activity = context.activity
        if activity.type == ActivityTypes.message:
            await self._on_message(context)
        # Other activity types (conversation updates, typing, ...) need no answer yet;
        # an invoke left unanswered gets the protocol's 501 from the adapter.

    async def _on_message(self, context: TurnContext) -> None:
        text = _command_text(context.activity)
        parsed = parse_command(text)
        if parsed is None:
            hint = "Here is what I can do." if not text else _not_understood(text)
            await context.send_activity(card_activity(build_help_card(COMMANDS, hint)))
            return
        if parsed.spec.name == "help":
            await context.send_activity(card_activity(build_help_card(COMMANDS)))
            return
        await context.send_activity(
            card_activity(
                build_help_card(
                    COMMANDS, f"'{parsed.spec.name}' is not yet available in this version."
                )
            )
        )


def _command_text(activity: Activity) -> str:
    """The text the officer typed, without the bot's @mention."""
    activity.remove_recipient_mention()
    text = activity.text or ""
    # Teams may leave the mention's <at> tags or non-breaking spaces behind.
    return " ".join(text.replace("\u00a0", " ").split())


def _not_understood(text: str) -> str:
    shown = text if len(text) <= 60 else text[:57] + "..."
    return f"I did not understand \u201c{shown}\u201d. Here is what I can do."


def error_reference() -> str:
    """A short reference for an error, given to the user and written in the log."""
    return uuid.uuid4().hex[:8]
