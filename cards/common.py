"""Small cards every command may answer with: a notice (error, refusal, information)."""

from __future__ import annotations

from enum import StrEnum

from microsoft_teams.cards import AdaptiveCard, TextBlock

from cards.text import SHORT, wording


class Tone(StrEnum):
    """How a notice should look."""

    INFO = "Default"
    GOOD = "Good"
    WARNING = "Warning"
    ATTENTION = "Attention"


def build_notice_card(title: str, text: str, tone: Tone = Tone.INFO) -> AdaptiveCard:
    """A title in the tone's colour and an explanation.

    Both are Exhibit's wording, but may carry what a user typed (a reference, a share id, an
    address): Markdown in them is made literal, `code spans` excepted.
    """
    return AdaptiveCard(
        body=[
            TextBlock(
                text=wording(title, limit=SHORT),
                weight="Bolder",
                size="Medium",
                color=tone.value,
                wrap=True,
            ),
            TextBlock(text=wording(text), wrap=True),
        ]
    )
