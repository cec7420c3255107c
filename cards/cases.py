"""Case cards: one case, and the list of cases an officer can see."""

from __future__ import annotations

from collections.abc import Sequence

from cards.common import next_step, next_steps
from cards.models import ac
from cards.text import LONG, SHORT, TITLE, plain, wording
from cards.time import when
from cards.words import region_name
from evidence.model import Case, ChannelBinding, LegalHold

MAX_REASON = 500
CONSULT = "consult"  # the reason card's verb


def build_case_card(
    case: Case,
    *,
    exhibits: int,
    open_shares: int,
    headline: str | None = None,
    notice: str | None = None,
    notice_tone: str = "Warning",
) -> ac.AdaptiveCard:
    """Reference, title, region, bound channel, counts, the legal hold if there is one; Evidence
    and Shares as next steps.

    `notice`: a line under the headline (what happened to storage when a hold changed).
    """
    body: list[ac.CardElement] = []
    if headline:
        body.append(ac.TextBlock(text=wording(headline), color="Good", weight="Bolder", wrap=True))
    if notice:
        body.append(ac.TextBlock(text=wording(notice), color=notice_tone, wrap=True))
    body += [
        ac.TextBlock(text=plain(case.reference), weight="Bolder", size="Large", wrap=True),
        ac.TextBlock(text=plain(case.title, limit=TITLE), wrap=True),
        ac.FactSet(
            facts=[
                ac.Fact(title="Region", value=plain(region_name(case.region))),
                ac.Fact(title="Channel", value=channel_label(case.channel)),
                ac.Fact(title="Opened", value=when(case.created_at)),
                ac.Fact(title="Exhibits", value=str(exhibits)),
                ac.Fact(title="Open shares", value=str(open_shares)),
            ]
        ),
        next_steps(
            next_step("Evidence", "evidence list", case=case.reference),
            next_step("Shares", "share list", case=case.reference),
        ),
    ]
    if case.hold is not None:
        body.append(_hold_block(case.hold))
    return ac.AdaptiveCard(body=body)


def channel_label(channel: ChannelBinding | None) -> str:
    """The bound channel as people know it: its name (user text, shown literally)."""
    if channel is None:
        return "not bound"
    if not channel.name:
        return "bound (name not known yet)"
    return plain(channel.name, limit=SHORT)


def _hold_block(hold: LegalHold) -> ac.Container:
    return ac.Container(
        style="attention",
        items=[
            ac.TextBlock(text="On legal hold", weight="Bolder", color="Attention", wrap=True),
            ac.TextBlock(
                text=f"Since {when(hold.since)}, set by {plain(hold.by_name, limit=SHORT)}: "
                f"{plain(hold.reason, limit=LONG)}",
                wrap=True,
            ),
            ac.TextBlock(
                text="Its evidence must not be altered or deleted until the hold is lifted.",
                is_subtle=True,
                wrap=True,
            ),
        ],
    )


def build_reason_card(command: str, case_reference: str | None, verb: str) -> ac.AdaptiveCard:
    """Asks someone who is not on the case why they consult it, then runs `command` again.

    The Data Protection Act 2018 (s.62) wants the justification of every consultation logged;
    the button sends the typed reason with the command, and the view is recorded with it.
    """
    about = f"case {plain(case_reference)}" if case_reference else "this case"
    return ac.AdaptiveCard(
        body=[
            ac.TextBlock(text="Why are you looking?", weight="Bolder", size="Medium", wrap=True),
            ac.TextBlock(
                text=f"You are not on the team of {about}. To consult it, give the reason; "
                "it is recorded in the case's chain of custody with your view.",
                wrap=True,
            ),
            ac.TextInput(
                id="reason",
                label="Reason",
                placeholder="e.g. professional standards review PSD-2026-014",
                is_required=True,
                error_message="A reason is needed",
                max_length=MAX_REASON,
            ),
        ],
        actions=[
            ac.ExecuteAction(title="Show with this reason", verb=verb, data={"command": command})
        ],
    )


def build_case_list_card(cases: Sequence[Case], *, limit: int = 50) -> ac.AdaptiveCard:
    """The cases an officer can see, newest first (at most `limit`, to keep the card small)."""
    body: list[ac.CardElement] = [
        ac.TextBlock(text="Your cases", weight="Bolder", size="Medium", wrap=True)
    ]
    if not cases:
        body.append(
            ac.TextBlock(
                text="You are not on any case yet. Open one with `case open <case-ref> <title>`.",
                wrap=True,
            )
        )
    for case in cases[:limit]:
        body.append(
            ac.Container(
                separator=True,
                items=[
                    ac.TextBlock(
                        text=f"**{plain(case.reference)}** \u2014 {plain(case.title, limit=TITLE)}",
                        wrap=True,
                    ),
                    ac.TextBlock(
                        text=f"{plain(region_name(case.region))} \u00b7 "
                        f"opened {when(case.created_at)}",
                        is_subtle=True,
                        wrap=True,
                    ),
                ],
            )
        )
    if len(cases) > limit:
        body.append(ac.TextBlock(text=f"\u2026 and {len(cases) - limit} more.", is_subtle=True))
    return ac.AdaptiveCard(body=body)
