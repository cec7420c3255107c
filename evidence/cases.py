"""Case use cases: open, find, list, show — each checked by the policy and recorded."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evidence.custody import Action, CustodyEvent
from evidence.errors import AccessRefused, CaseNotFound, InvalidInput
from evidence.model import Case, ChannelBinding
from evidence.officers import Officer
from evidence.policy import Decision, can_open_case, can_view_case
from evidence.records import RecordsUnit
from evidence.refusals import record_refusal

MembersOf = Callable[[Case], Awaitable[Set[str]]]


@dataclass(frozen=True, slots=True)
class CaseRules:
    """What a case reference and title may look like, and where evidence may live."""

    reference_pattern: re.Pattern[str]
    title_max: int
    regions: tuple[str, ...]
    default_region: str
    reference_example: str = "MET-24-0001"  # shown to people instead of the pattern


@dataclass(frozen=True, slots=True)
class CaseRequest:
    """`case open <case-ref> <title...> [region <name>]`, read and checked."""

    reference: str
    title: str
    region: str


@dataclass(frozen=True, slots=True)
class CaseDraft:
    """`case open` as typed: the reference and title, and the region if one was named."""

    reference: str
    title: str
    region: str | None = None


def check_case_open(draft: CaseDraft, rules: CaseRules) -> CaseRequest:
    """Hold a case draft to the force's rules; raise `InvalidInput` naming what is wrong."""
    reference = draft.reference.upper()
    region = rules.default_region if draft.region is None else draft.region.lower()
    if not rules.reference_pattern.fullmatch(reference):
        raise InvalidInput(
            "case reference",
            f"\u201c{draft.reference}\u201d is not a case reference. Write it like "
            f"{rules.reference_example}: letters, a dash, the year's two digits, a dash and "
            "the number.",
        )
    title = draft.title.strip()
    if not title:
        raise InvalidInput("case title", "give the case a title after its reference")
    if len(title) > rules.title_max:
        raise InvalidInput("case title", f"keep it within {rules.title_max} characters")
    if any(not ch.isprintable() for ch in title):
        raise InvalidInput("case title", "it contains control characters")
    if region not in rules.regions:
        raise InvalidInput(
            "region", f"{region!r} is not one of the configured regions: {', '.join(rules.regions)}"
        )
    return CaseRequest(reference, title, region)


async def open_case(
    unit: RecordsUnit,
    officer: Officer,
    request: CaseRequest,
    *,
    case_id: str,
    now: datetime,
    channel: ChannelBinding | None,
) -> Case:
    """Record a new case (bound to `channel` if given) and its first custody entry."""
    decision = can_open_case(officer)
    if not decision.allowed:
        raise AccessRefused(decision.reason)
    if channel is not None:
        bound = await unit.case_by_channel(channel.channel_id)
        if bound is not None:
            raise InvalidInput(
                "channel", f"this channel is already bound to case {bound.reference}"
            )
    case = Case(
        id=case_id,
        reference=request.reference,
        title=request.title,
        region=request.region,
        created_by=officer.object_id,
        created_at=now,
        channel=channel,
    )
    await unit.add_case(case)
    await unit.append_custody(
        CustodyEvent.by(
            officer,
            Action.CASE_OPENED,
            case.id,
            now,
            {
                "reference": case.reference,
                "title": case.title,
                "region": case.region,
                "channel": channel.channel_id if channel else None,
            },
        )
    )
    return case


async def find_case(unit: RecordsUnit, reference: str | None, channel_id: str | None) -> Case:
    """The case named by `reference`, else the one bound to the channel; `CaseNotFound` if none."""
    if reference:
        case = await unit.case_by_reference(reference.upper())
        if case is None:
            raise CaseNotFound(reference.upper())
        return case
    if channel_id:
        case = await unit.case_by_channel(channel_id)
        if case is not None:
            return case
    raise CaseNotFound(None)


async def check_visible(
    unit: RecordsUnit,
    officer: Officer,
    case: Case,
    members_of: MembersOf,
    *,
    now: datetime,
    attempt: Mapping[str, Any] | None = None,
    exhibit_id: str | None = None,
) -> Decision:
    """Whether the officer may see `case`; a refusal is recorded in the case's chain of custody.

    `attempt` adds what was tried to the refusal's record. The refusal must be committed, so
    this does not raise: the caller commits the unit and then raises (`CaseNotFound` when the
    decision `hides_case`, so that "absent" and "not yours" read the same).
    """
    decision = await _may_view(officer, case, members_of)
    if not decision.allowed:
        details = {**(attempt or {}), "reason": decision.reason}
        await record_refusal(
            unit, officer, case.id, Action.ACCESS_REFUSED, details, now, exhibit_id=exhibit_id
        )
    return decision


async def cases_visible_to(
    unit: RecordsUnit, officer: Officer, members_of: MembersOf
) -> list[Case]:
    """Every case the officer may see, newest first."""
    return [
        case for case in await unit.cases() if (await _may_view(officer, case, members_of)).allowed
    ]


async def _may_view(officer: Officer, case: Case, members_of: MembersOf) -> Decision:
    """`can_view_case`, asking for the case team only when the answer depends on it.

    Auditors, admins and the creator need no team; neither does a case without a channel (its
    team is the creator) nor a disabled account. Team lookups can cost a network call each.
    """
    without_team = can_view_case(officer, case, frozenset())
    if without_team.allowed or not officer.enabled or case.channel is None:
        return without_team
    return can_view_case(officer, case, await members_of(case))


async def record_case_view(
    unit: RecordsUnit, officer: Officer, case: Case, *, now: datetime, view: str | None = None
) -> None:
    """`case.viewed` in the case's chain (`view` says what was looked at, if not the case)."""
    await unit.append_custody(
        CustodyEvent.by(officer, Action.CASE_VIEWED, case.id, now, {"view": view} if view else {})
    )
