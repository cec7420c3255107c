"""The share records, run against SQLite (a file) and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from evidence.custody import Action, CustodyEvent, verify_chain
from evidence.model import Case
from evidence.officers import Officer, Role
from evidence.policy import ALLOWED
from evidence.records import RecordsUnit, run_unit
from evidence.share_cases import PolicyAnswer, ShareDecision, decide_share, expire_shares
from evidence.shares import Share, ShareAction, ShareStatus
from evidence.sharing import new_link_token
from storage.records import SqlRecords

pytest_plugins = ["tests.support.postgres", "tests.support.record_backends"]

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
OFFICER_ID = "0b6c2f1e-7d4a-4c1b-9e3f-2a5d8c7b6e4f"


@pytest.fixture
async def case(records: SqlRecords) -> Case:
    """A stored case."""
    case = Case(
        id=str(uuid.uuid4()),
        reference="MET-26-0001",
        title="Burglary at 12 Acacia Avenue",
        region="uksouth",
        created_by=OFFICER_ID,
        created_at=T0,
    )
    async with records.unit() as unit:
        await unit.add_case(case)
    return case


def make_share(
    case: Case,
    *,
    status: ShareStatus = ShareStatus.APPROVED,
    at: datetime = T0,
    days: int = 14,
    max_downloads: int | None = None,
    token: str | None = None,
) -> Share:
    approved = status is ShareStatus.APPROVED
    return Share(
        id=str(uuid.uuid4()),
        case_id=case.id,
        exhibit_ids=(str(uuid.uuid4()), str(uuid.uuid4())),
        requested_by=OFFICER_ID,
        requested_by_name="PC Jane Smith",
        recipient="lawyer@cps.gov.uk",
        organisation_type="cps",
        reason="Disclosure to CPS — trial «R v Smith»",
        days=days,
        status=status,
        created_at=at,
        request_expires_at=at + timedelta(days=7),
        decided_by="approver-oid" if approved else None,
        decided_by_name="DS Sam Patel" if approved else None,
        decided_at=at + timedelta(minutes=5) if approved else None,
        token_sha256=(token or new_link_token().sha256) if approved else None,
        link_expires_at=at + timedelta(days=days) if approved else None,
        max_downloads=max_downloads,
        requester_reference='{"conversation": {"id": "a:1"}}',
        approval_activity_id="1700000000001",
        requester_email="jane.smith@met.example",
        requester_phone="+44 20 7946 0018",
    )


async def add(records: SqlRecords, *shares: Share) -> None:
    async with records.unit() as unit:
        for share in shares:
            await unit.add_share(share)


async def read(records: SqlRecords, share_id: str) -> Share | None:
    async with records.unit() as unit:
        return await unit.share(share_id)


async def test_share_round_trips_exactly(records: SqlRecords, case: Case) -> None:
    pending = make_share(case, status=ShareStatus.PENDING)
    approved = make_share(case, max_downloads=3)
    await add(records, pending, approved)
    assert await read(records, pending.id) == pending
    assert await read(records, approved.id) == approved
    assert await read(records, "no-such-share") is None
    stored = await read(records, approved.id)
    assert stored is not None
    assert stored.created_at.tzinfo is not None
    assert stored.created_at.utcoffset() == timedelta(0)


async def test_share_by_token_finds_only_its_share(records: SqlRecords, case: Case) -> None:
    token = new_link_token()
    share = make_share(case, token=token.sha256)
    await add(records, share, make_share(case), make_share(case, status=ShareStatus.PENDING))
    async with records.unit() as unit:
        assert await unit.share_by_token(token.sha256) == share
        assert await unit.share_by_token(new_link_token().sha256) is None


async def test_shares_of_a_case_newest_first(records: SqlRecords, case: Case) -> None:
    shares = [make_share(case, at=T0 + timedelta(hours=n)) for n in (1, 3, 2)]
    await add(records, *shares)
    async with records.unit() as unit:
        listed = await unit.shares_of(case.id)
        other = await unit.shares_of("another-case")
    assert [s.id for s in listed] == [shares[1].id, shares[2].id, shares[0].id]
    assert other == []


async def test_update_share_replaces_all_but_downloads(records: SqlRecords, case: Case) -> None:
    share = make_share(case, status=ShareStatus.PENDING)
    await add(records, share)
    token = new_link_token()
    decided = replace(
        share,
        status=ShareStatus.APPROVED,
        decided_by="approver-oid",
        decided_by_name="DS Sam Patel",
        decided_at=T0 + timedelta(hours=1),
        decision_reason="ok",
        token_sha256=token.sha256,
        link_expires_at=T0 + timedelta(days=14),
        max_downloads=2,
    )
    async with records.unit() as unit:
        assert await unit.update_share(decided, expected=share)
    assert await read(records, share.id) == decided
    async with records.unit() as unit:
        await unit.take_download(share.id, T0 + timedelta(hours=2))
        # A revocation saved from a copy read before the download must not undo it.
        assert await unit.update_share(replace(decided, status=ShareStatus.REVOKED),
                                       expected=decided)  # fmt: skip
    stored = await read(records, share.id)
    assert stored is not None
    assert (stored.status, stored.downloads) == (ShareStatus.REVOKED, 1)


async def test_updating_an_unknown_share_changes_nothing(records: SqlRecords, case: Case) -> None:
    unknown = make_share(case)
    async with records.unit() as unit:
        assert not await unit.update_share(unknown, expected=unknown)
        assert await unit.share(unknown.id) is None


async def test_take_download_counts_until_the_limit(records: SqlRecords, case: Case) -> None:
    share = make_share(case, max_downloads=2)
    await add(records, share)
    now = T0 + timedelta(days=1)
    async with records.unit() as unit:
        first = await unit.take_download(share.id, now)
        second = await unit.take_download(share.id, now)
        third = await unit.take_download(share.id, now)
    assert first is not None
    assert second is not None
    assert (first.downloads, second.downloads, third) == (1, 2, None)
    assert second == replace(share, downloads=2)


async def test_take_download_refuses_unusable_links(records: SqlRecords, case: Case) -> None:
    live = make_share(case)
    revoked = replace(make_share(case), status=ShareStatus.REVOKED)
    pending = make_share(case, status=ShareStatus.PENDING)
    await add(records, live, revoked, pending)
    assert live.link_expires_at is not None
    async with records.unit() as unit:
        assert await unit.take_download(revoked.id, T0) is None
        assert await unit.take_download(pending.id, T0) is None
        assert await unit.take_download("no-such-share", T0) is None
        # Expired at the instant of expiry, as `link_state` says.
        assert await unit.take_download(live.id, live.link_expires_at) is None
        just_before = live.link_expires_at - timedelta(microseconds=1)
        taken = await unit.take_download(live.id, just_before)
    assert taken is not None
    assert taken.downloads == 1  # no limit: counted, never refused for it


async def test_concurrent_downloads_never_exceed_the_limit(records: SqlRecords, case: Case) -> None:
    share = make_share(case, max_downloads=5)
    await add(records, share)

    async def download(unit: RecordsUnit) -> Share | None:
        return await unit.take_download(share.id, T0 + timedelta(days=1))

    results = await asyncio.gather(*(run_unit(records, download) for _ in range(20)))
    taken = sorted(r.downloads for r in results if r is not None)
    assert taken == [1, 2, 3, 4, 5]
    stored = await read(records, share.id)
    assert stored is not None
    assert stored.downloads == 5


async def test_shares_due_to_expire(records: SqlRecords, case: Case) -> None:
    due = make_share(case, days=1)
    boundary = make_share(case, days=2)
    later = make_share(case, days=30)
    pending = make_share(case, status=ShareStatus.PENDING)
    revoked = replace(make_share(case, days=1), status=ShareStatus.REVOKED)
    await add(records, due, boundary, later, pending, revoked)
    async with records.unit() as unit:
        found = await unit.shares_due_to_expire(T0 + timedelta(days=2))
    assert [s.id for s in found] == [due.id, boundary.id]


async def test_expire_shares_is_recorded_and_idempotent(records: SqlRecords, case: Case) -> None:
    due = make_share(case, days=1)
    later = make_share(case, days=30)
    await add(records, due, later)
    now = T0 + timedelta(days=3)
    assert await expire_shares(records, now) == 1
    assert await expire_shares(records, now) == 0
    expired = await read(records, due.id)
    still = await read(records, later.id)
    assert expired is not None
    assert still is not None
    assert (expired.status, still.status) == (ShareStatus.EXPIRED, ShareStatus.APPROVED)
    async with records.unit() as unit:
        entries = await unit.custody(case.id)
        head = await unit.custody_head(case.id)
        assert await unit.take_download(due.id, T0) is None
    assert [(e.action, e.details["share"]) for e in entries] == [(Action.SHARE_EXPIRED, due.id)]
    assert verify_chain(case.id, entries, head).ok


async def test_a_token_hash_belongs_to_one_share(records: SqlRecords, case: Case) -> None:
    token = new_link_token().sha256
    await add(records, make_share(case, token=token))
    with pytest.raises(Exception, match=r"(?i)unique"):
        await add(records, make_share(case, token=token))


async def test_a_decision_weighed_on_a_share_that_changed_is_weighed_again(
    records: SqlRecords, case: Case
) -> None:
    """`decide_share` takes a click's decision only for the share it was made on."""
    pending = make_share(case, status=ShareStatus.PENDING)
    await add(records, pending)
    approver = Officer("approver-oid", "DS Sam Patel", roles=frozenset({Role.APPROVER}))
    members = frozenset({"approver-oid"})
    # Weighed on a copy read before the request lapsed: a stale "allowed".
    stale = PolicyAnswer(replace(pending, request_expires_at=T0 + timedelta(days=30)), ALLOWED)

    async def reject(unit: RecordsUnit) -> ShareDecision:
        return await decide_share(
            unit, approver, pending.id, case, members, ShareAction.REJECT,
            note="not needed", token=None, integrity_problem=None,
            now=T0 + timedelta(days=8), decided=stale,
        )  # fmt: skip

    outcome = await run_unit(records, reject)
    assert outcome.refused == "the request has expired"
    assert not outcome.changed


APPROVER = Officer("approver-oid", "DS Sam Patel", roles=frozenset({Role.APPROVER}))
REQUESTER = Officer(OFFICER_ID, "PC Jane Smith", roles=frozenset({Role.OFFICER}))
MEMBERS = frozenset({"approver-oid", OFFICER_ID})


async def _decide(
    records: SqlRecords,
    officer: Officer,
    share: Share,
    case: Case,
    action: ShareAction,
    *,
    note: str | None = None,
    at: datetime = T0 + timedelta(hours=1),
    flags_read: bool = False,
) -> ShareDecision:
    async def work(unit: RecordsUnit) -> ShareDecision:
        return await decide_share(
            unit, officer, share.id, case, MEMBERS, action, note=note,
            token=new_link_token() if action is ShareAction.APPROVE else None,
            integrity_problem=None, now=at, flags_read=flags_read,
        )  # fmt: skip

    return await run_unit(records, work)


async def test_a_revocation_keeps_who_approved(records: SqlRecords, case: Case) -> None:
    """Issue 13 item 2: revoking used to overwrite `decided_by` with the revoker."""
    pending = make_share(case, status=ShareStatus.PENDING)
    await add(records, pending)
    approved_at, revoked_at = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    await _decide(records, APPROVER, pending, case, ShareAction.APPROVE, note="ok for trial",
                  at=approved_at)  # fmt: skip
    revoked = await _decide(records, REQUESTER, pending, case, ShareAction.REVOKE,
                            note="sent to the wrong lawyer", at=revoked_at)  # fmt: skip
    again = await _decide(records, REQUESTER, pending, case, ShareAction.REVOKE, at=revoked_at)

    stored = await read(records, pending.id)
    assert stored is not None
    assert revoked.changed
    assert not again.changed  # a repeat by the same officer changes and records nothing
    assert stored == revoked.share
    assert stored.status is ShareStatus.REVOKED
    assert (stored.decided_by, stored.decided_by_name, stored.decided_at) == (
        "approver-oid", "DS Sam Patel", approved_at)  # fmt: skip
    assert stored.decision_reason == "ok for trial"
    assert (stored.revoked_by, stored.revoked_by_name, stored.revoked_at) == (
        OFFICER_ID, "PC Jane Smith", revoked_at)  # fmt: skip
    assert stored.revocation_reason == "sent to the wrong lawyer"
    async with records.unit() as unit:
        actions = [e.action for e in await unit.custody(case.id)]
    assert actions == [Action.SHARE_APPROVED, Action.SHARE_REVOKED]


async def test_a_request_key_holds_one_share(records: SqlRecords, case: Case) -> None:
    first = replace(make_share(case, status=ShareStatus.PENDING), request_key="k" * 64)
    second = replace(make_share(case, status=ShareStatus.PENDING), request_key="k" * 64)
    keyless = [make_share(case, status=ShareStatus.PENDING) for _ in range(2)]
    async with records.unit() as unit:
        assert await unit.add_share(first)
        assert not await unit.add_share(second)  # nothing stored, the unit still usable
        assert all([await unit.add_share(share) for share in keyless])  # NULL keys never clash
        assert await unit.share_by_request_key("k" * 64) == first
        assert await unit.share_by_request_key("x" * 64) is None
    assert await read(records, second.id) is None


async def test_approving_a_flagged_exhibit_needs_the_flags_read(
    records: SqlRecords, case: Case
) -> None:
    pending = make_share(case, status=ShareStatus.PENDING)
    await add(records, pending)
    async with records.unit() as unit:
        await unit.append_custody(
            CustodyEvent.by(
                REQUESTER,
                Action.EXHIBIT_FLAGGED,
                case.id,
                T0,
                {"comment": "faces not redacted"},
                exhibit_id=pending.exhibit_ids[1],
            )
        )

    unread = await _decide(records, APPROVER, pending, case, ShareAction.APPROVE)
    read_ = await _decide(records, APPROVER, pending, case, ShareAction.APPROVE, flags_read=True)

    assert unread.refused is not None
    assert "flagged" in unread.refused
    assert pending.exhibit_ids[1] in unread.refused  # no stored exhibit: named by its id
    assert not unread.changed
    assert read_.changed
    assert read_.share.status is ShareStatus.APPROVED
