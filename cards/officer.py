"""The `whoami` card: the officer as the directory resolved them."""

from __future__ import annotations

from cards.models import ac
from cards.text import plain
from evidence.officers import Officer

_SOURCES = {"graph": "Entra ID (Microsoft Graph)", "local": "Local directory file"}


def build_whoami_card(officer: Officer, source: str) -> ac.AdaptiveCard:
    """Name, rank, unit, contact, roles, and where the answer came from."""
    roles = ", ".join(sorted(role.value for role in officer.roles)) or "none"
    facts = [
        ac.Fact(title="Rank", value=plain(officer.rank) or "\u2014"),
        ac.Fact(title="Unit", value=plain(officer.unit) or "\u2014"),
        ac.Fact(title="Email", value=plain(officer.email) or "\u2014"),
        ac.Fact(title="Roles", value=plain(roles)),
        ac.Fact(title="Entra object id", value=plain(officer.object_id)),
        ac.Fact(title="Source", value=plain(_SOURCES.get(source, source))),
    ]
    return ac.AdaptiveCard(
        body=[
            ac.TextBlock(
                text=plain(officer.display_name) or "\u2014",
                weight="Bolder",
                size="Large",
                wrap=True,
            ),
            ac.FactSet(facts=facts),
        ]
    )
