"""`custody`: an exhibit's chain of custody, with the case chain verified; and its buttons,
earlier entries and who viewed the exhibit."""

from __future__ import annotations

from collections.abc import Set
from typing import TYPE_CHECKING, Any

from bot.commands.case import consultation_words
from bot.commands.evidence import found_exhibit
from bot.services import Services, Turn
from cards.custody import CUSTODY_VIEWS, build_custody_card, build_custody_views_card
from evidence.cases import check_consultation
from evidence.errors import CaseNotFound
from evidence.exhibits import CustodyView, read_custody
from evidence.model import Case, Exhibit
from evidence.officers import Officer
from evidence.records import RecordsUnit, run_unit

if TYPE_CHECKING:
    from microsoft_teams.cards import AdaptiveCard


async def custody(turn: Turn) -> AdaptiveCard:
    """The exhibit's chain of custody, with the case chain verified."""
    services = turn.services
    case, exhibit = await found_exhibit(turn)
    _, reason = consultation_words(turn)
    anchors = await services.anchoring.anchors(case)  # before the chain: see `anchors`
    now = services.now()

    async def work(unit: RecordsUnit) -> CustodyView:
        return await read_custody(
            unit, turn.officer, case, exhibit, anchors, now=now, reason=reason
        )

    return build_custody_card(await run_unit(services.records, work))


async def on_custody_action(
    services: Services, officer: Officer, verb: str, data: dict[str, Any]
) -> AdaptiveCard:
    """`Earlier entries` and `Who viewed it` on a custody card, checked like a typed `custody`.

    Raises `CaseNotFound` for an unknown exhibit and for a case the officer may not see (the
    refusal then recorded), or may see only with a reason the click does not carry.
    """
    exhibit_id = str(data.get("exhibitId") or "")[:64]
    reason = str(data.get("reason") or "").strip()[:500] or None
    before_text = str(data.get("before") or "")
    before = int(before_text) if before_text.isdigit() and len(before_text) < 16 else None

    async def load(unit: RecordsUnit) -> tuple[Case, Exhibit]:
        exhibit = await unit.exhibit_by_id(exhibit_id) if exhibit_id else None
        case = await unit.case_by_id(exhibit.case_id) if exhibit else None
        if exhibit is None or case is None:
            raise CaseNotFound(None)
        return case, exhibit

    case, exhibit = await run_unit(services.records, load)
    members = await services.case_teams.members(case)

    async def team(_case: Case) -> Set[str]:
        return members

    anchors = await services.anchoring.anchors(case)
    now = services.now()

    async def work(unit: RecordsUnit) -> CustodyView | None:
        decision = await check_consultation(unit, officer, case, team, now=now, reason=reason)
        if not decision.allowed:
            return None
        return await read_custody(
            unit, officer, case, exhibit, anchors, now=now, reason=reason, before=before
        )

    view = await run_unit(services.records, work)
    if view is None:
        raise CaseNotFound(None)
    if verb == CUSTODY_VIEWS:
        return build_custody_views_card(view)
    return build_custody_card(view)
