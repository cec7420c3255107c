"""What a share's link shows when it is used, and the custody events each use leaves.

The link site asks these functions and only maps the answer to a status and a page:

- `open_link` for the landing page: records `link.opened`, or `link.refused` with the reason;
- `check_download` then `take_download` for a download: the first checks the link and the
  exhibit, the second (after the caller has signed the URL, outside any transaction) counts the
  download atomically and records `exhibit.downloaded`, or `link.refused` when the count was
  lost to a concurrent click, a revocation or the expiry.

A token no share has leaves no record: there is no case to record it against. `visit` is what
the caller knows of the request (address, user agent...), recorded as given on every event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from evidence.custody import Action, CustodyEvent
from evidence.model import Case, Exhibit
from evidence.records import RecordsUnit
from evidence.shares import Share, ShareStatus
from evidence.sharing import recipient_actor


class LinkState(StrEnum):
    """What a link shows; the value of a refused one is the reason its refusal records."""

    ACTIVE = "valid"
    UNKNOWN = "unknown"  # no share has this token
    EXPIRED = "expired"
    REVOKED = "revoked"
    EXHAUSTED = "exhausted"
    NOT_APPROVED = "not approved"
    NO_SUCH_EXHIBIT = "no such exhibit in the share"
    EXHIBIT_NOT_FOUND = "exhibit not found"
    UNAVAILABLE = "unavailable"  # the case is gone, or the download could not be counted


def link_state(share: Share, now: datetime) -> LinkState:
    """Whether `share`'s link works at `now` (ACTIVE), or why not."""
    if share.status is ShareStatus.REVOKED:
        return LinkState.REVOKED
    if share.status is not ShareStatus.APPROVED:
        if share.status is ShareStatus.EXPIRED:
            return LinkState.EXPIRED
        return LinkState.NOT_APPROVED
    if share.link_expires_at is not None and now >= share.link_expires_at:
        return LinkState.EXPIRED
    if share.max_downloads is not None and share.downloads >= share.max_downloads:
        return LinkState.EXHAUSTED
    return LinkState.ACTIVE


@dataclass(frozen=True, slots=True)
class LinkView:
    """What the landing page shows: the share, its case and exhibits when the link works."""

    state: LinkState
    share: Share | None = None
    case: Case | None = None
    exhibits: Sequence[tuple[int, Exhibit]] = ()  # with each one's 1-based place in the share


@dataclass(frozen=True, slots=True)
class DownloadCheck:
    """The answer to a download request before it is counted: the exhibit, if it may be given."""

    state: LinkState
    share: Share | None = None
    exhibit: Exhibit | None = None


async def open_link(
    unit: RecordsUnit, token_sha256: str, now: datetime, visit: Mapping[str, Any]
) -> LinkView:
    """Open the link whose token hashes to `token_sha256`, on the record."""
    share = await unit.share_by_token(token_sha256)
    if share is None:
        return LinkView(LinkState.UNKNOWN)
    case = await unit.case_by_id(share.case_id)
    state = link_state(share, now)
    if state is not LinkState.ACTIVE:
        await _refuse(unit, share, now, visit, state)
        return LinkView(state, share, case)
    exhibits = await _exhibits(unit, share)
    await unit.append_custody(
        _event(share, Action.LINK_OPENED, now, {**visit, "state": state.value})
    )
    if case is None:
        return LinkView(LinkState.UNAVAILABLE, share)
    return LinkView(state, share, case, exhibits)


async def check_download(
    unit: RecordsUnit, token_sha256: str, n: int, now: datetime, visit: Mapping[str, Any]
) -> DownloadCheck:
    """Whether exhibit `n` (1-based) of the link's share may be downloaded; refusals recorded."""
    share = await unit.share_by_token(token_sha256)
    if share is None:
        return DownloadCheck(LinkState.UNKNOWN)
    if not 1 <= n <= len(share.exhibit_ids):
        await _refuse(unit, share, now, visit, LinkState.NO_SUCH_EXHIBIT)
        return DownloadCheck(LinkState.NO_SUCH_EXHIBIT, share)
    state = link_state(share, now)
    exhibit = await unit.exhibit_by_id(share.exhibit_ids[n - 1])
    if (exhibit is None or exhibit.case_id != share.case_id) and state is LinkState.ACTIVE:
        state = LinkState.EXHIBIT_NOT_FOUND
    if state is not LinkState.ACTIVE:
        await _refuse(unit, share, now, visit, state)
        return DownloadCheck(state, share)
    return DownloadCheck(state, share, exhibit)


async def take_download(
    unit: RecordsUnit,
    share: Share,
    exhibit: Exhibit,
    now: datetime,
    visit: Mapping[str, Any],
    *,
    url_expires_at: datetime,
) -> LinkState:
    """Count one download of `exhibit`, on the record; ACTIVE if counted, else why not."""
    taken = await unit.take_download(share.id, now)
    if taken is None:
        current = await unit.share(share.id) or share
        state = link_state(current, now)
        if state is LinkState.ACTIVE:
            state = LinkState.UNAVAILABLE
        await _refuse(unit, current, now, visit, state)
        return state
    details = {
        **visit,
        "exhibit": str(exhibit.ref),
        "sha256": exhibit.sha256,
        "downloads": taken.downloads,
        "max_downloads": taken.max_downloads,
        "sas_expires_at": url_expires_at.isoformat(),
    }
    await unit.append_custody(_event(taken, Action.EXHIBIT_DOWNLOADED, now, details, exhibit.id))
    return LinkState.ACTIVE


async def _exhibits(unit: RecordsUnit, share: Share) -> tuple[tuple[int, Exhibit], ...]:
    found = []
    for n, exhibit_id in enumerate(share.exhibit_ids, start=1):
        exhibit = await unit.exhibit_by_id(exhibit_id)
        if exhibit is not None and exhibit.case_id == share.case_id:
            found.append((n, exhibit))
    return tuple(found)


async def _refuse(
    unit: RecordsUnit, share: Share, now: datetime, visit: Mapping[str, Any], state: LinkState
) -> None:
    details = {**visit, "reason": state.value}
    await unit.append_custody(_event(share, Action.LINK_REFUSED, now, details))


def _event(
    share: Share,
    action: Action,
    now: datetime,
    details: Mapping[str, Any],
    exhibit_id: str | None = None,
) -> CustodyEvent:
    return CustodyEvent.by(
        recipient_actor(share),
        action,
        share.case_id,
        now,
        {"share": share.id, **details},
        exhibit_id=exhibit_id,
    )
