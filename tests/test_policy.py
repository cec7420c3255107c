"""The access policy as a table: role x relation to the case x action -> allowed or why not."""

from __future__ import annotations

from collections.abc import Set
from dataclasses import replace
from datetime import UTC, datetime
from typing import cast

import pytest

from evidence.cases import cases_visible_to
from evidence.model import Case, ChannelBinding
from evidence.officers import Officer, Role
from evidence.policy import can_add_evidence, can_open_case, can_view_case
from evidence.records import RecordsUnit

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


class _Cases:
    """The one records call `cases_visible_to` makes."""

    def __init__(self, cases: list[Case]) -> None:
        self._cases = cases

    async def cases(self) -> list[Case]:
        return self._cases


BINDING = ChannelBinding(
    team_id="19:team@thread.tacv2",
    channel_id="19:case@thread.tacv2",
    graph_team_id=None,
    conversation_reference="{}",
    tenant_id="tenant",
)


@pytest.mark.parametrize(
    ("officer", "visible", "lookups"),
    [
        (_officer("auditor", Role.AUDITOR), ["MET-24-0001", "MET-24-0002", "MET-24-0003"], 0),
        (_officer("creator", Role.OFFICER), ["MET-24-0001", "MET-24-0002"], 1),
        (_officer("member", Role.OFFICER), ["MET-24-0003"], 2),
        (_officer("member", Role.OFFICER, enabled=False), [], 0),
    ],
)
async def test_case_list_asks_for_a_team_only_when_the_answer_depends_on_it(
    officer: Officer, visible: list[str], lookups: int
) -> None:
    """Team lookups can each cost a network call: auditors, creators and cases without a
    channel need none."""
    cases = [
        CASE,  # by "creator", no channel
        replace(CASE, id="case-2", reference="MET-24-0002", channel=BINDING),
        replace(CASE, id="case-3", reference="MET-24-0003", created_by="other", channel=BINDING),
    ]
    asked: list[str] = []

    async def members_of(case: Case) -> Set[str]:
        asked.append(case.reference)
        return MEMBERS if case.id == "case-3" else frozenset()

    found = await cases_visible_to(cast(RecordsUnit, _Cases(cases)), officer, members_of)

    assert [case.reference for case in found] == visible
    assert len(asked) == lookups
