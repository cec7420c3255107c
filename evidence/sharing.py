"""Sharing evidence outside the force: request, four-eyes decision, expiring revocable links.

A share request names exhibits of one case, an external recipient and a reason. Someone else —
an approver on the case — approves or rejects it. On approval the exhibits are re-verified,
then a link token is made; only its SHA-256 is stored. Every decision, refusal, open and
download is recorded in the case's chain of custody.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence, Set
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from evidence.custody import SYSTEM_ACTOR, Action, Actor, CustodyEvent
from evidence.errors import InvalidInput
from evidence.model import Case
from evidence.officers import Officer, Role
from evidence.policy import ALLOWED, Decision, is_on_case_team, refused

if TYPE_CHECKING:  # evidence.records imports this module
    from evidence.records import Records

TOKEN_BYTES = 32  # 256 bits
EMAIL = re.compile(
    r"^[A-Za-z0-9._%+'-]{1,64}@(?P<domain>[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+)$"
)


class ShareStatus(StrEnum):
    """Where a share is in its life."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"
    EXPIRED = "expired"


class ShareAction(StrEnum):
    """What an officer may try to do with a share."""

    APPROVE = "approve"
    REJECT = "reject"
    REVOKE = "revoke"


@dataclass(frozen=True, slots=True)
class ShareRules:
    """The force's settings for external sharing."""

    allowed_domains: frozenset[str]
    organisation_types: tuple[str, ...]
    min_days: int
    max_days: int
    default_days: int


@dataclass(frozen=True, slots=True)
class ShareRequest:
    """`share JS/1,JS/2 with a@cps.gov.uk for 14d reason ...`, read and checked."""

    exhibit_refs: tuple[str, ...]
    recipient: str
    days: int
    reason: str
    organisation_type: str


@dataclass(frozen=True, slots=True)
class Share:
    """A share of exhibits with one external recipient."""

    id: str
    case_id: str
    exhibit_ids: tuple[str, ...]
    requested_by: str
    requested_by_name: str
    recipient: str
    organisation_type: str
    reason: str
    days: int
    status: ShareStatus
    created_at: datetime
    request_expires_at: datetime
    decided_by: str | None = None
    decided_by_name: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    token_sha256: str | None = None
    link_expires_at: datetime | None = None
    max_downloads: int | None = None
    downloads: int = 0
    # Where to tell the requester (their conversation) and the approval card's activity id.
    requester_reference: str = ""
    approval_activity_id: str | None = None


def read_share_request(words: Sequence[str], rules: ShareRules) -> ShareRequest:
    """Check the words after `share`; raise `InvalidInput` naming what is wrong."""
    lowered = [w.lower() for w in words]
    if "with" not in lowered or lowered.index("with") == 0:
        raise InvalidInput("share", "type `share JS/1[,JS/2] with name@cps.gov.uk reason ...`")
    at = lowered.index("with")
    refs = tuple(r.strip().upper() for r in " ".join(words[:at]).split(",") if r.strip())
    rest = list(words[at + 1 :])
    if not rest:
        raise InvalidInput("recipient", "name the recipient's email address after `with`")
    recipient = rest.pop(0).strip().lower()
    match = EMAIL.match(recipient)
    if match is None:
        raise InvalidInput("recipient", f"{recipient!r} is not an email address")
    domain = match["domain"].lower()
    if not any(domain == d or domain.endswith("." + d) for d in rules.allowed_domains):
        raise InvalidInput(
            "recipient", f"{domain} is not on the list of organisations Exhibit may share with"
        )
    days = rules.default_days
    if len(rest) >= 2 and rest[0].lower() == "for":
        days = _days(rest[1], rules)
        rest = rest[2:]
    organisation = rules.organisation_types[0] if rules.organisation_types else "other"
    if len(rest) >= 2 and rest[0].lower() == "as":
        organisation = rest[1].lower()
        if organisation not in rules.organisation_types:
            raise InvalidInput(
                "organisation type", f"use one of {', '.join(rules.organisation_types)}"
            )
        rest = rest[2:]
    if not rest or rest[0].lower() != "reason" or len(rest) < 2:
        raise InvalidInput("reason", "give a reason: `... reason disclosure to CPS for trial`")
    reason = " ".join(rest[1:]).strip()
    if len(reason) > 500:
        raise InvalidInput("reason", "keep it within 500 characters")
    return ShareRequest(refs, recipient, days, reason, organisation)


def _days(text: str, rules: ShareRules) -> int:
    value = text.lower().removesuffix("d").removesuffix("days").removesuffix("day")
    if not value.isdigit():
        raise InvalidInput("expiry", f"{text!r} is not a number of days like 14d")
    days = int(value)
    if not rules.min_days <= days <= rules.max_days:
        raise InvalidInput("expiry", f"a link may last {rules.min_days} to {rules.max_days} days")
    return days


def can_request_share(officer: Officer, case: Case, members: Set[str]) -> Decision:
    """Officers on the case team request shares."""
    if not officer.enabled:
        return refused("your account is disabled")
    if not (officer.has(Role.OFFICER) or officer.has(Role.APPROVER)):
        return refused("only officers can request shares")
    if not is_on_case_team(officer, case, members):
        return refused(f"you are not on the team of case {case.reference}")
    return ALLOWED


def can_act_on_share(
    officer: Officer,
    action: ShareAction,
    share: Share,
    case: Case,
    members: Set[str],
    now: datetime,
) -> Decision:
    """The four-eyes rule and its neighbours, in one place (tested as a table)."""
    if not officer.enabled:
        return refused("your account is disabled")
    if share.case_id != case.id:
        return refused("that share belongs to another case")
    if action is ShareAction.REVOKE:
        if share.status is not ShareStatus.APPROVED:
            return refused(f"the share is {share.status.value}, not active")
        if officer.has(Role.ADMIN):
            return ALLOWED
        if officer.object_id.lower() == share.requested_by.lower():
            return ALLOWED
        if officer.has(Role.APPROVER) and is_on_case_team(officer, case, members):
            return ALLOWED
        return refused("only the requester, an approver of the case or an admin can revoke")
    if not officer.has(Role.APPROVER):
        return refused("only approvers can decide share requests")
    if not is_on_case_team(officer, case, members):
        return refused(f"you are not on the team of case {case.reference}")
    if officer.object_id.lower() == share.requested_by.lower():
        return refused("nobody may decide their own share request (four eyes)")
    if share.status is not ShareStatus.PENDING:
        return refused(f"the request was already {share.status.value}")
    if now >= share.request_expires_at:
        return refused("the request has expired")
    return ALLOWED


def can_reissue_link(
    officer: Officer, share: Share, case: Case, members: Set[str], now: datetime
) -> Decision:
    """Whether the officer may have a new link for an approved share (the old one then stops).

    Only the requester — the person the link reaches the recipient through — and only while
    they are still on the case team and the share is active. What is shared, with whom and
    until when stay as approved, so a new link needs no second approval.
    """
    if not officer.enabled:
        return refused("your account is disabled")
    if share.case_id != case.id:
        return refused("that share belongs to another case")
    if share.status is not ShareStatus.APPROVED:
        return refused(f"the share is {share.status.value}, not active")
    if share.link_expires_at is not None and now >= share.link_expires_at:
        return refused("the share has expired")
    if officer.object_id.lower() != share.requested_by.lower():
        return refused("only the officer who asked for the share can have its link again")
    if not is_on_case_team(officer, case, members):
        return refused(f"you are not on the team of case {case.reference}")
    return ALLOWED


@dataclass(frozen=True, slots=True)
class LinkToken:
    """A new link token: the secret for the recipient, and the hash that is stored."""

    secret: str
    sha256: str


def new_link_token() -> LinkToken:
    """A random URL-safe token of 256 bits, and its SHA-256."""
    secret = secrets.token_urlsafe(TOKEN_BYTES)
    return LinkToken(secret, token_hash(secret))


def token_hash(secret: str) -> str:
    """What is stored for a token, and what a presented token is looked up by."""
    return hashlib.sha256(secret.encode("ascii", "replace")).hexdigest()


def link_expiry(share: Share, approved_at: datetime) -> datetime:
    """When an approved share's link stops working."""
    return approved_at + timedelta(days=share.days)


def recipient_actor(share: Share) -> Actor:
    """Who acts when a link is used: the external recipient, named by the share."""
    return Actor(f"external:{share.id}", share.recipient)


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
                CustodyEvent(
                    chain=share.case_id,
                    actor=SYSTEM_ACTOR,
                    action=Action.SHARE_EXPIRED,
                    at=now,
                    case_id=share.case_id,
                    details={
                        "share": share.id,
                        "recipient": share.recipient,
                        "link_expires_at": _iso(share.link_expires_at),
                        "downloads": share.downloads,
                    },
                )
            )
    return expired


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
