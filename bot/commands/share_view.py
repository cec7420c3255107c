"""A share as an officer may see it: loaded, checked against its case team, refusals recorded."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from microsoft_agents.hosting.core import TurnContext

from bot import wording
from bot.services import Services
from cards.sharing import build_approval_card
from evidence.errors import InvalidInput
from evidence.model import Case, Exhibit
from evidence.officers import Officer
from evidence.policy import can_view_case
from evidence.records import RecordsUnit, run_unit
from evidence.review import REVIEW_ACTIONS, ReviewMark, reviews_of
from evidence.share_cases import (
    record_share_refusal,
)
from evidence.shares import Share

if TYPE_CHECKING:
    from microsoft_teams.cards import AdaptiveCard

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Seen:
    """A share, its case and exhibits, as read for an officer allowed to see that case, and the
    case team that was checked against."""

    share: Share
    case: Case
    exhibits: list[Exhibit]
    members: frozenset[str]

    @property
    def loaded(self) -> LoadedShare:
        """The share, case and exhibits as one tuple."""
        return self.share, self.case, self.exhibits


async def visible_share(
    services: Services,
    officer: Officer,
    share_id: str,
    attempt: str,
    *,
    context: TurnContext | None = None,
    fresh: bool = True,
) -> Seen | None:
    """The share if the officer may see its case; None if unknown or not theirs to see.

    Checked before any card is built: someone off the case learns nothing of it, not even that
    it exists. An attempt on an existing share of a case they may not see is recorded.
    `fresh`: the case team asked now (for decisions), not as cached.
    """
    loaded = await run_unit(services.records, lambda unit: _find(unit, share_id))
    if loaded is None:
        return None
    share, case, exhibits = loaded
    members = await services.case_teams.members(case, context, fresh=fresh)
    decision = can_view_case(officer, case, members)
    if decision.allowed:
        return Seen(share, case, exhibits, members)
    now = services.now()
    await run_unit(
        services.records,
        lambda unit: record_share_refusal(
            unit, officer, case, share.id, attempt, decision.reason, now
        ),
    )
    logger.info(
        "Share %s: %s refused to %s (not on the case)", share.id, attempt, officer.object_id
    )
    return None


async def as_of_now(
    services: Services, officer: Officer, case: Case, context: TurnContext | None = None
) -> tuple[Officer, frozenset[str]]:
    """The officer as the directory has them now and the case team now, past every cache.

    A decision must not rest on a role or a channel membership removed a moment ago. Someone
    the directory no longer knows is treated as disabled, so the policy refuses and it is
    recorded.
    """
    members = await services.case_teams.members(case, context, fresh=True)
    return await officer_now(services, officer), members


async def officer_now(services: Services, officer: Officer) -> Officer:
    """The officer as the directory has them now (disabled, if it no longer knows them)."""
    current = await services.directory.officer(officer.object_id, fresh=True)
    return current or replace(officer, enabled=False, roles=frozenset())


async def share_exhibits(unit: RecordsUnit, found: Share) -> list[Exhibit]:
    exhibits = []
    for exhibit_id in found.exhibit_ids:
        exhibit = await unit.exhibit_by_id(exhibit_id)
        if exhibit is not None:
            exhibits.append(exhibit)
    return exhibits


async def share_reviews(unit: RecordsUnit, found: Share) -> dict[str, list[ReviewMark]]:
    """The review marks of the share's exhibits, by exhibit id."""
    ids = list(found.exhibit_ids)
    chain = await unit.custody_about(found.case_id, ids, REVIEW_ACTIONS)
    return {exhibit_id: reviews_of(exhibit_id, chain) for exhibit_id in ids}


async def approval_card(
    services: Services,
    found: Share,
    case_reference: str,
    exhibits: Sequence[Exhibit],
    *,
    approvers: Sequence[str] = (),
    with_buttons: bool = True,
    notice: str | None = None,
) -> AdaptiveCard:
    """The approval card with the exhibits' reviews as they stand now."""
    reviews = await run_unit(services.records, lambda unit: share_reviews(unit, found))
    return build_approval_card(
        found,
        case_reference,
        exhibits,
        reviews=reviews,
        approvers=approvers,
        with_buttons=with_buttons,
        notice=notice,
    )


LoadedShare = tuple[Share, Case, list[Exhibit]]  # a share, its case and its exhibits, as read


async def _find(unit: RecordsUnit, share_id: str) -> LoadedShare | None:
    """A share, its case and its exhibits; None for an unknown (or forged) id."""
    found = await unit.share(share_id)
    case = await unit.case_by_id(found.case_id) if found else None
    if found is None or case is None:
        return None
    return found, case, await share_exhibits(unit, found)


async def load_share(unit: RecordsUnit, share_id: str) -> LoadedShare:
    """As `_find`, for a share known to exist; `InvalidInput` if it has gone meanwhile."""
    found = await _find(unit, share_id)
    if found is None:
        raise InvalidInput("share", wording.no_share_text(share_id))
    return found
