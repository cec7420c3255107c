"""The help card: every command with its syntax and an example, marking those not yet available."""

from __future__ import annotations

from collections.abc import Iterable, Set
from typing import Protocol

from microsoft_teams.cards import AdaptiveCard, CardElement, Container, TextBlock

from cards.text import wording
from evidence.officers import Role


class HelpEntry(Protocol):
    """What the help card shows of a command."""

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


def build_help_card(commands: Iterable[HelpEntry], hint: str | None = None) -> AdaptiveCard:
    """A card listing `commands`; `hint` (e.g. what was not understood) is shown first.

    The hint may echo what the officer typed: its Markdown is made literal (`wording`).
    """
    body: list[CardElement] = [
        TextBlock(text="Exhibit commands", weight="Bolder", size="Medium", wrap=True),
    ]
    if hint:
        body.append(TextBlock(text=wording(hint), color="Attention", wrap=True))
    body.append(
        TextBlock(
            text="Type a command in this chat, or @mention Exhibit in a case channel.",
            is_subtle=True,
            wrap=True,
        )
    )
    for command in commands:
        status = "" if command.available else " — *not yet available*"
        items: list[CardElement] = [
            TextBlock(text=_placeholders(command.usage), font_type="Monospace", wrap=True),
            TextBlock(
                text=f"{command.description}{_for_whom(command.roles)}{status}",
                is_subtle=True,
                wrap=True,
            ),
        ]
        if command.example != command.usage:  # a command without arguments is its own example
            items.append(
                TextBlock(
                    text=f"e.g. {command.example}", font_type="Monospace", is_subtle=True, wrap=True
                )
            )
        body.append(Container(separator=True, items=items))
    return AdaptiveCard(body=body)


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
