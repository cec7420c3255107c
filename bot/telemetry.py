"""What the bot tells OpenTelemetry (API only; a no-op unless `exhibit.telemetry` set it up).

Never what people typed, names, file names, case titles or addresses: the command's name from
the grammar, the kind of activity, and fixed outcome codes.
"""

from __future__ import annotations

from datetime import datetime

from opentelemetry import metrics, trace

from evidence.errors import (
    AccessRefused,
    CaseNotFound,
    DirectoryUnavailable,
    InvalidInput,
    NotEnrolled,
    ReasonRequired,
    SourceError,
)
from storage.telemetry import REFUSAL_CODES, integrity_failures, refusals

tracer = trace.get_tracer("exhibit.bot")
meter = metrics.get_meter("exhibit.bot")

approval_latency = meter.create_histogram(
    "exhibit.share.approval.latency",
    unit="s",
    description="Time from a share's request to its approval or rejection",
)

# Outcome codes of a turn, by the error that ended it (first match wins).
_OUTCOMES: tuple[tuple[type[Exception], str], ...] = (
    (ReasonRequired, "reason_required"),
    (NotEnrolled, "not_enrolled"),
    (CaseNotFound, "not_found"),
    (AccessRefused, "not_permitted"),
    (DirectoryUnavailable, "directory_unavailable"),
    (InvalidInput, "invalid_input"),
    (SourceError, "source_error"),
)


def outcome_of(err: Exception) -> str:
    """The outcome code of a command that ended in `err`."""
    for kind, code in _OUTCOMES:
        if isinstance(err, kind):
            return code
    return "declined"


def note_outcome(outcome: str) -> None:
    """Set the current turn's outcome; count it if it is a refusal."""
    trace.get_current_span().set_attribute("exhibit.outcome", outcome)
    if outcome in REFUSAL_CODES:
        refusals.add(1, {"exhibit.reason": outcome})


def note_decision(decision: str, requested_at: datetime, decided_at: datetime | None) -> None:
    """A share approved or rejected: how long it waited."""
    if decided_at is not None:
        seconds = max(0.0, (decided_at - requested_at).total_seconds())
        approval_latency.record(seconds, {"exhibit.decision": decision})


def note_integrity_failure(where: str) -> None:
    """An exhibit found not to match its intake record (`where`: "verify" or "share")."""
    integrity_failures.add(1, {"exhibit.found_by": where})
