"""Share use cases over the records: request, decide (four eyes), revoke."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Set
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from evidence.custody import SYSTEM_ACTOR, Action, CustodyEvent
from evidence.errors import AccessRefused, Conflict, InvalidInput
from evidence.model import Case, Exhibit, ExhibitRef
from evidence.officers import Officer
from evidence.policy import (
    Decision,
    can_act_on_share,
    can_approve_flagged,
    can_reissue_link,
    can_request_share,
)
from evidence.records import Records, RecordsUnit
from evidence.refusals import record_refusal
from evidence.review import REVIEW_ACTIONS, Review, reviews_of
from evidence.shares import Share, ShareAction, ShareStatus
from evidence.sharing import (
    LinkToken,
    ShareRequest,
    link_expiry,
)

REQUEST_LIFETIME = timedelta(days=7)


async def exhibits_named(unit: RecordsUnit, case: Case, refs: tuple[str, ...]) -> list[Exhibit]:
    """The case's exhibits named `JS/1`, ...; `InvalidInput` for one it does not have."""
    found = []
    for text in refs:
        ref = ExhibitRef.parse(text)
        exhibit = await unit.exhibit_by_ref(case.id, ref.initials, ref.number)
        if exhibit is None:
            raise InvalidInput("exhibit reference", f"case {case.reference} has no exhibit {ref}")
        found.append(exhibit)
    if not found:
        raise InvalidInput("exhibit reference", "name at least one exhibit, like JS/1")
    return found


def request_key(officer: Officer, origin: str) -> str:
    """What makes one request once only: where it came from (`form:<id>` for a share form,
    `message:<conversation>:<activity>` for a typed command) and who sent it, hashed.

    The same form submitted twice, or a message Teams delivers again, gives the same key; the
    same form submitted by another member of the channel is their own request.
    """
    text = f"{officer.object_id.lower()}\n{origin}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ShareRequested:
    """What a request did: the share, and whether it is new (False: asked for already)."""

    share: Share
    new: bool


async def request_share(
    unit: RecordsUnit,
    officer: Officer,
    case: Case,
    members: Set[str],
    request: ShareRequest,
    *,
    share_id: str,
    now: datetime,
    requester_reference: str = "",
    key: str | None = None,
) -> ShareRequested:
    """Record a pending share request (refusals are raised; nothing is recorded for them).

    `requester_reference`: the conversation the request came from (JSON), which also names the
    requester's Teams account, so the link can reach them in a personal chat.
    `key` (`request_key`): a request already made with it is answered, not made again.
    """
    decision = can_request_share(officer, case, members)
    if not decision.allowed:
        raise AccessRefused(decision.reason)
    if key is not None and (earlier := await unit.share_by_request_key(key)) is not None:
        return ShareRequested(earlier, new=False)
    exhibits = await exhibits_named(unit, case, request.exhibit_refs)
    share = Share(
        id=share_id,
        case_id=case.id,
        exhibit_ids=tuple(e.id for e in exhibits),
        requested_by=officer.object_id,
        requested_by_name=officer.display_name,
        recipient=request.recipient,
        organisation_type=request.organisation_type,
        reason=request.reason,
        days=request.days,
        status=ShareStatus.PENDING,
        created_at=now,
        request_expires_at=now + REQUEST_LIFETIME,
        requester_reference=requester_reference,
        request_key=key,
        requester_email=officer.email,
        requester_phone=officer.phone,
    )
    if not await unit.add_share(share):
        # The same form or message, in a unit that committed between our read and our write.
        raise Conflict(f"share request {key} was made meanwhile")
    await unit.append_custody(
        CustodyEvent.by(
            officer,
            Action.SHARE_REQUESTED,
            case.id,
            now,
            {
                "share": share.id,
                "exhibits": [str(e.ref) for e in exhibits],
                "recipient": share.recipient,
                "organisation_type": share.organisation_type,
                "days": share.days,
                "reason": share.reason,
            },
        )
    )
    return ShareRequested(share, new=True)


@dataclass(frozen=True, slots=True)
class PolicyAnswer:
    """What `can_act_on_share` answered for one officer, team and action on `share` as read.

    Handed to `decide_share` so that a click is weighed once: the unit weighs it again only if
    the share it reads is no longer the one decided on.
    """

    share: Share
    decision: Decision


@dataclass(frozen=True, slots=True)
class ShareDecision:
    """What a decision attempt did: the share as it now stands, and the refusal, if any.

    `lost_race`: someone else changed the share between this attempt's read and its write;
    `refused` then says what they did, and nothing of this attempt was applied or recorded.
    """

    share: Share
    refused: str | None = None
    changed: bool = False
    lost_race: bool = False


async def decide_share(
    unit: RecordsUnit,
    officer: Officer,
    share_id: str,
    case: Case,
    members: Set[str],
    action: ShareAction,
    *,
    note: str | None,
    token: LinkToken | None,
    integrity_problem: str | None,
    now: datetime,
    decided: PolicyAnswer | None = None,
    flags_read: bool = False,
) -> ShareDecision:
    """Approve, reject or revoke, re-checking everything against the stored share.

    A repeat of a decision already taken by the same officer (a double click, a replay)
    answers with the share as it stands and records nothing. Every other refusal is recorded.
    `integrity_problem` (from re-verifying the exhibits) turns an approval into a rejection.
    `decided`: the policy's answer for this officer, team and action, worked out already (for
    a share as read before this unit); used if the stored share is still that one.
    `flags_read`: the approver ticked "I have read the flags" (needed if an exhibit is flagged).
    """
    share = await unit.share(share_id)
    if share is None:
        raise InvalidInput("share", f"there is no share {share_id}")
    if _is_repeat(share, officer, action):
        return ShareDecision(share)
    if decided is not None and decided.share == share:
        decision = decided.decision
    else:
        decision = can_act_on_share(officer, action, share, case, members, now)
    if not decision.allowed:
        await _record_refusal(unit, officer, case, share_id, action.value, decision.reason, now)
        return ShareDecision(share, decision.reason)
    if action is ShareAction.REJECT and not (note or "").strip():
        return ShareDecision(share, "a rejection needs a note saying why")
    if action is ShareAction.APPROVE:
        read = can_approve_flagged(await flagged_exhibits(unit, share), flags_read)
        if not read.allowed:
            return ShareDecision(share, read.reason)
    if action is ShareAction.APPROVE and integrity_problem:
        action, note = ShareAction.REJECT, f"blocked: {integrity_problem}"
    seen = share
    updated = _decided(share, officer, action, note, token, now)
    while not await unit.update_share(updated, expected=share):
        current = await unit.share(share_id) or share
        # A new link made meanwhile changes nothing about what a revocation stops.
        if not (action is ShareAction.REVOKE and current.status is ShareStatus.APPROVED):
            return ShareDecision(current, lost_race_reason(seen, current), lost_race=True)
        share = current
        updated = _decided(share, officer, action, note, token, now)
    await unit.append_custody(
        CustodyEvent.by(
            officer,
            _ACTIONS[action],
            case.id,
            now,
            {"share": share.id, "note": note, "recipient": share.recipient},
        )
    )
    return ShareDecision(updated, changed=True)


async def flagged_exhibits(unit: RecordsUnit, share: Share) -> list[str]:
    """The references of the share's exhibits that someone flagged, in the share's order."""
    entries = await unit.custody_about(share.case_id, list(share.exhibit_ids), REVIEW_ACTIONS)
    flagged = []
    for exhibit_id in share.exhibit_ids:
        if any(mark.review is Review.FLAGGED for mark in reviews_of(exhibit_id, entries)):
            exhibit = await unit.exhibit_by_id(exhibit_id)
            flagged.append(str(exhibit.ref) if exhibit else exhibit_id)
    return flagged


async def reissue_link(
    unit: RecordsUnit,
    officer: Officer,
    share_id: str,
    case: Case,
    members: Set[str],
    *,
    token: LinkToken,
    now: datetime,
) -> ShareDecision:
    """Give an approved share a new link token; the old link stops working at once.

    A refusal is recorded (`share.refused`) and returned, not raised, so that it is committed.
    """
    share = await unit.share(share_id)
    if share is None:
        raise InvalidInput("share", f"there is no share {share_id}")
    decision = can_reissue_link(officer, share, case, members, now)
    if not decision.allowed:
        await _record_refusal(unit, officer, case, share_id, "new link", decision.reason, now)
        return ShareDecision(share, decision.reason)
    updated = replace(share, token_sha256=token.sha256)
    if not await unit.update_share(updated, expected=share):
        return await _lost_race(unit, share)
    await unit.append_custody(
        CustodyEvent.by(
            officer,
            Action.SHARE_LINK_REISSUED,
            case.id,
            now,
            {
                "share": share.id,
                "recipient": share.recipient,
                "requested_by": officer.object_id,
            },
        )
    )
    return ShareDecision(updated, changed=True)


async def record_share_mail(
    unit: RecordsUnit,
    share: Share,
    *,
    sender: str,
    problem: str | None,
    now: datetime,
) -> None:
    """Record that Exhibit e-mailed a share's link to its recipient, or why it could not."""
    action = Action.SHARE_EMAIL_FAILED if problem else Action.SHARE_EMAILED
    details = {"recipient": share.recipient, "from": sender}
    await _record_system_event(unit, share, action, details, problem, now)


async def record_delivery(
    unit: RecordsUnit,
    share: Share,
    action: Action,
    *,
    via: str,
    problem: str | None,
    now: datetime,
) -> None:
    """Record where Exhibit told a share's requester of it: its link
    (`share.link_delivered`, never the link itself) or its rejection
    (`share.rejection_delivered`)."""
    if action not in {Action.SHARE_LINK_DELIVERED, Action.SHARE_REJECTION_DELIVERED}:
        raise ValueError(f"{action} is not a delivery")
    details = {"to": share.requested_by, "via": via}
    await _record_system_event(unit, share, action, details, problem, now)


async def _record_system_event(
    unit: RecordsUnit,
    share: Share,
    action: Action,
    details: Mapping[str, object],
    problem: str | None,
    now: datetime,
) -> None:
    """Something Exhibit itself did about a share, with the problem if it went wrong."""
    entry: dict[str, object] = {"share": share.id, **details}
    if problem is not None:
        entry["problem"] = problem
    await unit.append_custody(CustodyEvent.by(SYSTEM_ACTOR, action, share.case_id, now, entry))


async def expire_shares(records: Records, now: datetime) -> int:
    """Mark approved shares whose link has expired as EXPIRED, on the record; how many.

    Idempotent: a share already expired is not due again. Run it on a timer; links stop
    working at `link_expires_at` whether or not it has run (the link pages check the time).
    """
    async with records.unit() as unit:
        due = await unit.shares_due_to_expire(now)
        expired = 0
        for share in due:
            if not await unit.update_share(
                replace(share, status=ShareStatus.EXPIRED), expected=share
            ):
                continue  # revoked or given a new link meanwhile: not this sweep's to expire
            expired += 1
            await unit.append_custody(
                CustodyEvent.by(
                    SYSTEM_ACTOR,
                    Action.SHARE_EXPIRED,
                    share.case_id,
                    now,
                    {
                        "share": share.id,
                        "recipient": share.recipient,
                        "link_expires_at": _iso(share.link_expires_at),
                        "downloads": share.downloads,
                    },
                )
            )
    return expired


async def _lost_race(unit: RecordsUnit, seen: Share) -> ShareDecision:
    """The answer to an attempt whose share changed after it was read: what happened instead."""
    current = await unit.share(seen.id) or seen
    return ShareDecision(current, lost_race_reason(seen, current), lost_race=True)


def lost_race_reason(seen: Share, current: Share) -> str:
    """What someone else did to a share (read as `seen`) a moment ago, in words for the loser."""
    who = current.decided_by_name or "another officer"
    if current.status is ShareStatus.APPROVED:
        if seen.status is ShareStatus.APPROVED:
            return "a new link was made for this share meanwhile"
        return f"{who} approved this share a moment ago"
    if current.status is ShareStatus.REJECTED:
        return f"{who} rejected this share a moment ago"
    if current.status is ShareStatus.REVOKED:
        return f"{current.revoked_by_name or 'another officer'} revoked this share a moment ago"
    if current.status is ShareStatus.EXPIRED:
        return "this share expired meanwhile"
    return "this share changed meanwhile"


async def record_share_refusal(
    unit: RecordsUnit,
    officer: Officer,
    case: Case,
    share_id: str,
    attempt: str,
    reason: str,
    now: datetime,
) -> None:
    """Record a refused attempt on a share (`share.refused` on the case's chain)."""
    await _record_refusal(unit, officer, case, share_id, attempt, reason, now)


async def _record_refusal(
    unit: RecordsUnit,
    officer: Officer,
    case: Case,
    share_id: str,
    attempt: str,
    reason: str,
    now: datetime,
) -> None:
    # Counted always, listed within the per-officer window: a refused button cannot flood
    # the chain (evidence/refusals.py).
    await record_refusal(
        unit,
        officer,
        case.id,
        Action.SHARE_REFUSED,
        {"share": share_id, "attempt": attempt, "reason": reason},
        now,
    )


_ACTIONS = {
    ShareAction.APPROVE: Action.SHARE_APPROVED,
    ShareAction.REJECT: Action.SHARE_REJECTED,
    ShareAction.REVOKE: Action.SHARE_REVOKED,
}
_RESULT = {
    ShareAction.APPROVE: ShareStatus.APPROVED,
    ShareAction.REJECT: ShareStatus.REJECTED,
    ShareAction.REVOKE: ShareStatus.REVOKED,
}


def _is_repeat(share: Share, officer: Officer, action: ShareAction) -> bool:
    if action is ShareAction.REVOKE:
        revoker = (share.revoked_by or "").lower()
        return share.status is ShareStatus.REVOKED and revoker == officer.object_id.lower()
    same_person = (share.decided_by or "").lower() == officer.object_id.lower()
    return same_person and share.status is _RESULT[action]


def _decided(
    share: Share,
    officer: Officer,
    action: ShareAction,
    note: str | None,
    token: LinkToken | None,
    now: datetime,
) -> Share:
    if action is ShareAction.APPROVE:
        if token is None:
            raise ValueError("an approval needs a link token")
        return replace(
            share,
            status=ShareStatus.APPROVED,
            decided_by=officer.object_id,
            decided_by_name=officer.display_name,
            decided_at=now,
            decision_reason=note or None,
            token_sha256=token.sha256,
            link_expires_at=link_expiry(share, now),
        )
    if action is ShareAction.REVOKE:
        # A fact of its own: who approved it (and when) stays on the share.
        return replace(
            share,
            status=ShareStatus.REVOKED,
            revoked_by=officer.object_id,
            revoked_by_name=officer.display_name,
            revoked_at=now,
            revocation_reason=(note or "").strip() or None,
        )
    return replace(
        share,
        status=_RESULT[action],
        decided_by=officer.object_id,
        decided_by_name=officer.display_name,
        decided_at=now,
        decision_reason=(note or "").strip() or None,
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
