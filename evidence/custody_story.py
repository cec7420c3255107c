"""What one exhibit's chain of custody tells: its own entries, the shares that include it, and
how often it was looked at.

The case's chain holds everything about the case; an exhibit's story is its intake (recorded
before the exhibit had an id, so found by the intake job), the entries about it (verifications,
reviews, downloads, refusals), and the life of every share that includes it (requested,
approved, rejected, revoked, expired, its link sent or renewed). Views (`exhibit.viewed`,
`custody.viewed`) are kept apart: every `custody` adds one, and listed they would bury the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from evidence.custody import Action, CustodyEntry
from evidence.model import Exhibit

PAGE_SIZE = 15

VIEW_ACTIONS = frozenset({Action.EXHIBIT_VIEWED.value, Action.CUSTODY_VIEWED.value})
SHARE_ACTIONS = frozenset(
    action.value
    for action in (
        Action.SHARE_REQUESTED,
        Action.SHARE_APPROVED,
        Action.SHARE_REJECTED,
        Action.SHARE_REVOKED,
        Action.SHARE_EXPIRED,
        Action.SHARE_LINK_DELIVERED,
        Action.SHARE_LINK_REISSUED,
    )
)


@dataclass(frozen=True, slots=True)
class SharedWith:
    """Whom a share was for, as its request recorded it."""

    recipient: str
    organisation_type: str


@dataclass(frozen=True, slots=True)
class ExhibitStory:
    """An exhibit's entries oldest first, its views, and the shares that include it."""

    entries: list[CustodyEntry]
    views: list[CustodyEntry]
    shares: Mapping[str, SharedWith] = field(default_factory=dict)


def exhibit_story(chain: Sequence[CustodyEntry], exhibit: Exhibit) -> ExhibitStory:
    """Pick the exhibit's story out of its case's chain (oldest first)."""
    shares: dict[str, SharedWith] = {}
    for entry in chain:
        if entry.action == Action.SHARE_REQUESTED and str(exhibit.ref) in _listed(entry):
            shares[str(entry.details.get("share"))] = SharedWith(
                str(entry.details.get("recipient") or ""),
                str(entry.details.get("organisation_type") or ""),
            )
    entries: list[CustodyEntry] = []
    views: list[CustodyEntry] = []
    for entry in chain:
        if entry.exhibit_id == exhibit.id:
            (views if entry.action in VIEW_ACTIONS else entries).append(entry)
        elif _intake_of(entry, exhibit) or _share_of(entry, shares):
            entries.append(entry)
    return ExhibitStory(entries, views, shares)


@dataclass(frozen=True, slots=True)
class Page:
    """The entries shown, and how many come before them."""

    entries: list[CustodyEntry]
    earlier: int


def page_before(entries: Sequence[CustodyEntry], before: int | None, size: int = PAGE_SIZE) -> Page:
    """The newest `size` entries whose sequence is under `before` (all, without it)."""
    older = [e for e in entries if before is None or e.sequence < before]
    shown = older[-size:] if size > 0 else []
    return Page(shown, len(older) - len(shown))


def _intake_of(entry: CustodyEntry, exhibit: Exhibit) -> bool:
    # Intake is recorded before the exhibit exists, under its job's id (also the exhibit's).
    return entry.exhibit_id is None and entry.details.get("job") == exhibit.id


def _share_of(entry: CustodyEntry, shares: Mapping[str, SharedWith]) -> bool:
    return entry.action in SHARE_ACTIONS and str(entry.details.get("share")) in shares


def _listed(entry: CustodyEntry) -> list[str]:
    exhibits = entry.details.get("exhibits")
    return [str(ref) for ref in exhibits] if isinstance(exhibits, list) else []
