"""The commands users type: one source of truth for the help card and the app manifest.

Pure data, no SDK imports, so the app package builder can read it without starting anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    """Where in Teams a command may be typed (the manifest's bot scopes)."""

    PERSONAL = "personal"
    TEAM = "team"
    GROUP_CHAT = "groupChat"


ALL_SCOPES = frozenset(Scope)


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One user-facing command."""

    name: str
    usage: str
    description: str
    available: bool
    scopes: frozenset[Scope] = ALL_SCOPES


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("help", "help", "List what Exhibit can do", available=True),
    CommandSpec(
        "whoami",
        "whoami",
        "Who the directory says you are: name, rank, unit, roles",
        available=True,
    ),
    CommandSpec(
        "case open",
        "case open <case-ref> <title...> [region <name>]",
        "Open a case pinned to a storage region; in a channel, bind the channel to it",
        available=True,
    ),
    CommandSpec("case list", "case list", "Cases you can see", available=True),
    CommandSpec(
        "case show",
        "case show [<case-ref>]",
        "Case card: region, team, exhibits, open shares",
        available=True,
    ),
    CommandSpec(
        "add",
        "add [<case-ref>] (with files attached)",
        "Each attached file becomes an exhibit of the case",
        available=True,
    ),
    CommandSpec(
        "evidence list", "evidence list [<case-ref>]", "Exhibits of the case", available=True
    ),
    CommandSpec(
        "evidence show",
        "evidence show <exhibit-ref>",
        "Exhibit card: name, type, size, SHA-256, who and when",
        available=True,
    ),
    CommandSpec(
        "evidence verify",
        "evidence verify <exhibit-ref>",
        "Re-hash the stored file and compare with the intake hash",
        available=True,
    ),
    CommandSpec(
        "share",
        "share <exhibit-ref>[,<exhibit-ref>...] with <email> [for <N>d] [reason <text...>]",
        "Request an external share; an approver decides",
        available=True,
    ),
    CommandSpec(
        "share list",
        "share list [<case-ref>]",
        "Shares of the case and their state",
        available=True,
    ),
    CommandSpec(
        "share revoke", "share revoke <share-id>", "Stop a share link at once", available=True
    ),
    CommandSpec(
        "share link",
        "share link <share-id>",
        "A new link for your approved share; the old one stops working",
        available=True,
    ),
    CommandSpec(
        "custody",
        "custody <exhibit-ref>",
        "The exhibit's chain of custody, verified",
        available=True,
    ),
)


def command_named(name: str) -> CommandSpec | None:
    """The command whose name is `name`, if any."""
    return next((c for c in COMMANDS if c.name == name), None)
