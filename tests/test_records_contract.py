"""The records contract, run against SQLite (a file) and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from evidence.custody import (
    GENESIS,
    Action,
    Actor,
    ChainReport,
    CustodyEntry,
    CustodyEvent,
    verify_chain,
)
from evidence.errors import Conflict
from evidence.model import Case, ChannelBinding, Exhibit, ExhibitRef, SourceKind
from evidence.records import DuplicateCase, IntakeJob, JobStatus, Records, RecordsUnit, run_unit
from storage.database import create_engine
from storage.migrate import current_revision, head_revision, migrate
from storage.records import SqlRecords
from storage.tables import custody_entries, custody_heads, metadata, open_job_key_index

pytest_plugins = ["tests.support.postgres", "tests.support.record_backends"]

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
OFFICER = Actor("0b6c2f1e-7d4a-4c1b-9e3f-2a5d8c7b6e4f", "PC Jane Smith")


@pytest.fixture
def empty_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new database without any table."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    return cast(str, request.getfixturevalue("postgres_database"))


# -- builders ----------------------------------------------------------------------------


def new_id() -> str:
    return str(uuid.uuid4())


def make_case(reference: str = "MET-26-0001", *, at: datetime = T0) -> Case:
    return Case(
        id=new_id(),
        reference=reference,
        title="Burglary at 12 Acacia Avenue",
        region="uksouth",
        created_by=OFFICER.id,
        created_at=at,
    )


def make_channel(channel_id: str = "19:case-channel@thread.tacv2") -> ChannelBinding:
    return ChannelBinding(
        team_id="19:team@thread.tacv2",
        channel_id=channel_id,
        graph_team_id="8d2f3c4b-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
        conversation_reference='{"conversation": {"id": "19:case-channel@thread.tacv2"}}',
        tenant_id="72f988bf-86f1-41af-91ab-2d7cd011db47",
    )


def make_exhibit(
    case: Case, initials: str, number: int, *, at: datetime | None = T0, **details: Any
) -> Exhibit:
    return Exhibit(
        id=new_id(),
        case_id=case.id,
        ref=ExhibitRef(initials, number),
        produced_by=OFFICER.id,
        produced_by_name=OFFICER.name,
        original_name=f"statement {initials}-{number}.pdf",
        stored_name=f"statement_{initials}-{number}.pdf",
        declared_type="application/pdf",
        detected_type="application/pdf",
        size=5_000_000_000,  # over 2**32: a BIGINT
        sha256="ab" * 32,
        region=case.region,
        blob_name=f"{case.id}/{initials}-{number}",
        source=SourceKind.SHAREPOINT,
        source_details=details,
        created_at=at,
    )


def make_job(case: Case, job_id: str | None = None) -> IntakeJob:
    return IntakeJob(
        id=job_id or f"activity-{uuid.uuid4().hex}:0",
        case_id=case.id,
        officer_id=OFFICER.id,
        officer_name=OFFICER.name,
        source_kind="teams_file",
        source_url="https://files.example/download/abc",
        file_name="cctv.mp4",
        declared_type="video/mp4",
        declared_size=None,
        status=JobStatus.QUEUED,
        attempts=0,
        created_at=T0,
        updated_at=T0,
        conversation_reference="{}",
    )


def make_event(chain: str, n: int = 0, **details: Any) -> CustodyEvent:
    return CustodyEvent(
        chain=chain,
        actor=OFFICER,
        action=Action.EXHIBIT_VIEWED,
        at=T0 + timedelta(seconds=n),
        case_id=chain,
        details={"n": n, **details},
    )


async def stored_case(records: Records, reference: str = "MET-26-0001") -> Case:
    case = make_case(reference)
    async with records.unit() as unit:
        await unit.add_case(case)
    return case


# -- migrations ----------------------------------------------------------------------------


async def test_migrating_twice_is_a_noop(empty_url: str) -> None:
    engine = create_engine(empty_url)
    try:
        assert await current_revision(engine) is None
        await migrate(engine)
        assert await current_revision(engine) == head_revision()
        records = SqlRecords(engine)
        case = await stored_case(records)
        await migrate(engine)
        assert await current_revision(engine) == head_revision()
        async with records.unit() as unit:
            assert await unit.case_by_id(case.id) == case
    finally:
        await engine.dispose()


async def test_concurrent_migrations_all_succeed(empty_url: str) -> None:
    """Two processes (the command line, given the URL) and two tasks migrate at once."""
    first, second, _, _ = await asyncio.gather(
        alembic_cli(empty_url, "upgrade", "head"),
        alembic_cli(empty_url, "upgrade", "head"),
        migrate(empty_url),
        migrate(empty_url),
    )
    assert first[0] == 0, first[1]
    assert second[0] == 0, second[1]
    engine = create_engine(empty_url)
    try:
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_tables(records: SqlRecords, engine: AsyncEngine) -> None:
    open_job_key_index()

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []


def test_alembic_command_line_without_a_url_says_how_to_give_one() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "EXHIBIT_DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT, env=environment, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "-x url=" in done.stderr + done.stdout


# -- cases ---------------------------------------------------------------------------------


async def test_case_round_trip_by_id_reference_and_channel(records: SqlRecords) -> None:
    case = await stored_case(records)
    channel = make_channel()
    async with records.unit() as unit:
        assert await unit.case_by_id(case.id) == case
        assert await unit.case_by_reference("MET-26-0001") == case
        assert await unit.case_by_reference("MET-26-9999") is None
        assert await unit.case_by_channel(channel.channel_id) is None
        await unit.bind_channel(case.id, channel)
    bound = Case(**{**_fields(case), "channel": channel})
    async with records.unit() as unit:
        assert await unit.case_by_channel(channel.channel_id) == bound
        assert await unit.case_by_id(case.id) == bound


async def test_case_created_with_a_channel_round_trips(records: SqlRecords) -> None:
    case = Case(**{**_fields(make_case()), "channel": make_channel()})
    async with records.unit() as unit:
        await unit.add_case(case)
    async with records.unit() as unit:
        assert await unit.case_by_channel(make_channel().channel_id) == case


async def test_a_bound_case_keeps_its_channel_and_a_channel_holds_one_case(
    records: SqlRecords,
) -> None:
    first = await stored_case(records, "MET-26-0101")
    second = await stored_case(records, "MET-26-0102")
    async with records.unit() as unit:
        assert await unit.bind_channel(first.id, make_channel())
        assert not await unit.bind_channel(first.id, make_channel("19:elsewhere@thread.tacv2"))
        assert not await unit.bind_channel(second.id, make_channel())
    async with records.unit() as unit:
        bound = await unit.case_by_channel(make_channel().channel_id)
        unbound = await unit.case_by_id(second.id)
    assert bound is not None
    assert bound.id == first.id
    assert unbound is not None
    assert unbound.channel is None


async def test_a_channel_keeps_its_name_and_a_rename_needs_the_binding(
    records: SqlRecords,
) -> None:
    case = await stored_case(records, "MET-26-0103")
    named = replace(make_channel(), name="Op Kestrel — «evidence»")
    async with records.unit() as unit:
        assert await unit.bind_channel(case.id, named)
    async with records.unit() as unit:
        bound = await unit.case_by_id(case.id)
        assert bound is not None
        assert bound.channel == named
        # Only for the channel the case is bound to.
        assert not await unit.rename_channel(case.id, "19:elsewhere@thread.tacv2", "Other")
        assert await unit.rename_channel(case.id, named.channel_id, "Op Kestrel (closed)")
    async with records.unit() as unit:
        renamed = await unit.case_by_channel(named.channel_id)
    assert renamed is not None
    assert renamed.channel == replace(named, name="Op Kestrel (closed)")


async def test_binding_an_unknown_case_is_a_lookup_error(records: SqlRecords) -> None:
    with pytest.raises(LookupError):
        async with records.unit() as unit:
            await unit.bind_channel("no-such-case", make_channel())


async def test_cases_newest_first_with_limit(records: SqlRecords) -> None:
    async with records.unit() as unit:
        for n in range(3):
            await unit.add_case(make_case(f"MET-26-000{n}", at=T0 + timedelta(days=n)))
    async with records.unit() as unit:
        assert [c.reference for c in await unit.cases()] == [
            "MET-26-0002",
            "MET-26-0001",
            "MET-26-0000",
        ]
        assert [c.reference for c in await unit.cases(limit=1)] == ["MET-26-0002"]


async def test_duplicate_reference_raises_and_leaves_the_unit_usable(
    records: SqlRecords,
) -> None:
    first = await stored_case(records)
    other = make_case("MET-26-0002")
    async with records.unit() as unit:
        with pytest.raises(DuplicateCase) as raised:
            await unit.add_case(make_case(first.reference))
        assert raised.value.reference == first.reference
        await unit.add_case(other)  # the transaction was not poisoned
    async with records.unit() as unit:
        assert {c.id for c in await unit.cases()} == {first.id, other.id}
        assert await unit.case_by_reference(first.reference) == first


async def test_a_failed_unit_writes_nothing(records: SqlRecords) -> None:
    case = make_case()
    with pytest.raises(Abandoned):
        await abandon_unit(records, lambda unit: unit.add_case(case))
    async with records.unit() as unit:
        assert await unit.case_by_id(case.id) is None


# -- exhibits ------------------------------------------------------------------------------


async def test_exhibit_round_trip_and_recorded_order(records: SqlRecords) -> None:
    case = await stored_case(records)
    later = make_exhibit(case, "JS", 1, at=T0 + timedelta(minutes=5), drive_item="01ABC", etag=3)
    earlier = make_exhibit(case, "AB", 1, at=T0)
    last = make_exhibit(case, "JS", 2, at=T0 + timedelta(minutes=9))
    async with records.unit() as unit:
        for exhibit in (later, earlier, last):
            await unit.add_exhibit(exhibit)
    async with records.unit() as unit:
        assert await unit.exhibit_by_id(later.id) == later
        assert await unit.exhibit_by_ref(case.id, "JS", 1) == later
        assert await unit.exhibit_by_ref(case.id, "JS", 3) is None
        assert await unit.exhibit_by_id("nope") is None
        assert await unit.exhibits_of(case.id) == [earlier, later, last]


async def test_exhibit_without_a_time_gets_the_database_time(records: SqlRecords) -> None:
    case = await stored_case(records)
    exhibit = make_exhibit(case, "JS", 1, at=None)
    async with records.unit() as unit:
        await unit.add_exhibit(exhibit)
    async with records.unit() as unit:
        stored = await unit.exhibit_by_id(exhibit.id)
    assert stored is not None
    assert stored.created_at is not None
    assert stored.created_at.utcoffset() == timedelta(0)
    assert abs(stored.created_at - datetime.now(UTC)) < timedelta(minutes=1)


async def test_numbers_run_per_initials_and_per_case(records: SqlRecords) -> None:
    one = await stored_case(records, "MET-26-0001")
    two = await stored_case(records, "MET-26-0002")
    async with records.unit() as unit:
        numbers = [
            await unit.next_exhibit_number(one.id, "JS"),
            await unit.next_exhibit_number(one.id, "JS"),
            await unit.next_exhibit_number(one.id, "AB"),
            await unit.next_exhibit_number(two.id, "JS"),
        ]
    async with records.unit() as unit:
        numbers.append(await unit.next_exhibit_number(one.id, "JS"))
    assert numbers == [1, 2, 1, 1, 3]


async def test_concurrent_units_number_exhibits_without_gaps(records: SqlRecords) -> None:
    case = await stored_case(records)

    async def intake(unit: RecordsUnit) -> int:
        number = await unit.next_exhibit_number(case.id, "JS")
        await asyncio.sleep(0)  # hold the number while the others try
        await unit.add_exhibit(make_exhibit(case, "JS", number))
        return number

    numbers = await asyncio.gather(*(run_unit(records, intake) for _ in range(20)))
    assert sorted(numbers) == list(range(1, 21))
    async with records.unit() as unit:
        stored = sorted(e.ref.number for e in await unit.exhibits_of(case.id))
    assert stored == list(range(1, 21))


async def test_a_rolled_back_allocation_leaves_no_gap(records: SqlRecords) -> None:
    case = await stored_case(records)
    async with records.unit() as unit:
        assert await unit.next_exhibit_number(case.id, "JS") == 1
    with pytest.raises(Abandoned):
        await abandon_unit(records, lambda unit: unit.next_exhibit_number(case.id, "JS"))
    async with records.unit() as unit:
        assert await unit.next_exhibit_number(case.id, "JS") == 2


async def test_opposite_lock_orders_complete_through_retries(
    records: SqlRecords, engine: AsyncEngine
) -> None:
    """Two units lock two counters in opposite orders: PostgreSQL kills one, `run_unit` reruns."""
    case = await stored_case(records)
    holding = {"AA": asyncio.Event(), "BB": asyncio.Event()}
    attempts: list[str] = []

    def crossing(first: str, second: str) -> Callable[[RecordsUnit], Awaitable[int]]:
        async def work(unit: RecordsUnit) -> int:
            attempts.append(first)
            await unit.next_exhibit_number(case.id, first)
            holding[first].set()
            # SQLite serializes the units, so the other one may never get here: do not wait long.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(holding[second].wait(), timeout=0.5)
            return await unit.next_exhibit_number(case.id, second)

        return work

    results = await asyncio.gather(
        run_unit(records, crossing("AA", "BB")), run_unit(records, crossing("BB", "AA"))
    )
    assert sorted(results) == [1, 2]
    if engine.dialect.name == "postgresql":
        assert len(attempts) == 3  # one deadlock, one rerun
    async with records.unit() as unit:
        assert await unit.next_exhibit_number(case.id, "AA") == 3
        assert await unit.next_exhibit_number(case.id, "BB") == 3


async def test_run_unit_reruns_on_conflict_and_gives_up_after_the_attempts(
    records: SqlRecords,
) -> None:
    calls: list[int] = []

    async def flaky(unit: RecordsUnit) -> str:
        calls.append(1)
        await unit.add_case(make_case(f"MET-26-{len(calls):04d}"))
        if len(calls) < 3:
            raise Conflict("simulated")
        return "done"

    assert await run_unit(records, flaky) == "done"
    async with records.unit() as unit:
        assert [c.reference for c in await unit.cases()] == ["MET-26-0003"]

    async def hopeless(unit: RecordsUnit) -> None:
        calls.append(1)
        raise Conflict("always")

    calls.clear()
    with pytest.raises(Conflict, match="always"):
        await run_unit(records, hopeless, attempts=2)
    assert len(calls) == 2


async def test_waiting_too_long_for_a_lock_is_a_conflict(
    records: SqlRecords, database_url: str, backend: str
) -> None:
    """Another process holds the chain: past its lock timeout a unit gives up with `Conflict`."""
    chain = new_id()
    impatient = (
        create_engine(database_url, sqlite_busy_timeout_ms=100)
        if backend == "sqlite"
        else create_engine(database_url, connect_args={"server_settings": {"lock_timeout": "100"}})
    )
    holding = asyncio.Event()
    done = asyncio.Event()

    async def hold(unit: RecordsUnit) -> None:
        await unit.append_custody(make_event(chain, 1))
        holding.set()
        await asyncio.wait_for(done.wait(), timeout=10)

    async def collide() -> None:
        await holding.wait()
        try:
            with pytest.raises(Conflict):
                async with SqlRecords(impatient).unit() as unit:
                    await unit.append_custody(make_event(chain, 2))
        finally:
            done.set()

    try:
        await asyncio.gather(in_new_unit(records, hold), collide())
    finally:
        await impatient.dispose()
    await assert_chain_verifies(records, chain, 1)


async def test_units_do_not_nest(records: SqlRecords) -> None:
    async def nested(unit: RecordsUnit) -> None:
        async with records.unit():
            pass

    with pytest.raises(RuntimeError, match="inside another"):
        await in_new_unit(records, nested)
    async with records.unit() as unit:  # and the store is still usable
        assert await unit.cases() == []


# -- intake jobs ---------------------------------------------------------------------------


async def test_add_job_twice_returns_false_and_the_unit_still_commits(
    records: SqlRecords,
) -> None:
    case = await stored_case(records)
    job = make_job(case, "activity-1:0")
    other = make_job(case, "activity-1:1")
    async with records.unit() as unit:
        assert await unit.add_job(job) is True
    async with records.unit() as unit:
        changed = IntakeJob(**{**_fields(job), "file_name": "changed.mp4"})
        assert await unit.add_job(changed) is False
        assert await unit.add_job(other) is True
    async with records.unit() as unit:
        assert await unit.job(job.id) == job
        assert await unit.job(other.id) == other


async def test_save_job_round_trip(records: SqlRecords) -> None:
    case = await stored_case(records)
    exhibit = make_exhibit(case, "JS", 1)
    job = make_job(case)
    async with records.unit() as unit:
        await unit.add_exhibit(exhibit)
        await unit.add_job(job)
    done = IntakeJob(
        **{
            **_fields(job),
            "status": JobStatus.COMPLETED,
            "attempts": 2,
            "declared_size": 7_000_000_000,
            "updated_at": T0 + timedelta(minutes=3),
            "receipt_activity_id": "1712345678901",
            "exhibit_id": exhibit.id,
            "error": None,
            "source_details": {"drive_id": "b!x", "quick_xor_hash": "aCgDG9jwBhDc4Q1yawMZAAAAAAA="},
        }
    )
    async with records.unit() as unit:
        await unit.save_job(done)
    async with records.unit() as unit:
        assert await unit.job(job.id) == done
        assert await unit.job("missing") is None
    with pytest.raises(LookupError):
        async with records.unit() as unit:
            await unit.save_job(make_job(case, "never-added"))


# -- custody -------------------------------------------------------------------------------


async def test_appended_entries_form_a_verifiable_chain(records: SqlRecords) -> None:
    chain = new_id()
    appended: list[CustodyEntry] = []
    async with records.unit() as unit:
        assert await unit.custody_head(chain) is None
        appended.append(await unit.append_custody(make_event(chain, 1)))
        appended.append(await unit.append_custody(make_event(chain, 2)))
    async with records.unit() as unit:
        appended.append(await unit.append_custody(make_event(chain, 3)))
    async with records.unit() as unit:
        entries = await unit.custody(chain)
        head = await unit.custody_head(chain)
        assert await unit.custody("other-chain") == []
    assert entries == appended
    assert [e.sequence for e in entries] == [1, 2, 3]
    assert entries[0].previous_hash == GENESIS
    assert head == (3, entries[-1].hash)
    assert verify_chain(chain, entries, head).ok


async def test_custody_about_some_exhibits_and_actions(records: SqlRecords) -> None:
    chain = new_id()
    kinds = [
        ("e1", Action.EXHIBIT_REVIEWED),
        ("e2", Action.EXHIBIT_FLAGGED),
        ("e1", Action.EXHIBIT_VIEWED),
        (None, Action.CASE_VIEWED),
        ("e3", Action.EXHIBIT_REVIEWED),
        ("e1", Action.EXHIBIT_FLAGGED),
    ]
    async with records.unit() as unit:
        for n, (exhibit_id, action) in enumerate(kinds, start=1):
            event = replace(make_event(chain, n), action=action, exhibit_id=exhibit_id)
            await unit.append_custody(event)
    reviews = (Action.EXHIBIT_REVIEWED, Action.EXHIBIT_FLAGGED)
    async with records.unit() as unit:
        about = await unit.custody_about(chain, ["e1", "e2"], reviews)
        nothing = await unit.custody_about(chain, [], reviews)
        other = await unit.custody_about("other-chain", ["e1"], reviews)
    assert [(e.sequence, e.exhibit_id, e.action) for e in about] == [
        (1, "e1", Action.EXHIBIT_REVIEWED),
        (2, "e2", Action.EXHIBIT_FLAGGED),
        (6, "e1", Action.EXHIBIT_FLAGGED),
    ]
    assert nothing == []
    assert other == []


async def test_custody_details_round_trip_exactly(records: SqlRecords) -> None:
    details: dict[str, Any] = {
        "name": "Zeugenaussage ✓ 証拠 äöü.pdf",
        "size": 2**62 + 1,
        "negative": -7,
        "flags": [True, False, None],
        "nested": {"list": [1, "two", {"k": []}], "empty": {}},
        "quote": 'a "quoted" \\ backslash\nnewline',
    }
    chain = new_id()
    async with records.unit() as unit:
        sealed = await unit.append_custody(make_event(chain, 1, **details))
    async with records.unit() as unit:
        (stored,) = await unit.custody(chain)
        head = await unit.custody_head(chain)
    assert stored.details == {"n": 1, **details}
    assert stored == sealed
    assert verify_chain(chain, [stored], head).ok


async def test_times_come_back_aware_utc_and_equal(records: SqlRecords) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    local = datetime(2026, 7, 1, 23, 59, 59, 999999, tzinfo=india)
    case = make_case(at=local)
    chain = case.id
    event = CustodyEvent(chain, OFFICER, Action.CASE_OPENED, local, case_id=case.id)
    async with records.unit() as unit:
        await unit.add_case(case)
        await unit.append_custody(event)
    async with records.unit() as unit:
        stored_case = await unit.case_by_id(case.id)
        (entry,) = await unit.custody(chain)
    assert stored_case is not None
    for value in (stored_case.created_at, entry.at):
        assert value == local
        assert value.tzinfo is UTC
        assert value == datetime(2026, 7, 1, 18, 29, 59, 999999, tzinfo=UTC)


async def test_naive_times_are_refused(records: SqlRecords) -> None:
    naive = datetime(2026, 3, 1, 9, 30)  # noqa: DTZ001 (the point of the test)
    with pytest.raises(StatementError, match="naive datetime"):
        async with records.unit() as unit:
            await unit.add_case(make_case(at=naive))


async def test_concurrent_appends_to_one_chain_stay_linear(records: SqlRecords) -> None:
    chain = new_id()

    def appending(n: int) -> Callable[[RecordsUnit], Awaitable[int]]:
        async def append(unit: RecordsUnit) -> int:
            entry = await unit.append_custody(make_event(chain, n))
            await asyncio.sleep(0)  # hold the head while the others try
            return entry.sequence

        return append

    sequences = await asyncio.gather(*(run_unit(records, appending(n)) for n in range(50)))
    assert sorted(sequences) == list(range(1, 51))
    await assert_chain_verifies(records, chain, 50)


async def test_appends_from_two_engines_stay_linear(records: SqlRecords, database_url: str) -> None:
    """Two engines on one database stand for two processes: no shared in-process lock."""
    chain = new_id()
    second_engine = create_engine(database_url)
    try:
        stores = (records, SqlRecords(second_engine))
        await asyncio.gather(
            *(run_unit(stores[n % 2], appending(make_event(chain, n))) for n in range(30))
        )
    finally:
        await second_engine.dispose()
    await assert_chain_verifies(records, chain, 30)


async def test_tampering_is_detected_and_located(records: SqlRecords, engine: AsyncEngine) -> None:
    chain = new_id()
    async with records.unit() as unit:
        for n in range(1, 6):
            await unit.append_custody(make_event(chain, n))
    await assert_chain_verifies(records, chain, 5)

    async with engine.begin() as connection:
        await connection.execute(
            update(custody_entries)
            .where(custody_entries.c.chain == chain, custody_entries.c.sequence == 2)
            .values(details={"n": 2, "edited": True})
        )
    report = await chain_report(records, chain)
    assert (report.first_bad, report.problem) == (2, "entry was altered")

    async with engine.begin() as connection:
        await connection.execute(
            delete(custody_entries).where(
                custody_entries.c.chain == chain, custody_entries.c.sequence == 2
            )
        )
    report = await chain_report(records, chain)
    assert (report.first_bad, report.problem) == (2, "entry 2 is missing")


async def test_deleting_the_last_entry_is_detected_through_the_head(
    records: SqlRecords, engine: AsyncEngine
) -> None:
    chain = new_id()
    async with records.unit() as unit:
        for n in range(1, 4):
            await unit.append_custody(make_event(chain, n))
    async with engine.begin() as connection:
        await connection.execute(
            delete(custody_entries).where(
                custody_entries.c.chain == chain, custody_entries.c.sequence == 3
            )
        )
        heads = await connection.execute(
            select(func.count()).select_from(custody_heads).where(custody_heads.c.chain == chain)
        )
        assert heads.scalar_one() == 1
    async with records.unit() as unit:
        entries = await unit.custody(chain)
        head = await unit.custody_head(chain)
    assert verify_chain(chain, entries).ok  # without the head it looks complete
    report = verify_chain(chain, entries, head)
    assert (report.first_bad, report.problem) == (3, "entries after 2 are missing")


async def test_a_rolled_back_append_leaves_the_chain_as_it_was(records: SqlRecords) -> None:
    chain = new_id()
    async with records.unit() as unit:
        await unit.append_custody(make_event(chain, 1))
    with pytest.raises(Abandoned):
        await abandon_unit(records, lambda unit: unit.append_custody(make_event(chain, 2)))
    async with records.unit() as unit:
        assert (await unit.append_custody(make_event(chain, 3))).sequence == 2
    await assert_chain_verifies(records, chain, 2)


# -- helpers -------------------------------------------------------------------------------


class Abandoned(Exception):
    """Raised by a test inside a unit, after its work, to make the unit roll back."""


async def abandon_unit(records: Records, work: Callable[[RecordsUnit], Awaitable[object]]) -> None:
    async with records.unit() as unit:
        await work(unit)
        raise Abandoned


async def in_new_unit(records: Records, work: Callable[[RecordsUnit], Awaitable[None]]) -> None:
    async with records.unit() as unit:
        await work(unit)


def appending(event: CustodyEvent) -> Callable[[RecordsUnit], Awaitable[CustodyEntry]]:
    return lambda unit: unit.append_custody(event)


async def alembic_cli(url: str, *command: str) -> tuple[int, str]:
    """Run `alembic -x url=URL COMMAND...` from the repository root, as an operator would."""
    environment = {k: v for k, v in os.environ.items() if k != "EXHIBIT_DATABASE_URL"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alembic", "-x", f"url={url}", *command,
        cwd=ROOT, env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


def _fields(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in type(value).__slots__}


async def chain_report(records: Records, chain: str) -> ChainReport:
    async with records.unit() as unit:
        entries = await unit.custody(chain)
        head = await unit.custody_head(chain)
    return verify_chain(chain, entries, head)


async def assert_chain_verifies(records: Records, chain: str, length: int) -> None:
    async with records.unit() as unit:
        entries = await unit.custody(chain)
        head = await unit.custody_head(chain)
    assert [e.sequence for e in entries] == list(range(1, length + 1))
    report = verify_chain(chain, entries, head)
    assert report.ok, report
    assert head == (length, entries[-1].hash)


def test_the_migrate_command_brings_a_new_database_to_the_newest_revision(
    tmp_path: Path,
) -> None:
    database = tmp_path / "exhibit.db"
    env = {
        "PATH": os.environ["PATH"],
        "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS": "true",
        "EXHIBIT_ALLOWED_TENANTS": "6d2c4a10-5b1e-4c8f-9a3e-0e5f1b7c2d41",
        "EXHIBIT_REGION_UKSOUTH_CONNECTION_STRING": "UseDevelopmentStorage=true",
        "EXHIBIT_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
    }
    done = subprocess.run(  # noqa: S603 (our own interpreter and module, fixed arguments)
        [sys.executable, "-m", "exhibit", "migrate", "--env-file", str(tmp_path / "none")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"Database schema at revision {head_revision()}."
    again = subprocess.run(  # noqa: S603 (as above)
        [sys.executable, "-m", "exhibit", "migrate", "--env-file", str(tmp_path / "none")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert again.returncode == 0, again.stderr
