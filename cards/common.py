"""Small cards every command may answer with (a notice), and next-step buttons."""

from __future__ import annotations

from enum import StrEnum

from cards.models import ac
from cards.text import SHORT, wording


class Tone(StrEnum):
    """How a notice should look."""

    INFO = "Default"
    GOOD = "Good"
    WARNING = "Warning"
    ATTENTION = "Attention"


def build_notice_card(title: str, text: str, tone: Tone = Tone.INFO) -> ac.AdaptiveCard:
    """A title in the tone's colour and an explanation.

    Both are Exhibit's wording, but may carry what a user typed (a reference, a share id, an
    address): Markdown in them is made literal, `code spans` excepted.
    """
    return ac.AdaptiveCard(
        body=[
            ac.TextBlock(
                text=wording(title, limit=SHORT),
                weight="Bolder",
                size="Medium",
                color=tone.value,
                wrap=True,
            ),
            ac.TextBlock(text=wording(text), wrap=True),
        ]
    )


# Action.Execute verb of a next-step button: the data names a command and what it is about
# (`{"command": "custody", "case": "MET-24-0001", "exhibit": "JS/1"}`); the bot runs that
# command as if typed, with every check a typed command gets.
NEXT_STEP = "command.run"


def next_step(title: str, command: str, **about: str) -> ac.ExecuteAction:
    """A button that runs `command` about `about` (a case reference, an exhibit reference)."""
    return ac.ExecuteAction(title=title, verb=NEXT_STEP, data={"command": command, **about})


def next_steps(*actions: ac.ExecuteAction) -> ac.ActionSet:
    """A row of next-step buttons."""
    return ac.ActionSet(actions=list(actions))
