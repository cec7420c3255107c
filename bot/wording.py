"""What officers are told, in one place: turn errors, card-action refusals, intake outcomes."""

from __future__ import annotations

from cards.exhibits import size_text
from worker.ports import JobFailure

# Intake failures whose error type says enough: the officer gets a sentence, not a class name.
_PLAIN_FAILURES = {
    "SourceExpired": "the download link from Teams has expired; please send the file again",
    "SourceTooLarge": "the file is larger than the limit",
    "EvidenceTooLarge": "the file is larger than the limit",
    "SourceEmpty": "the file is empty (0 bytes)",
    "EmptyEvidence": "the file is empty (0 bytes)",
    "HostNotAllowed": "the file is at a location Exhibit does not download from",
    "SourceTooSlow": "the file arrived too slowly and was stopped",
}


def job_failure_text(failure: JobFailure) -> str:
    """Why an intake job failed, as the receipt card and the job's record say it."""
    if failure.size_limit is not None:
        return f"the file is larger than the limit of {size_text(failure.size_limit)}"
    reason = _error_text(failure.error)
    if failure.attempts is not None:
        return f"gave up after {failure.attempts} attempts ({reason}); send it again"
    return reason


def _error_text(err: BaseException | None) -> str:
    if err is None:
        return "unknown"
    plain = _PLAIN_FAILURES.get(type(err).__name__)
    if plain:
        return plain
    reason = getattr(err, "reason", None) or getattr(err, "problem", None)
    return str(reason) if reason else type(err).__name__
