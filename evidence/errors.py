"""Domain errors.

Tree (`*`: also `Transient`)::

    ExhibitError
    ├── NotEnrolled            the officer is not in the directory, or the account is disabled
    ├── DirectoryUnavailable * the directory could not answer and no fresh-enough value is cached
    ├── InvalidInput           a command or value a user gave does not make sense
    ├── AccessRefused          the policy refused the officer; `reason` says why
    ├── CaseNotFound           no case with that reference (or none bound to this channel)
    ├── ReasonRequired         someone not on the case must say why they consult it
    ├── EvidenceStoreError     the evidence store (regional blob storage) could not do as asked
    │   ├── StoreUnavailable * storage did not answer or failed transiently: retry later
    │   ├── StoreRejected      storage refused in a way retrying will not fix (configuration)
    │   ├── BlobExists         a create-only put met a committed blob of that name
    │   ├── BlobMissing        no committed blob of that name
    │   ├── UnrecognisedBlob   a blob lacks the hashes the store records when it commits
    │   └── EvidenceRefused    the stream itself is not acceptable; nothing was committed
    │       ├── EvidenceTooLarge   more bytes than the limit
    │       └── EmptyEvidence      no bytes at all
    ├── SourceError            a file's bytes could not be fetched from where Teams left them
    │   ├── HostNotAllowed     the URL's host or scheme is not allowed: nothing was sent
    │   ├── SourceExpired      the link was refused or is gone (401/403/404/410): send it again
    │   ├── SourceForbidden    Graph refused Exhibit itself (401/403): a permission is missing
    │   ├── SourceUnavailable * timeout, connection failure, 408/429/5xx: retry later
    │   ├── SourceTooSlow      under the minimum rate or past the total time
    │   ├── SourceInvalid      an answer Exhibit cannot use (redirect loop, a folder): no retry
    │   ├── SourceTooLarge     more bytes than the limit, declared or streamed
    │   └── SourceEmpty        no bytes at all
    ├── MailNotSent            the mail service did not accept a message
    └── SignerError            the checkpoint key could not sign
        ├── SignerUnavailable * Key Vault did not answer, or failed transiently: retry later
        └── SignerRefused      the key or its vault refused (permission, wrong key): configuration

    Transient                  may pass by itself: the same work, run again later, may succeed
    ├── Conflict               a records unit lost a race (deadlock, serialization failure, lock
    │                          timeout): nothing was written; run the whole unit again
    ├── QueueUnavailable       (storage.queue) the ingest queue did not answer
    └── DirectoryUnavailable, StoreUnavailable, SourceUnavailable, SignerUnavailable (above)

`Transient` is a marker, not a branch of `ExhibitError`: whoever can run the work again (the
intake worker, `run_unit`) decides with `isinstance(err, Transient)`. Timeouts are transient
through their translation: a storage, Graph or source timeout arrives as one of the
`...Unavailable` errors. Not transient on purpose: `SourceTooSlow` (a drip is more likely broken
or hostile than passing; the worker tries it once more, no more), `MailNotSent` (a 403 or 404
from the mail service stays), and everything that describes the request or the data.

Source errors name the host only, never the URL: download URLs carry their own credentials.

Only bot/ turns these into words and HTTP statuses.
"""

from __future__ import annotations

from evidence.stored_blob import StoredBlob


class ExhibitError(Exception):
    """Root of every error the domain raises on purpose."""


class Transient(Exception):
    """An error that may pass by itself: running the same work again later may succeed.

    A marker base next to `ExhibitError` (not under it), so marking an error transient never
    changes what catches it as a domain error.
    """


class Conflict(Transient):
    """A unit of work lost a race with another one and was rolled back; running it again is safe."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotEnrolled(ExhibitError):
    """The officer is not in the directory or the account is disabled."""

    def __init__(self, object_id: str, *, disabled: bool = False) -> None:
        super().__init__(object_id)
        self.object_id = object_id
        self.disabled = disabled


class DirectoryUnavailable(ExhibitError, Transient):
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


class ReasonRequired(ExhibitError):
    """Someone who may see the case, but is not on it, consults it without giving a reason."""

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


class StoreUnavailable(EvidenceStoreError, Transient):
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


class SourceError(ExhibitError):
    """The bytes of a file could not be fetched from `host` (never the URL: it holds secrets)."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host or '(no host)'}: {reason}")
        self.host = host
        self.reason = reason


class HostNotAllowed(SourceError):
    """The URL's host or scheme is not on the allow-list; no request was sent."""


class SourceExpired(SourceError):
    """The source refused the link or no longer has the file (`status` 401/403/404/410).

    Pre-authenticated Teams links live minutes to an hour: the officer should send the file again.
    """

    def __init__(self, host: str, *, status: int) -> None:
        super().__init__(host, f"link expired or refused (HTTP {status})")
        self.status = status


class SourceForbidden(SourceError):
    """Graph refused Exhibit itself: a permission or consent is missing.

    `status` is 401 or 403 and `code` Graph's OData error code. Neither retrying nor sending the
    file again helps; an administrator must grant the permission.
    """

    def __init__(self, host: str, *, status: int, code: str = "") -> None:
        super().__init__(host, f"access refused (HTTP {status}{' ' + code if code else ''})")
        self.status = status
        self.code = code


class SourceUnavailable(SourceError, Transient):
    """The source did not answer, or failed in a way that may pass: the caller may retry later.

    `status` is the HTTP status when there was one (408, 429, 5xx); `retry_after` the seconds the
    source asked to wait, when it said.
    """

    def __init__(
        self,
        host: str,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(host, reason if status is None else f"{reason} (HTTP {status})")
        self.status = status
        self.retry_after = retry_after


class SourceTooSlow(SourceError):
    """The source sent too slowly: under the minimum rate over a window, or past the total time.

    A source that drips bytes would otherwise hold a worker for ever; `received` counts the
    bytes read before the download was stopped.
    """

    def __init__(self, host: str, reason: str, *, received: int) -> None:
        super().__init__(host, reason)
        self.received = received


class SourceInvalid(SourceError):
    """The source answered something Exhibit cannot use; retrying will not help.

    A redirect loop, a folder where a file was expected, an unexpected status (`status`, when
    there was one).
    """

    def __init__(self, host: str, reason: str, *, status: int | None = None) -> None:
        super().__init__(host, reason if status is None else f"{reason} (HTTP {status})")
        self.status = status


class SourceTooLarge(SourceError):
    """The file is larger than `limit` bytes.

    `declared` is the size the source announced (refused before any byte was read), `received`
    the bytes read before the download was stopped; one of them is set.
    """

    def __init__(
        self, host: str, *, limit: int, declared: int | None = None, received: int | None = None
    ) -> None:
        super().__init__(host, f"more than {limit} bytes")
        self.limit = limit
        self.declared = declared
        self.received = received


class SourceEmpty(SourceError):
    """The source sent no bytes at all."""

    def __init__(self, host: str) -> None:
        super().__init__(host, "no bytes")


class MailNotSent(ExhibitError):
    """The mail service did not accept a message (refused, unreachable, or too slow).

    `status` is the service's HTTP status when there was one (403 for a mailbox the app may not
    send from, 404 for an unknown mailbox, ...).
    """

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason if status is None else f"{reason} (HTTP {status})")
        self.reason = reason
        self.status = status


class SignerError(ExhibitError):
    """The checkpoint key could not sign (or, at start-up, could not be read)."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason if status is None else f"{reason} (HTTP {status})")
        self.reason = reason
        self.status = status


class SignerUnavailable(SignerError, Transient):
    """The key's vault did not answer, or answered 429/5xx: the same signature may work later."""


class SignerRefused(SignerError):
    """The vault refused (no permission, no such key, not an EC P-256 key), or what it returned
    is not this key's signature: retrying will not help until the configuration changes."""
