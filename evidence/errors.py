"""Domain errors.

Tree::

    ExhibitError
    ├── NotEnrolled            the officer is not in the directory, or the account is disabled
    ├── DirectoryUnavailable   the directory could not answer and no fresh-enough value is cached
    ├── InvalidInput           a command or value a user gave does not make sense
    ├── AccessRefused          the policy refused the officer; `reason` says why
    ├── CaseNotFound           no case with that reference (or none bound to this channel)
    └── EvidenceStoreError     the evidence store (regional blob storage) could not do as asked
        ├── StoreUnavailable   storage did not answer or failed transiently: retry later
        ├── StoreRejected      storage refused in a way retrying will not fix (configuration)
        ├── BlobExists         a create-only put met a committed blob of that name
        ├── BlobMissing        no committed blob of that name
        ├── UnrecognisedBlob   a blob lacks the hashes the store records when it commits
        └── EvidenceRefused    the stream itself is not acceptable; nothing was committed
            ├── EvidenceTooLarge   more bytes than the limit
            └── EmptyEvidence      no bytes at all

Only bot/ turns these into words and HTTP statuses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evidence.model import StoredBlob


class ExhibitError(Exception):
    """Root of every error the domain raises on purpose."""


class NotEnrolled(ExhibitError):
    """The officer is not in the directory or the account is disabled."""

    def __init__(self, object_id: str, *, disabled: bool = False) -> None:
        super().__init__(object_id)
        self.object_id = object_id
        self.disabled = disabled


class DirectoryUnavailable(ExhibitError):
    """The directory did not answer and no fresh-enough cached value exists.

    `status` is the directory service's HTTP status when there was one (429, 503, ...).
    """

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason if status is None else f"{reason} (HTTP {status})")
        self.reason = reason
        self.status = status


class AccessRefused(ExhibitError):
    """The policy refused an action; `reason` is what the officer is told."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CaseNotFound(ExhibitError):
    """No case has this reference; `reference` is None when no case is bound to the channel."""

    def __init__(self, reference: str | None) -> None:
        super().__init__(reference or "(this channel)")
        self.reference = reference


class InvalidInput(ExhibitError):
    """A value supplied by a user is not acceptable; `field` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class EvidenceStoreError(ExhibitError):
    """The evidence store could not do as asked for the blob `blob_name` in `region`."""

    def __init__(self, region: str, blob_name: str, reason: str = "") -> None:
        super().__init__(f"{region}/{blob_name}" + (f": {reason}" if reason else ""))
        self.region = region
        self.blob_name = blob_name


class StoreUnavailable(EvidenceStoreError):
    """Storage did not answer, or failed in a way that may pass: the caller may retry later.

    `status` is the storage service's HTTP status when there was one (429, 503, ...).
    """

    def __init__(
        self, region: str, blob_name: str, reason: str, *, status: int | None = None
    ) -> None:
        super().__init__(region, blob_name, reason if status is None else f"{reason} ({status})")
        self.reason = reason
        self.status = status


class StoreRejected(EvidenceStoreError):
    """Storage refused in a way retrying will not fix: credentials, permissions, a bad request.

    `status` and `code` are the service's HTTP status and error code (`AuthorizationFailure`).
    """

    def __init__(
        self, region: str, blob_name: str, *, status: int | None, code: str | None
    ) -> None:
        super().__init__(region, blob_name, f"{status} {code}")
        self.status = status
        self.code = code


class BlobExists(EvidenceStoreError):
    """A committed blob already has this name; evidence is never overwritten.

    `attempted` is what this put measured before its commit was refused, or None when the blob
    was found before any byte was read (the stream is then left unread).
    """

    def __init__(self, region: str, blob_name: str, *, attempted: StoredBlob | None) -> None:
        super().__init__(region, blob_name, "already exists")
        self.attempted = attempted


class BlobMissing(EvidenceStoreError):
    """No committed blob has this name in this region."""

    def __init__(self, region: str, blob_name: str) -> None:
        super().__init__(region, blob_name, "no such blob")


class UnrecognisedBlob(EvidenceStoreError):
    """A blob lacks metadata (`missing`) the store writes when it commits: not ours, or altered."""

    def __init__(self, region: str, blob_name: str, *, missing: str) -> None:
        super().__init__(region, blob_name, f"no {missing} metadata")
        self.missing = missing


class EvidenceRefused(EvidenceStoreError):
    """The stream itself is not acceptable; nothing was committed."""


class EvidenceTooLarge(EvidenceRefused):
    """The stream went past `limit` bytes (`received` counts what was read before stopping)."""

    def __init__(self, region: str, blob_name: str, *, limit: int, received: int) -> None:
        super().__init__(region, blob_name, f"more than {limit} bytes")
        self.limit = limit
        self.received = received


class EmptyEvidence(EvidenceRefused):
    """The stream ended without a single byte."""

    def __init__(self, region: str, blob_name: str) -> None:
        super().__init__(region, blob_name, "no bytes")
