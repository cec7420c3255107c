"""The access policy as a table: role x relation to the case x action -> allowed or why not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from evidence.model import Case
from evidence.officers import Officer, Role
from evidence.policy import can_add_evidence, can_open_case, can_view_case

CASE = Case("case-1", "MET-24-0001", "Burglary", "uksouth", "creator", datetime.now(UTC))
MEMBERS = frozenset({"member"})


def _officer(object_id: str, *roles: Role, enabled: bool = True) -> Officer:
    return Officer(object_id, object_id.title(), enabled=enabled, roles=frozenset(roles))


OF, A, AU, AD = Role.OFFICER, Role.APPROVER, Role.AUDITOR, Role.ADMIN

VIEW = [
    (_officer("creator", OF), True, ""),
    (_officer("member", OF), True, ""),
    (_officer("member", A), True, ""),
    (_officer("stranger", OF), False, "you are not on the team of case MET-24-0001"),
    (_officer("stranger", A), False, "you are not on the team of case MET-24-0001"),
    (_officer("stranger", AU), True, ""),
    (_officer("stranger", AD), True, ""),
    (_officer("stranger"), False, "you are not on the team of case MET-24-0001"),
    (_officer("creator", OF, enabled=False), False, "your account is disabled"),
]


@pytest.mark.parametrize(("officer", "allowed", "reason"), VIEW)
def test_who_sees_a_case(officer: Officer, allowed: bool, reason: str) -> None:
    decision = can_view_case(officer, CASE, MEMBERS)
    assert (decision.allowed, decision.reason) == (allowed, reason)


@pytest.mark.parametrize(
    ("officer", "allowed"),
    [(_officer("x", OF), True), (_officer("x", A), True), (_officer("x", AU), False),
     (_officer("x", AD), False), (_officer("x"), False), (_officer("x", OF, enabled=False), False)],
)  # fmt: skip
def test_who_opens_cases(officer: Officer, allowed: bool) -> None:
    assert can_open_case(officer).allowed is allowed


@pytest.mark.parametrize(
    ("officer", "allowed"),
    [(_officer("creator", OF), True), (_officer("member", OF), True),
     (_officer("stranger", OF), False), (_officer("member", AU), False),
     (_officer("stranger", AD), False)],
)  # fmt: skip
def test_who_adds_evidence(officer: Officer, allowed: bool) -> None:
    assert can_add_evidence(officer, CASE, MEMBERS).allowed is allowed
