"""Intake-job and exhibit ids are random; idempotency is a separate key scoped to a conversation.

Teams message ids are visible to every member of a conversation and unique only within it: an id
derived from one is guessable, and two conversations with the same message id must not share a
job. Run against SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evidence.intake import IncomingFile, Received, complete_intake, idempotency_key, start_intake
from evidence.model import Case, SourceKind
from evidence.records import IntakeJob
from evidence.stored_blob import StoredBlob
from storage.database import create_engine
from storage.migrate import migrate
from storage.records import SqlRecords
from tests.support import people

pytest_plugins = ["tests.support.postgres", "tests.support.record_backends"]

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
JANE = people.JANE.officer()
MESSAGE_ID = "1732570000001"
FILES = [
    IncomingFile(SourceKind.TEAMS_FILE, "https://files.example/a", "a.jpg", "image/jpeg"),
    IncomingFile(SourceKind.TEAMS_FILE, "https://files.example/b", "b.pdf", "application/pdf"),
]


async def _case(records: SqlRecords) -> Case:
    case = Case(str(uuid.uuid4()), "MET-26-0100", "Burglary", "uksouth", JANE.object_id, T0)
    async with records.unit() as unit:
        await unit.add_case(case)
    return case


async def _start(records: SqlRecords, case: Case, conversation: str) -> list[IntakeJob]:
    async with records.unit() as unit:
        jobs, decision = await start_intake(
            unit, JANE, case, frozenset(), FILES, conversation_id=conversation,
            activity_id=MESSAGE_ID, conversation_reference="{}", receipt_activity_id=None, now=T0,
        )  # fmt: skip
    assert decision.allowed
    return jobs


async def test_a_redelivered_activity_creates_nothing_new(records: SqlRecords) -> None:
    case = await _case(records)
    first = await _start(records, case, "a:jane-personal-chat")
    again = await _start(records, case, "a:jane-personal-chat")
    assert len(first) == 2
    assert again == []
    async with records.unit() as unit:
        for index, job in enumerate(first):
            key = idempotency_key("a:jane-personal-chat", MESSAGE_ID, index)
            assert await unit.job_by_idempotency_key(key) == job


async def test_one_message_id_in_two_conversations_is_two_jobs_and_two_exhibits(
    records: SqlRecords,
) -> None:
    case = await _case(records)
    mine = await _start(records, case, "a:jane-personal-chat")
    theirs = await _start(records, case, "19:group-chat@thread.v2")
    assert len(mine) == len(theirs) == 2
    assert {job.id for job in mine}.isdisjoint(job.id for job in theirs)
    exhibits = []
    for job in (mine[0], theirs[0]):
        stored = StoredBlob(
            "uksouth", f"{case.id}/{job.id}", 3, hashlib.sha256(b"abc").hexdigest(), None
        )
        received = Received(stored, "a.jpg", "image/jpeg", "JS")
        async with records.unit() as unit:
            exhibits.append(await complete_intake(unit, job, case, received, now=T0))
    assert exhibits[0].id != exhibits[1].id
    assert [str(e.ref) for e in exhibits] == ["JS/1", "JS/2"]


@pytest.mark.parametrize("index", [0, 1])
async def test_ids_are_not_a_function_of_the_message(
    records: SqlRecords, tmp_path: Path, index: int
) -> None:
    """The same message, file and conversation in another database gets another id."""
    elsewhere_engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'elsewhere.db'}")
    try:
        await migrate(elsewhere_engine)
        elsewhere = SqlRecords(elsewhere_engine)
        here = (await _start(records, await _case(records), "a:chat"))[index]
        there = (await _start(elsewhere, await _case(elsewhere), "a:chat"))[index]
    finally:
        await elsewhere_engine.dispose()
    assert here.idempotency_key == there.idempotency_key  # the source is the same...
    assert here.id != there.id  # ...its job (and so exhibit and blob) id is not derived from it
    assert MESSAGE_ID not in here.id
    assert len(here.id) >= 32
    derived = hashlib.sha256(f"{MESSAGE_ID}\x00{index}".encode()).hexdigest()
    assert derived[:32] not in {here.id, there.id}
