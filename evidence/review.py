"""Review of exhibits by the case team: `Mark reviewed` and `Flag` (with a comment)."""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from evidence.custody import Action, CustodyEntry, CustodyEvent
from evidence.model import Case, Exhibit
from evidence.officers import Officer
from evidence.policy import Decision, can_review, refused
from evidence.records import RecordsUnit
from evidence.refusals import record_refusal


class Review(StrEnum):
    """What a reviewer says of an exhibit."""

    REVIEWED = "reviewed"
    FLAGGED = "flagged"


_ACTIONS = {Review.REVIEWED: Action.EXHIBIT_REVIEWED, Review.FLAGGED: Action.EXHIBIT_FLAGGED}
REVIEW_ACTIONS: tuple[str, ...] = tuple(_ACTIONS.values())  # what `reviews_of` reads


@dataclass(frozen=True, slots=True)
class ReviewMark:
    """One review of an exhibit, as recorded."""

    review: Review
    by: str
    at: datetime
    comment: str | None


def reviews_of(exhibit_id: str, entries: Iterable[CustodyEntry]) -> list[ReviewMark]:
    """The reviews of an exhibit, oldest first, read from its case's chain of custody."""
    marks = []
    for entry in entries:
        if entry.exhibit_id != exhibit_id:
            continue
        for review, action in _ACTIONS.items():
            if entry.action == action:
                comment = entry.details.get("comment")
                marks.append(
                    ReviewMark(
                        review, entry.actor_name, entry.at, str(comment) if comment else None
                    )
                )
    return marks


async def review_exhibit(
    unit: RecordsUnit,
    officer: Officer,
    case: Case,
    exhibit: Exhibit,
    members: Set[str],
    review: Review,
    *,
    comment: str | None,
    now: datetime,
) -> Decision:
    """Record a review (or the refusal to accept it); a flag needs a comment."""
    decision = can_review(officer, case, exhibit, members)
    if decision.allowed and review is Review.FLAGGED and not (comment or "").strip():
        return refused("a flag needs a comment saying what is wrong")
    if not decision.allowed:
        details = {"attempt": review.value, "reason": decision.reason}
        await record_refusal(
            unit, officer, case.id, Action.ACCESS_REFUSED, details, now, exhibit_id=exhibit.id
        )
        return decision
    details = {"comment": comment.strip()} if comment and comment.strip() else {}
    await unit.append_custody(
        CustodyEvent.by(officer, _ACTIONS[review], case.id, now, details, exhibit_id=exhibit.id)
    )
    return decision
