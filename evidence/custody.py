"""The chain of custody: an append-only ledger whose entries each carry the previous one's hash.

Each case has its own chain (`chain` = the case id); events that belong to no case (a refused
attempt on an unknown case, say) go on the `system` chain. An entry's hash is SHA-256 over a
canonical JSON encoding of every field but the hash itself, so editing, deleting or reordering
any entry in the database breaks the chain at a place `verify_chain` names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from evidence.officers import Officer

GENESIS = "0" * 64
SYSTEM_CHAIN = "system"


class Action(StrEnum):
    """What happened."""

    CASE_OPENED = "case.opened"
    CASE_BOUND = "case.bound"
    CASE_VIEWED = "case.viewed"
    CASE_HOLD_SET = "case.hold_set"
    CASE_HOLD_CLEARED = "case.hold_cleared"
    ACCESS_REFUSED = "access.refused"
    INTAKE_STARTED = "intake.started"
    INTAKE_COMPLETED = "intake.completed"
    INTAKE_FAILED = "intake.failed"
    INTAKE_REFUSED = "intake.refused"
    REFUSALS_SUPPRESSED = "refusals.suppressed"
    EXHIBIT_VIEWED = "exhibit.viewed"
    EXHIBIT_VERIFIED = "exhibit.verified"
    EXHIBIT_REVIEWED = "exhibit.reviewed"
    EXHIBIT_FLAGGED = "exhibit.flagged"
    CUSTODY_VIEWED = "custody.viewed"
    CUSTODY_EXPORTED = "custody.exported"
    SHARE_REQUESTED = "share.requested"
    SHARE_APPROVED = "share.approved"
    SHARE_REJECTED = "share.rejected"
    SHARE_REVOKED = "share.revoked"
    SHARE_EXPIRED = "share.expired"
    SHARE_REFUSED = "share.refused"
    SHARE_LINK_REISSUED = "share.link_reissued"
    SHARE_LINK_DELIVERED = "share.link_delivered"
    SHARE_REJECTION_DELIVERED = "share.rejection_delivered"
    SHARE_EMAILED = "share.emailed"
    SHARE_EMAIL_FAILED = "share.email_failed"
    LINK_OPENED = "link.opened"
    LINK_REFUSED = "link.refused"
    EXHIBIT_DOWNLOADED = "exhibit.downloaded"
    CUSTODY_HEAD_RECOVERED = "custody.head_recovered"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it, as they were named at the time."""

    id: str
    name: str

    @classmethod
    def of(cls, officer: Officer) -> Actor:
        """The officer, named as the directory names them now."""
        return cls(officer.object_id, officer.display_name)


SYSTEM_ACTOR = Actor("exhibit", "Exhibit")


@dataclass(frozen=True, slots=True)
class CustodyEvent:
    """An event to append: the ledger gives it a sequence, the previous hash and its hash."""

    chain: str
    actor: Actor
    action: Action | str
    at: datetime
    case_id: str | None = None
    exhibit_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def by(
        cls,
        actor: Officer | Actor,
        action: Action | str,
        case_id: str,
        at: datetime,
        details: Mapping[str, Any] | None = None,
        *,
        exhibit_id: str | None = None,
    ) -> CustodyEvent:
        """What `actor` (an officer, or `SYSTEM_ACTOR`) did to the case, for the case's chain."""
        return cls(
            chain=case_id,
            actor=actor if isinstance(actor, Actor) else Actor.of(actor),
            action=action,
            at=at,
            case_id=case_id,
            exhibit_id=exhibit_id,
            details=dict(details or {}),
        )


@dataclass(frozen=True, slots=True)
class CustodyEntry:
    """One entry of a chain, as stored."""

    chain: str
    sequence: int
    at: datetime
    actor_id: str
    actor_name: str
    case_id: str | None
    exhibit_id: str | None
    action: str
    details: Mapping[str, Any]
    previous_hash: str
    hash: str


def seal(event: CustodyEvent, sequence: int, previous_hash: str) -> CustodyEntry:
    """The entry that follows `previous_hash` at `sequence` for `event`."""
    at = event.at.astimezone(UTC)
    unsealed = CustodyEntry(
        chain=event.chain,
        sequence=sequence,
        at=at,
        actor_id=event.actor.id,
        actor_name=event.actor.name,
        case_id=event.case_id,
        exhibit_id=event.exhibit_id,
        action=str(event.action),
        details=dict(event.details),
        previous_hash=previous_hash,
        hash="",
    )
    return CustodyEntry(**{**_fields(unsealed), "hash": entry_hash(unsealed)})


def entry_hash(entry: CustodyEntry) -> str:
    """SHA-256 (hex) over the canonical encoding of every field but `hash`."""
    return hashlib.sha256(canonical(entry)).hexdigest()


def canonical(entry: CustodyEntry) -> bytes:
    """Sorted-key, compact, UTF-8 JSON; times as UTC ISO 8601 with microseconds."""
    document = _fields(entry)
    del document["hash"]
    document["at"] = entry.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The result of walking a chain: `first_bad` is None when it verifies."""

    chain: str
    entries: int
    first_bad: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every entry verified."""
        return self.first_bad is None


def verify_chain(
    chain: str,
    entries: Iterable[CustodyEntry],
    head: tuple[int, str] | None = None,
    *,
    after: tuple[int, str] = (0, GENESIS),
) -> ChainReport:
    """Walk `entries` (in sequence order) and name the first one that does not verify.

    `head` is the (sequence, hash) the ledger recorded as its last entry: with it, entries
    deleted from the end are detected too. `after`: the (sequence, hash) the entries follow
    (the start of the chain unless only its end is walked).
    """
    expected, previous = after[0] + 1, after[1]
    count = 0
    for entry in entries:
        count += 1
        if entry.chain != chain:
            return ChainReport(chain, count, entry.sequence, "entry belongs to another chain")
        if entry.sequence != expected:
            return ChainReport(chain, count, expected, f"entry {expected} is missing")
        if entry.previous_hash != previous:
            return ChainReport(chain, count, entry.sequence, "previous hash does not match")
        if entry_hash(entry) != entry.hash:
            return ChainReport(chain, count, entry.sequence, "entry was altered")
        previous = entry.hash
        expected += 1
    if head is not None and head != (expected - 1, previous):
        return ChainReport(chain, count, expected, f"entries after {expected - 1} are missing")
    return ChainReport(chain, count)


def _fields(entry: CustodyEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in CustodyEntry.__slots__}
