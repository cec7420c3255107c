"""Domain errors.

Tree::

    ExhibitError
    ├── NotEnrolled            the officer is not in the directory, or the account is disabled
    ├── DirectoryUnavailable   the directory could not answer and no fresh-enough value is cached
    └── InvalidInput           a command or value a user gave does not make sense

Only bot/ turns these into words and HTTP statuses.
"""

from __future__ import annotations


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


class InvalidInput(ExhibitError):
    """A value supplied by a user is not acceptable; `field` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
