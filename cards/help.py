"""The help cards: every command in one short line per group, and one command (or group) in full.

Both are built from the command grammar the bot passes in, so they cannot drift from what the
parser accepts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
from typing import Protocol

from cards.models import ac
from cards.text import wording
from evidence.officers import Role


class HelpEntry(Protocol):
    """What the help cards show of a command."""

    @property
    def name(self) -> str: ...
    @property
    def short(self) -> str: ...
    @property
    def usage(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def example(self) -> str: ...
    @property
    def roles(self) -> Set[Role]: ...
    @property
    def available(self) -> bool: ...


HelpGroup = tuple[str, Sequence[HelpEntry]]

NOT_YET = " \u2014 *not yet available*"


def build_help_card(groups: Iterable[HelpGroup], hint: str | None = None) -> ac.AdaptiveCard:
    """Every command, one line each, under its group's name; `hint` is shown first.

    The hint may echo what the officer typed: its Markdown is made literal (`wording`).
    """
    body: list[ac.CardElement] = [
        ac.TextBlock(text="Exhibit commands", weight="Bolder", size="Medium", wrap=True),
    ]
    if hint:
        body.append(ac.TextBlock(text=wording(hint), color="Attention", wrap=True))
    body.append(
        ac.TextBlock(
            text="Type a command in this chat, or @mention Exhibit in a case channel. "
            f"For how to use one, type {_placeholders('`help <command>`')}, e.g. `help share`.",
            is_subtle=True,
            wrap=True,
        )
    )
    for title, commands in groups:
        if not commands:
            continue
        facts = [
            ac.Fact(
                title=command.name,
                value=_placeholders(command.short) + ("" if command.available else NOT_YET),
            )
            for command in commands
        ]
        body.append(
            ac.Container(
                separator=True,
                items=[
                    ac.TextBlock(text=title, weight="Bolder", wrap=True),
                    ac.FactSet(facts=facts),
                ],
            )
        )
    return ac.AdaptiveCard(body=body)


def build_command_help_card(title: str, commands: Iterable[HelpEntry]) -> ac.AdaptiveCard:
    """`commands` in full: syntax, what each does and for whom, an example."""
    body: list[ac.CardElement] = [
        ac.TextBlock(text=wording(title), weight="Bolder", size="Medium", wrap=True),
    ]
    for command in commands:
        status = "" if command.available else NOT_YET
        items: list[ac.CardElement] = [
            ac.TextBlock(text=_placeholders(command.usage), font_type="Monospace", wrap=True),
            ac.TextBlock(
                text=f"{_placeholders(command.description)}{_for_whom(command.roles)}{status}",
                is_subtle=True,
                wrap=True,
            ),
        ]
        if command.example != command.usage:  # a command without arguments is its own example
            items.append(
                ac.TextBlock(
                    text=f"e.g. {command.example}", font_type="Monospace", is_subtle=True, wrap=True
                )
            )
        body.append(ac.Container(separator=True, items=items))
    body.append(ac.TextBlock(text="Type `help` for every command.", is_subtle=True, wrap=True))
    return ac.AdaptiveCard(body=body)


def _placeholders(usage: str) -> str:
    """`<case-ref>` in guillemets: Teams takes angle brackets for markup and drops them."""
    return usage.replace("<", "\u2039").replace(">", "\u203a")


def _for_whom(roles: Set[Role]) -> str:
    """` · for officers and approvers`; nothing when every role may."""
    names = [f"{role.value}s" for role in Role if role in roles]
    if not names:
        return ""
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f" · for {listed}"
