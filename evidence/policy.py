"""Who may do what: pure functions over officers, cases, case teams, exhibits and shares.

Every use case asks here before touching a record. A refusal carries the reason a user is told
and the custody log records. Each rule is a list of checks, the first refusal wins; the opening
check (an enabled account) is written once and starts every rule.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass
from datetime import datetime

from evidence.model import Case, Exhibit
from evidence.officers import Officer, Role
from evidence.shares import Share, ShareAction, ShareStatus


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed, or refused with a reason.

    `hides_case`: the officer may not see the case, so the refusal must read exactly as if the
    case did not exist (no existence oracle); `reason` is then for the custody record only.
    """

    allowed: bool
    reason: str = ""
    hides_case: bool = False
    asks_reason: bool = False  # may see it, once they say why (`consultation_needs_reason`)


ALLOWED = Decision(True)


def refused(reason: str) -> Decision:
    """A refusal with its reason."""
    return Decision(False, reason)


def not_on_case(case: Case) -> Decision:
    """The refusal for someone who may not see `case`: recorded, never shown."""
    return Decision(False, _not_on_team(case), hides_case=True)


def is_on_case_team(officer: Officer, case: Case, members: Set[str]) -> bool:
    """The case team: the creator plus the members of the bound channel."""
    return officer.object_id.lower() == case.created_by.lower() or (
        officer.object_id.lower() in {m.lower() for m in members}
    )


def can_view_case(officer: Officer, case: Case, members: Set[str]) -> Decision:
    """Case team members see a case; auditors and admins see every case; nobody else does."""
    return _first_refusal(
        _enabled(officer),
        ALLOWED
        if officer.has(Role.AUDITOR)
        or officer.has(Role.ADMIN)
        or is_on_case_team(officer, case, members)
        else not_on_case(case),
    )


def can_hold_case(officer: Officer, case: Case, members: Set[str]) -> Decision:
    """Approvers on the case team and admins set or lift a case's legal hold."""
    return _first_refusal(
        can_view_case(officer, case, members),
        ALLOWED
        if officer.has(Role.ADMIN) or officer.has(Role.APPROVER)
        else refused("only approvers and admins can set or lift a legal hold"),
        ALLOWED if officer.has(Role.ADMIN) else _on_team(officer, case, members),
    )


def consultation_needs_reason(officer: Officer, case: Case, members: Set[str]) -> bool:
    """Whether looking at the case needs a stated reason (DPA 2018 s.62: consultation logs).

    Someone on the case team consults it in the course of the investigation; an auditor or
    admin who may see every case, but is not on this one, must say why each time.
    """
    return officer.enabled and not is_on_case_team(officer, case, members)


def can_open_case(officer: Officer) -> Decision:
    """Officers (and approvers, who are officers too) open cases."""
    return _first_refusal(_enabled(officer), _produces(officer, "only officers can open cases"))


def can_bind_channel(officer: Officer, case: Case, members: Set[str]) -> Decision:
    """Officers on the case team bind it to a channel (whose members then join the team)."""
    return _first_refusal(
        _enabled(officer),
        _produces(officer, "only officers can bind a case to a channel"),
        _on_team(officer, case, members),
    )


def can_add_evidence(officer: Officer, case: Case, members: Set[str]) -> Decision:
    """Officers on the case team add exhibits; auditors and admins do not produce evidence."""
    return _first_refusal(
        can_view_case(officer, case, members),
        _produces(officer, "only officers can add evidence"),
        _on_team(officer, case, members),
    )


def can_review(officer: Officer, case: Case, exhibit: Exhibit, members: Set[str]) -> Decision:
    """Case team members other than the producer review an exhibit."""
    return _first_refusal(
        can_view_case(officer, case, members),
        _produces(officer, "only officers review exhibits"),
        _on_team(officer, case, members),
        ALLOWED
        if not _same_person(officer.object_id, exhibit.produced_by)
        else refused("the officer who produced an exhibit cannot review it"),
    )


def can_request_share(officer: Officer, case: Case, members: Set[str]) -> Decision:
    """Officers on the case team request shares."""
    return _first_refusal(
        _enabled(officer),
        _produces(officer, "only officers can request shares"),
        _on_team(officer, case, members),
    )


def can_act_on_share(
    officer: Officer,
    action: ShareAction,
    share: Share,
    case: Case,
    members: Set[str],
    now: datetime,
) -> Decision:
    """The four-eyes rule and its neighbours, in one place (tested as a table)."""
    opening = _share_opening(officer, share, case)
    if not opening.allowed:
        return opening
    if action is ShareAction.REVOKE:
        return _can_revoke(officer, share, case, members)
    return _first_refusal(
        ALLOWED
        if officer.has(Role.APPROVER)
        else refused("only approvers can decide share requests"),
        _on_team(officer, case, members),
        refused("nobody may decide their own share request (four eyes)")
        if _same_person(officer.object_id, share.requested_by)
        else ALLOWED,
        ALLOWED
        if share.status is ShareStatus.PENDING
        else refused(f"the request was already {share.status.value}"),
        refused("the request has expired") if now >= share.request_expires_at else ALLOWED,
    )


def can_approve_flagged(flagged: Sequence[str], acknowledged: bool) -> Decision:
    """An approval of flagged exhibits needs the approver to say they have read the flags.

    `flagged`: the references of the share's exhibits someone on the case team flagged.
    """
    if not flagged or acknowledged:
        return ALLOWED
    which = ", ".join(flagged)
    verb = "is" if len(flagged) == 1 else "are"
    return refused(f'{which} {verb} flagged: tick "I have read the flags" to approve')


def can_reissue_link(
    officer: Officer, share: Share, case: Case, members: Set[str], now: datetime
) -> Decision:
    """Whether the officer may have a new link for an approved share (the old one then stops).

    Only the requester — the person the link reaches the recipient through — and only while
    they are still on the case team and the share is active. What is shared, with whom and
    until when stay as approved, so a new link needs no second approval.
    """
    link_over = share.link_expires_at is not None and now >= share.link_expires_at
    return _first_refusal(
        _share_opening(officer, share, case),
        _active(share),
        refused("the share has expired") if link_over else ALLOWED,
        ALLOWED
        if _same_person(officer.object_id, share.requested_by)
        else refused("only the officer who asked for the share can have its link again"),
        _on_team(officer, case, members),
    )


def _can_revoke(officer: Officer, share: Share, case: Case, members: Set[str]) -> Decision:
    active = _active(share)
    if not active.allowed:
        return active
    if officer.has(Role.ADMIN) or _same_person(officer.object_id, share.requested_by):
        return ALLOWED
    if officer.has(Role.APPROVER) and is_on_case_team(officer, case, members):
        return ALLOWED
    return refused("only the requester, an approver of the case or an admin can revoke")


def _first_refusal(*checks: Decision) -> Decision:
    """The first refusal among `checks` (in the order the rule reads), or ALLOWED."""
    return next((check for check in checks if not check.allowed), ALLOWED)


def _enabled(officer: Officer) -> Decision:
    """The opening check of every rule."""
    return ALLOWED if officer.enabled else refused("your account is disabled")


def _share_opening(officer: Officer, share: Share, case: Case) -> Decision:
    """The opening check, and the share's case is the case the rule is asked about."""
    return _first_refusal(
        _enabled(officer),
        ALLOWED if share.case_id == case.id else refused("that share belongs to another case"),
    )


def _produces(officer: Officer, otherwise: str) -> Decision:
    """Officers and approvers produce evidence and shares; auditors and admins do not."""
    producer = officer.has(Role.OFFICER) or officer.has(Role.APPROVER)
    return ALLOWED if producer else refused(otherwise)


def _on_team(officer: Officer, case: Case, members: Set[str]) -> Decision:
    """On the case team, or refused saying so (for someone who may see the case otherwise)."""
    return ALLOWED if is_on_case_team(officer, case, members) else refused(_not_on_team(case))


def _active(share: Share) -> Decision:
    if share.status is ShareStatus.APPROVED:
        return ALLOWED
    return refused(f"the share is {share.status.value}, not active")


def _same_person(object_id: str, other: str) -> bool:
    return object_id.lower() == other.lower()


def _not_on_team(case: Case) -> str:
    return f"you are not on the team of case {case.reference}"
