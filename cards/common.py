"""Small cards every command may answer with: a notice (error, refusal, information)."""

from __future__ import annotations

from enum import StrEnum

from microsoft_teams.cards import AdaptiveCard, TextBlock


class Tone(StrEnum):
    """How a notice should look."""

    INFO = "Default"
    GOOD = "Good"
    WARNING = "Warning"
    ATTENTION = "Attention"


def build_notice_card(title: str, text: str, tone: Tone = Tone.INFO) -> AdaptiveCard:
    """A title in the tone's colour and an explanation."""
    return AdaptiveCard(
        body=[
            TextBlock(text=title, weight="Bolder", size="Medium", color=tone.value, wrap=True),
            TextBlock(text=text, wrap=True),
        ]
    )
