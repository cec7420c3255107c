"""Who may do what: pure functions over officers, cases and case teams.

Every use case asks here before touching a record. A refusal carries the reason a user is told
and the custody log records.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from evidence.model import Case
from evidence.officers import Officer, Role


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed, or refused with a reason.

    `hides_case`: the officer may not see the case, so the refusal must read exactly as if the
    case did not exist (no existence oracle); `reason` is then for the custody record only.
    """

    allowed: bool
    reason: str = ""
    hides_case: bool = False


ALLOWED = Decision(True)


def refused(reason: str) -> Decision:
    """A refusal with its reason."""
    return Decision(False, reason)


def not_on_case(case: Case) -> Decision:
    """The refusal for someone who may not see `case`: recorded, never shown."""
    return Decision(False, f"you are not on the team of case {case.reference}", hides_case=True)


def is_on_case_team(officer: Officer, case: Case, members: Set[str]) -> bool:
    """The case team: the creator plus the members of the bound channel."""
    return officer.object_id.lower() == case.created_by.lower() or (
        officer.object_id.lower() in {m.lower() for m in members}
    )


def can_view_case(officer: Officer, case: Case, members: Set[str]) -> Decision:
    """Case team members see a case; auditors and admins see every case; nobody else does."""
    if not officer.enabled:
        return refused("your account is disabled")
    if officer.has(Role.AUDITOR) or officer.has(Role.ADMIN):
        return ALLOWED
    if is_on_case_team(officer, case, members):
        return ALLOWED
    return not_on_case(case)


def can_open_case(officer: Officer) -> Decision:
    """Officers (and approvers, who are officers too) open cases."""
    if not officer.enabled:
        return refused("your account is disabled")
    if officer.has(Role.OFFICER) or officer.has(Role.APPROVER):
        return ALLOWED
    return refused("only officers can open cases")


def can_add_evidence(officer: Officer, case: Case, members: Set[str]) -> Decision:
    """Officers on the case team add exhibits; auditors and admins do not produce evidence."""
    visible = can_view_case(officer, case, members)
    if not visible.allowed:
        return visible
    if not (officer.has(Role.OFFICER) or officer.has(Role.APPROVER)):
        return refused("only officers can add evidence")
    if not is_on_case_team(officer, case, members):
        return refused(f"you are not on the team of case {case.reference}")
    return ALLOWED
