"""Turning what an officer typed into a command and its arguments, by the grammar of each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.commands.grammar import COMMANDS, RUNS_ON, CommandSpec

_BY_LENGTH = sorted(COMMANDS, key=lambda c: len(c.words), reverse=True)
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
        if tuple(lowered[: len(spec.words)]) == spec.words:
            return ParsedCommand(spec, tuple(words[len(spec.words) :]))
    return None


def split_reason(words: Sequence[str]) -> tuple[tuple[str, ...], str | None]:
    """The words before `reason`, and the text after it (None when no `reason` was typed)."""
    lowered = [w.lower() for w in words]
    if "reason" not in lowered:
        return tuple(words), None
    at = lowered.index("reason")
    return tuple(words[:at]), " ".join(words[at + 1 :])


def read_keyword_arguments(spec: CommandSpec, words: Sequence[str]) -> dict[str, str | None]:
    """The text of each argument of a command shaped `<lead> kw <value> [kw <value>] ...`.

    The lead runs up to the first keyword of the next argument, wherever it is; then each
    keyword argument in the grammar's order, taken only where its keyword comes next and a value
    follows it; a run-on argument (`<text...>`) takes the rest. None: not given (and then the
    words from there on are not read, as no later argument comes before its keyword).
    """
    lead, *keyed = spec.arguments
    if lead.keyword is not None or any(a.keyword is None for a in keyed):
        raise ValueError(f"{spec.name}: not a lead argument and keyword arguments")
    lowered = [w.lower() for w in words]
    at = len(words)
    if keyed:
        first = keyed[0].keyword or ""
        at = lowered.index(first) if first in lowered else 0
    found: dict[str, str | None] = {lead.name: " ".join(words[:at]) if at else None}
    for argument in keyed:
        found[argument.name] = None
        if len(words) - at >= 2 and lowered[at] == argument.keyword:
            end = len(words) if argument.kind in RUNS_ON else at + 2
            found[argument.name] = " ".join(words[at + 1 : end])
            at = end
    return found
