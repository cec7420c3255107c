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
from evidence.policy import (
    Decision,
    can_bind_channel,
    can_open_case,
    can_view_case,
    consultation_needs_reason,
)
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


@dataclass(frozen=True, slots=True)
class Binding:
    """`case bind`: the case, and the refusal to show it if there was one (recorded already)."""

    case: Case
    decision: Decision


async def bind_case(
    unit: RecordsUnit,
    officer: Officer,
    reference: str,
    channel: ChannelBinding,
    members_of: MembersOf,
    *,
    now: datetime,
) -> Binding:
    """Bind an unbound case to the channel the command was typed in, and record it.

    Someone who may not see the case gets a recorded refusal (the caller commits, then raises,
    as for a view). A case already bound, or a channel already holding a case, is refused with
    `InvalidInput`; so is a lost race for either.
    """
    case = await find_case(unit, reference, None)
    attempt = {"command": "case bind", "channel": channel.channel_id}
    decision = await check_visible(unit, officer, case, members_of, now=now, attempt=attempt)
    if not decision.allowed:
        return Binding(case, decision)
    allowed = can_bind_channel(officer, case, await members_of(case))
    if not allowed.allowed:
        raise AccessRefused(allowed.reason)
    held = await unit.case_by_channel(channel.channel_id)
    if held is not None and held.id != case.id:
        raise InvalidInput("channel", f"this channel already holds case {held.reference}")
    if case.channel is not None:
        raise InvalidInput("case", f"case {case.reference} is already bound to a channel")
    if not await unit.bind_channel(case.id, channel):
        raise InvalidInput("case", f"case {case.reference} was bound to a channel meanwhile")
    await unit.append_custody(
        CustodyEvent.by(officer, Action.CASE_BOUND, case.id, now, {"channel": channel.channel_id})
    )
    bound = await unit.case_by_id(case.id)
    return Binding(bound or case, decision)


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


MIN_REASON = 3
MAX_REASON = 500


def check_reason(text: str | None) -> str:
    """A reason someone gave (for a hold, or for consulting a case), held to its bounds."""
    reason = " ".join((text or "").split())
    if len(reason) < MIN_REASON:
        raise InvalidInput("reason", "give a reason after the case reference: reason <text>")
    if len(reason) > MAX_REASON:
        raise InvalidInput("reason", f"keep the reason within {MAX_REASON} characters")
    if any(not ch.isprintable() for ch in reason):
        raise InvalidInput("reason", "it contains control characters")
    return reason


async def check_consultation(
    unit: RecordsUnit,
    officer: Officer,
    case: Case,
    members_of: MembersOf,
    *,
    now: datetime,
    reason: str | None,
) -> Decision:
    """`check_visible`, and a reason from whoever consults a case they are not on.

    Without one the answer is a refusal that `asks_reason` (nothing recorded: nothing was
    shown); the caller asks for it and the view is then recorded with it.
    """
    decision = await check_visible(unit, officer, case, members_of, now=now)
    return await _with_reason(decision, officer, case, members_of, reason)


async def decide_consultation(
    officer: Officer, case: Case, members_of: MembersOf, *, reason: str | None
) -> Decision:
    """What `check_consultation` decides, recording nothing: for a read-only first look, after
    which a refusal is decided again, and recorded, by `check_consultation`."""
    decision = await _may_view(officer, case, members_of)
    return await _with_reason(decision, officer, case, members_of, reason)


async def _with_reason(
    decision: Decision, officer: Officer, case: Case, members_of: MembersOf, reason: str | None
) -> Decision:
    if (
        decision.allowed
        and reason is None
        and consultation_needs_reason(officer, case, await members_of(case))
    ):
        return Decision(False, "a reason is needed to consult this case", asks_reason=True)
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
    unit: RecordsUnit,
    officer: Officer,
    case: Case,
    *,
    now: datetime,
    view: str | None = None,
    reason: str | None = None,
) -> None:
    """`case.viewed` in the case's chain (`view` says what was looked at, if not the case).

    `reason`: why someone not on the case consulted it (DPA 2018 s.62).
    """
    await unit.append_custody(case_view_event(officer, case, now=now, view=view, reason=reason))


def case_view_event(
    officer: Officer,
    case: Case,
    *,
    now: datetime,
    view: str | None = None,
    reason: str | None = None,
) -> CustodyEvent:
    """The `case.viewed` entry `record_case_view` appends."""
    details = {"view": view} if view else {}
    if reason is not None:
        details["reason"] = reason
    return CustodyEvent.by(officer, Action.CASE_VIEWED, case.id, now, details)
