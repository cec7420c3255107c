"""Turning what an officer typed into a command and its arguments."""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands.grammar import COMMANDS, CommandSpec

_BY_LENGTH = sorted(COMMANDS, key=lambda c: len(c.name.split()), reverse=True)
MAX_TEXT = 2000


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    """A recognised command and the words after it, as typed."""

    spec: CommandSpec
    args: tuple[str, ...]


def parse_command(text: str) -> ParsedCommand | None:
    """The command `text` starts with (longest name first), or None if it names none."""
    words = text[:MAX_TEXT].split()
    lowered = [w.lower() for w in words]
    for spec in _BY_LENGTH:
        name = spec.name.split()
        if lowered[: len(name)] == name:
            return ParsedCommand(spec, tuple(words[len(name) :]))
    return None
