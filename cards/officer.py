"""The `whoami` card: the officer as the directory resolved them."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard, Fact, FactSet, TextBlock

from evidence.officers import Officer

_SOURCES = {"graph": "Entra ID (Microsoft Graph)", "local": "Local directory file"}


def build_whoami_card(officer: Officer, source: str) -> AdaptiveCard:
    """Name, rank, unit, contact, roles, and where the answer came from."""
    roles = ", ".join(sorted(role.value for role in officer.roles)) or "none"
    facts = [
        Fact(title="Rank", value=officer.rank or "\u2014"),
        Fact(title="Unit", value=officer.unit or "\u2014"),
        Fact(title="Email", value=officer.email or "\u2014"),
        Fact(title="Roles", value=roles),
        Fact(title="Entra object id", value=officer.object_id),
        Fact(title="Source", value=_SOURCES.get(source, source)),
    ]
    return AdaptiveCard(
        body=[
            TextBlock(text=officer.display_name, weight="Bolder", size="Large", wrap=True),
            FactSet(facts=facts),
        ]
    )
