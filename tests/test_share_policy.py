"""Share decisions as a table: role x relation to the case x request state x action."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from evidence.links import LinkState, link_state
from evidence.model import Case
from evidence.officers import Officer, Role
from evidence.policy import can_act_on_share, can_reissue_link
from evidence.shares import Share, ShareAction, ShareStatus
from evidence.sharing import (
    new_link_token,
    token_hash,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CASE = Case("case-1", "MET-24-0001", "Burglary", "uksouth", "requester", NOW)
OTHER_CASE = Case("case-2", "MET-24-0002", "Fraud", "uksouth", "requester", NOW)
MEMBERS = frozenset({"requester", "member-approver", "member-officer"})
PENDING = Share(
    id="share-1", case_id="case-1", exhibit_ids=("e1",), requested_by="requester",
    requested_by_name="Jane Smith", recipient="lawyer@cps.gov.uk", organisation_type="prosecutor",
    reason="disclosure", days=14, status=ShareStatus.PENDING, created_at=NOW,
    request_expires_at=NOW + timedelta(days=7),
)  # fmt: skip


def _officer(object_id: str, *roles: Role) -> Officer:
    return Officer(object_id, object_id, roles=frozenset(roles))


ACTORS = {
    "approver on the case": _officer("member-approver", Role.OFFICER, Role.APPROVER),
    "approver off the case": _officer("stranger-approver", Role.APPROVER),
    "officer on the case": _officer("member-officer", Role.OFFICER),
    "the requester (an approver too)": _officer("requester", Role.OFFICER, Role.APPROVER),
    "admin": _officer("admin", Role.ADMIN),
    "auditor": _officer("auditor", Role.AUDITOR),
}
STATES = {
    "pending": PENDING,
    "approved": replace(PENDING, status=ShareStatus.APPROVED),
    "rejected": replace(PENDING, status=ShareStatus.REJECTED),
    "revoked": replace(PENDING, status=ShareStatus.REVOKED),
    "request expired": replace(PENDING, request_expires_at=NOW - timedelta(seconds=1)),
}
# (actor, state, action) -> None if allowed, else the reason
EXPECTED: dict[tuple[str, str, ShareAction], str | None] = {}
for actor, state, action in itertools.product(ACTORS, STATES, ShareAction):
    if action is ShareAction.REVOKE:
        if state != "approved":
            reason: str | None = f"the share is {STATES[state].status.value}, not active"
        elif actor in {"admin", "the requester (an approver too)", "approver on the case"}:
            reason = None
        else:
            reason = "only the requester, an approver of the case or an admin can revoke"
    elif actor in {"officer on the case", "admin", "auditor"}:
        reason = "only approvers can decide share requests"
    elif actor == "approver off the case":
        reason = "you are not on the team of case MET-24-0001"
    elif actor == "the requester (an approver too)":
        reason = "nobody may decide their own share request (four eyes)"
    elif STATES[state].status is not ShareStatus.PENDING:
        reason = f"the request was already {STATES[state].status.value}"
    elif state == "request expired":
        reason = "the request has expired"
    else:
        reason = None
    EXPECTED[(actor, state, action)] = reason


@pytest.mark.parametrize(("actor", "state", "action"), list(EXPECTED))
def test_share_policy(actor: str, state: str, action: ShareAction) -> None:
    decision = can_act_on_share(ACTORS[actor], action, STATES[state], CASE, MEMBERS, NOW)
    expected = EXPECTED[(actor, state, action)]
    assert (decision.allowed, decision.reason or None) == (expected is None, expected)


def test_a_share_id_from_another_case_is_refused() -> None:
    decision = can_act_on_share(
        ACTORS["approver on the case"], ShareAction.APPROVE, PENDING, OTHER_CASE, MEMBERS, NOW
    )
    assert decision.reason == "that share belongs to another case"


def test_link_tokens_are_long_random_and_stored_only_as_a_hash() -> None:
    first, second = new_link_token(), new_link_token()
    assert first.secret != second.secret
    assert len(first.secret) >= 43  # 256 bits in base64url
    assert first.sha256 == token_hash(first.secret) != first.secret


def test_link_state() -> None:
    active = replace(PENDING, status=ShareStatus.APPROVED, link_expires_at=NOW + timedelta(days=1),
                     max_downloads=2)  # fmt: skip
    assert link_state(active, NOW) is LinkState.ACTIVE
    assert link_state(replace(active, downloads=2), NOW) is LinkState.EXHAUSTED
    assert link_state(active, NOW + timedelta(days=1)) is LinkState.EXPIRED
    assert link_state(replace(active, status=ShareStatus.REVOKED), NOW) is LinkState.REVOKED


APPROVED = replace(PENDING, status=ShareStatus.APPROVED, link_expires_at=NOW + timedelta(days=14))


@pytest.mark.parametrize(
    ("officer", "share", "case", "members", "reason"),
    [
        (ACTORS["the requester (an approver too)"], APPROVED, CASE, MEMBERS, None),
        (_officer("requester", Role.OFFICER), APPROVED, CASE, MEMBERS, None),
        (replace(ACTORS["the requester (an approver too)"], enabled=False), APPROVED, CASE,
         MEMBERS, "your account is disabled"),
        (ACTORS["approver on the case"], APPROVED, CASE, MEMBERS,
         "only the officer who asked for the share can have its link again"),
        (ACTORS["admin"], APPROVED, CASE, MEMBERS,
         "only the officer who asked for the share can have its link again"),
        (ACTORS["the requester (an approver too)"], APPROVED, replace(CASE, created_by="other"),
         frozenset({"other"}), "you are not on the team of case MET-24-0001"),
        (ACTORS["the requester (an approver too)"], PENDING, CASE, MEMBERS,
         "the share is pending, not active"),
        (ACTORS["the requester (an approver too)"], replace(APPROVED, status=ShareStatus.REVOKED),
         CASE, MEMBERS, "the share is revoked, not active"),
        (ACTORS["the requester (an approver too)"], replace(APPROVED, link_expires_at=NOW), CASE,
         MEMBERS, "the share has expired"),
        (ACTORS["the requester (an approver too)"], APPROVED, OTHER_CASE, MEMBERS,
         "that share belongs to another case"),
    ],
)  # fmt: skip
def test_who_may_have_a_new_link(
    officer: Officer, share: Share, case: Case, members: frozenset[str], reason: str | None
) -> None:
    decision = can_reissue_link(officer, share, case, members, NOW)
    assert decision.allowed is (reason is None)
    assert decision.reason == (reason or decision.reason)
