"""`help`, `help <command>` and `help <group>`, and what a message that is no command is told.

A message that is close to a command (a typo: `case lsit`, `custdy JS/1`) is answered with the
closest command(s) of the grammar, not the whole help card; one that is close to nothing with a
short hint to type `help`.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot import wording
from bot.commands.grammar import COMMANDS, CommandSpec, Group, commands_in, group_named
from cards.common import Tone, build_notice_card
from cards.help import HelpGroup, build_command_help_card, build_help_card

if TYPE_CHECKING:
    from microsoft_teams.cards import AdaptiveCard

# How alike a typed word and a command word must be (difflib's ratio) to suggest the command:
# one slip in a word of four or more letters passes (`custdy`, `evidnce`, `lsit`), an unrelated
# word of similar length does not (`dance`, `what`).
CUTOFF = 0.7
RUN_TOGETHER = 0.85  # `caselist`, `evidenceshow`: higher, or `cases` would be `case show`
_FIRST_WORDS = tuple(dict.fromkeys(spec.words[0] for spec in COMMANDS))


def help_groups(commands: Sequence[CommandSpec] = COMMANDS) -> list[HelpGroup]:
    """The commands by group, in the order the help card shows them."""
    return [(group.value, commands_in(group, commands)) for group in Group]


def help_card(topic: Sequence[str] = (), hint: str | None = None) -> AdaptiveCard:
    """`help` (every command, one line each), or one command or group in full."""
    if not topic:
        return build_help_card(help_groups(), hint)
    typed = " ".join(topic)
    text = typed.lower()
    spec = next((c for c in COMMANDS if c.name == text), None)
    if spec is not None:
        return build_command_help_card(f"How to use {spec.name}", [spec])
    group = group_named(text)
    if group is not None:
        return build_command_help_card(group.value, commands_in(group))
    close = closest_commands(text)
    if close:
        return build_notice_card(
            _did_you_mean(close, prefix="help "),
            f"There is no help on \u201c{wording.shown(typed)}\u201d. Type `help` for every "
            "command.",
            Tone.INFO,
        )
    return build_help_card(help_groups(), wording.no_help_on_hint(typed))


def not_understood_card(text: str) -> AdaptiveCard:
    """The answer to a message that names no command: the closest commands, or a hint."""
    if not text:
        return build_help_card(help_groups(), wording.not_understood_hint(text))
    close = closest_commands(text)
    if not close:
        return build_notice_card("Not a command", wording.not_understood_hint(text), Tone.INFO)
    how = f"help {close[0].name}" if len(close) == 1 else "help"
    return build_notice_card(
        _did_you_mean(close),
        f"I did not understand \u201c{wording.shown(text)}\u201d. Type `{how}` to see how to "
        "use it.",
        Tone.INFO,
    )


def closest_commands(text: str) -> list[CommandSpec]:
    """The commands `text` most likely meant, best first; empty when none is close.

    A first word typed as two run together is matched against whole names (`caselist` →
    `case list`); otherwise against the commands' first words (`custdy` → `custody`), and a
    second word then picks among the commands starting with it (`case lsit` → `case list`).
    When it picks none, the one-word command of that family is meant (`shar JS/1` → `share`),
    or else every command of the family is offered (`cases` → case open, list, show).
    """
    words = text.lower().split()
    if not words:
        return []
    run_together = {spec.name.replace(" ", ""): spec for spec in COMMANDS if len(spec.words) > 1}
    whole = difflib.get_close_matches(words[0], list(run_together), n=1, cutoff=RUN_TOGETHER)
    if whole:
        return [run_together[whole[0]]]
    first = difflib.get_close_matches(words[0], _FIRST_WORDS, n=1, cutoff=CUTOFF)
    if not first:
        return []
    family = [spec for spec in COMMANDS if spec.words[0] == first[0]]
    if len(words) > 1:
        seconds = {spec.words[1]: spec for spec in family if len(spec.words) > 1}
        second = difflib.get_close_matches(words[1], list(seconds), n=1, cutoff=CUTOFF)
        if second:
            return [seconds[second[0]]]
    # `share JS/1` is a command of its own: `shar JS/1` means it, not `share list`.
    alone = [spec for spec in family if len(spec.words) == 1]
    return alone or family


def _did_you_mean(commands: Sequence[CommandSpec], prefix: str = "") -> str:
    names = [f"`{prefix}{spec.name}`" for spec in commands]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return f"Did you mean {listed}?"
