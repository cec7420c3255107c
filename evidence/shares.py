"""A share: exhibits of one case for one external recipient, and where it is in its life."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


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
    # The approval or rejection: who decided, when, and their note. Kept when it is revoked.
    decided_by: str | None = None
    decided_by_name: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    # The revocation, a fact of its own: who stopped the link, when and why.
    revoked_by: str | None = None
    revoked_by_name: str | None = None
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    token_sha256: str | None = None
    link_expires_at: datetime | None = None
    max_downloads: int | None = None
    downloads: int = 0
    # Where to tell the requester (their conversation) and the approval card's activity id.
    requester_reference: str = ""
    approval_activity_id: str | None = None
    # What makes a request once only: the share form's id, or the message's, hashed with who
    # sent it (`evidence.share_cases.request_key`). Unique; None for requests made before.
    request_key: str | None = None
    # How the recipient reaches the requesting officer, as the directory had it at the request.
    requester_email: str = ""
    requester_phone: str = ""
