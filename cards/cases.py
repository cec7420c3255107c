"""Case cards: one case, and the list of cases an officer can see."""

from __future__ import annotations

from collections.abc import Sequence

from microsoft_teams.cards import AdaptiveCard, CardElement, Container, Fact, FactSet, TextBlock

from cards.common import next_step, next_steps
from cards.text import TITLE, plain, wording
from cards.time import when
from evidence.model import Case


def build_case_card(
    case: Case, *, exhibits: int, open_shares: int, headline: str | None = None
) -> AdaptiveCard:
    """Reference, title, region, bound channel, counts; Evidence and Shares as next steps."""
    body: list[CardElement] = []
    if headline:
        body.append(TextBlock(text=wording(headline), color="Good", weight="Bolder", wrap=True))
    body += [
        TextBlock(text=plain(case.reference), weight="Bolder", size="Large", wrap=True),
        TextBlock(text=plain(case.title, limit=TITLE), wrap=True),
        FactSet(
            facts=[
                Fact(title="Region", value=plain(case.region)),
                Fact(title="Channel", value="bound" if case.channel else "not bound"),
                Fact(title="Opened", value=when(case.created_at)),
                Fact(title="Exhibits", value=str(exhibits)),
                Fact(title="Open shares", value=str(open_shares)),
            ]
        ),
        next_steps(
            next_step("Evidence", "evidence list", case=case.reference),
            next_step("Shares", "share list", case=case.reference),
        ),
    ]
    return AdaptiveCard(body=body)


def build_case_list_card(cases: Sequence[Case], *, limit: int = 50) -> AdaptiveCard:
    """The cases an officer can see, newest first (at most `limit`, to keep the card small)."""
    body: list[CardElement] = [
        TextBlock(text="Your cases", weight="Bolder", size="Medium", wrap=True)
    ]
    if not cases:
        body.append(
            TextBlock(
                text="You are not on any case yet. Open one with `case open <case-ref> <title>`.",
                wrap=True,
            )
        )
    for case in cases[:limit]:
        body.append(
            Container(
                separator=True,
                items=[
                    TextBlock(
                        text=f"**{plain(case.reference)}** \u2014 {plain(case.title, limit=TITLE)}",
                        wrap=True,
                    ),
                    TextBlock(
                        text=f"{plain(case.region)} \u00b7 opened {when(case.created_at)}",
                        is_subtle=True,
                        wrap=True,
                    ),
                ],
            )
        )
    if len(cases) > limit:
        body.append(TextBlock(text=f"\u2026 and {len(cases) - limit} more.", is_subtle=True))
    return AdaptiveCard(body=body)
