"""Activities that carry cards."""

from __future__ import annotations

from typing import TYPE_CHECKING

from microsoft_agents.activity import Activity, ActivityTypes, Attachment

if TYPE_CHECKING:
    from microsoft_teams.cards import AdaptiveCard

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


def card_payload(card: AdaptiveCard) -> dict[str, object]:
    """The card as the JSON Teams expects."""
    content: dict[str, object] = card.model_dump(mode="json", by_alias=True, exclude_none=True)
    return content


def card_activity(card: AdaptiveCard) -> Activity:
    """A message activity carrying one Adaptive Card."""
    return Activity(
        type=ActivityTypes.message,
        attachments=[Attachment(content_type=ADAPTIVE_CARD, content=card_payload(card))],
    )
