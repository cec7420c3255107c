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
from dataclasses import dataclass
from datetime import datetime, timedelta

from evidence.custody import Actor
from evidence.errors import InvalidInput
from evidence.shares import Share

TOKEN_BYTES = 32  # 256 bits
EMAIL = re.compile(
    r"^[A-Za-z0-9._%+'-]{1,64}@(?P<domain>[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+)$"
)


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
class ShareDraft:
    """A share request as the officer typed it or filled in the form, before the rules apply.

    `days` and `organisation_type` None: not given (the force's defaults apply).
    """

    exhibit_refs: tuple[str, ...]
    recipient: str
    reason: str
    days: int | None = None
    organisation_type: str | None = None


def check_share_request(draft: ShareDraft, rules: ShareRules) -> ShareRequest:
    """Hold a draft to the force's rules; raise `InvalidInput` naming what is wrong."""
    recipient = draft.recipient.strip().lower()
    if not recipient:
        raise InvalidInput("recipient", "name the recipient's email address after `with`")
    match = EMAIL.match(recipient)
    if match is None:
        raise InvalidInput("recipient", f"{recipient!r} is not an email address")
    domain = match["domain"].lower()
    if not any(domain == d or domain.endswith("." + d) for d in rules.allowed_domains):
        raise InvalidInput(
            "recipient", f"{domain} is not on the list of organisations Exhibit may share with"
        )
    days = rules.default_days if draft.days is None else draft.days
    if draft.days is not None and not rules.min_days <= days <= rules.max_days:
        raise InvalidInput("expiry", f"a link may last {rules.min_days} to {rules.max_days} days")
    organisation = rules.organisation_types[0] if rules.organisation_types else "other"
    if draft.organisation_type is not None:
        organisation = draft.organisation_type.lower()
        if organisation not in rules.organisation_types:
            raise InvalidInput(
                "organisation type", f"use one of {', '.join(rules.organisation_types)}"
            )
    reason = draft.reason.strip()
    if not reason:
        raise InvalidInput("reason", "give a reason: `... reason disclosure to CPS for trial`")
    if len(reason) > 500:
        raise InvalidInput("reason", "keep it within 500 characters")
    return ShareRequest(draft.exhibit_refs, recipient, days, reason, organisation)


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
