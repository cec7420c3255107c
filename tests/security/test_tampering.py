"""The tamper table: what someone with the service's database connection string (or the storage
account) can change, and how Exhibit names it.

Each test builds a case through the real app (Azurite for evidence and checkpoints, SQLite or
PostgreSQL for records), tampers with direct SQL on its own connection or with the storage SDK,
then asserts what is reported and where: the domain's report (`Anchoring.check`) and the card
the officer sees. The database alone used to be enough to fool `custody` and `evidence verify`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.storage.blob.aio import BlobServiceClient
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services import Services
from evidence.anchoring import AnchoredReport, FindingKind
from evidence.checkpoints import Checkpoint, SignedCheckpoint
from evidence.custody import GENESIS, Action, CustodyEntry, entry_hash, verify_chain
from evidence.model import Case, Exhibit
from evidence.shares import ShareStatus
from exhibit.composition import SERVICES
from exhibit.settings import Settings, load_settings
from signing.local import LocalKeySigner, ensure_key_file
from storage.checkpoints import CHECKPOINT_CONTAINER, checkpoint_blob_name
from storage.database import create_engine
from storage.records import SqlRecords
from storage.records.rows import entry_row
from storage.tables import custody_checkpoints, custody_entries, custody_heads, exhibits
from tests.conftest import Azurite
from tests.support.app_records import records as records  # the fixture
from tests.support.conversation import Conversation
from tests.support.people import RAVI
from tests.test_sharing import _case_with_exhibit, _share_id
from tests.test_sharing import file_url as file_url  # the fixture
from tests.test_sharing import team as team  # the fixture

pytest_plugins = ["tests.support.postgres", "tests.support.record_backends"]


@pytest.fixture
def settings(base_env: dict[str, str], database_url: str) -> Settings:
    """The app on the backend under test (SQLite or PostgreSQL)."""
    return load_settings({**base_env, "EXHIBIT_DATABASE_URL": database_url})


@pytest.fixture
async def attacker(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The test's own connection to the database, as someone holding the connection string."""
    engine = create_engine(settings.database_url.get_secret_value())
    yield engine
    await engine.dispose()


def services_of(team: Conversation) -> Services:
    return team.client.app[SERVICES]


async def case_and_exhibit(records: SqlRecords, reference: str) -> tuple[Case, Exhibit]:
    async with records.unit() as unit:
        case = await unit.case_by_reference(reference)
        assert case is not None
        exhibit = await unit.exhibit_by_ref(case.id, "JS", 1)
        assert exhibit is not None
    return case, exhibit


async def chain_of(records: SqlRecords, case: Case) -> list[CustodyEntry]:
    async with records.unit() as unit:
        return list(await unit.custody(case.id))


async def noted(records: SqlRecords, case: Case) -> list[int]:
    async with records.unit() as unit:
        return list(await unit.noted_checkpoints(case.id))


async def report(team: Conversation, case: Case) -> AnchoredReport:
    return (await services_of(team).anchoring.check(case)).report


def kinds(found: AnchoredReport) -> set[str]:
    return {finding.kind for finding in found.findings}


async def database_alone_verifies(records: SqlRecords, case: Case) -> bool:
    """What `custody` used to check: the chain and head row, nothing outside the database."""
    async with records.unit() as unit:
        entries = list(await unit.custody(case.id))
        head = await unit.custody_head(case.id)
    return verify_chain(case.id, entries, head).ok


async def opened_case(
    team: Conversation, file_url: str, records: SqlRecords, reference: str
) -> tuple[Case, Exhibit]:
    """A case with exhibit JS/1 (its intake checkpointed), then verified (checkpointed again)."""
    await _case_with_exhibit(team, file_url, reference)
    case, exhibit = await case_and_exhibit(records, reference)
    assert "Verified" in await team.say(f"evidence verify {reference} JS/1")
    return case, exhibit


# --- the chain: truncation, rewrite, head row ------------------------------------------------


async def test_tail_truncation_with_the_head_updated_is_located(
    team: Conversation, file_url: str, records: SqlRecords, attacker: AsyncEngine
) -> None:
    case, _ = await opened_case(team, file_url, records, "MET-24-0901")
    checkpoints = await noted(records, case)
    entries = await chain_of(records, case)
    intake = next(e for e in entries if e.action == Action.INTAKE_COMPLETED)
    assert intake.sequence in checkpoints
    assert entries[-1].sequence in checkpoints
    keep = intake.sequence  # cut everything after the intake, the verification with it
    async with attacker.begin() as sql:
        await sql.execute(
            delete(custody_entries).where(
                custody_entries.c.chain == case.id, custody_entries.c.sequence > keep
            )
        )
        await sql.execute(
            update(custody_heads)
            .where(custody_heads.c.chain == case.id)
            .values(last_sequence=keep, last_hash=intake.hash)
        )
    assert await database_alone_verifies(records, case)  # what used to say "verified"

    found = await report(team, case)
    assert kinds(found) == {FindingKind.TRUNCATED}
    assert found.findings[0].words == (
        f"the chain was truncated after entry {keep}: checkpoint {entries[-1].sequence} "
        f"shows it had {entries[-1].sequence} entries"
    )
    card = (await team.say("custody MET-24-0901 JS/1")).lower()
    assert "chain of custody not verified" in card
    assert "truncated after entry" in card
    assert f"checkpoint {entries[-1].sequence} shows" in card


async def test_a_full_consistent_rewrite_is_detected_by_the_checkpoints(
    team: Conversation, file_url: str, records: SqlRecords, attacker: AsyncEngine
) -> None:
    case, _ = await opened_case(team, file_url, records, "MET-24-0902")
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason trial"))
    assert "Approved" in await team.click_share("share.approve", share_id, sender=RAVI)
    entries = await chain_of(records, case)
    approved = next(e for e in entries if e.action == Action.SHARE_APPROVED)
    checkpoints = await noted(records, case)
    assert approved.sequence in checkpoints
    before = max(s for s in checkpoints if s < approved.sequence)

    # Ravi's approval becomes Sarah's; every hash from there on recomputed; head updated.
    previous = GENESIS
    rewritten: list[CustodyEntry] = []
    for entry in entries:
        if entry.sequence == approved.sequence:
            entry = replace(entry, actor_id="sarah", actor_name="Sarah Okafor")
        entry = replace(entry, previous_hash=previous)
        entry = replace(entry, hash=entry_hash(entry))
        rewritten.append(entry)
        previous = entry.hash
    async with attacker.begin() as sql:
        await sql.execute(delete(custody_entries).where(custody_entries.c.chain == case.id))
        await sql.execute(custody_entries.insert(), [entry_row(e) for e in rewritten])
        await sql.execute(
            update(custody_heads)
            .where(custody_heads.c.chain == case.id)
            .values(last_sequence=rewritten[-1].sequence, last_hash=rewritten[-1].hash)
        )
    assert await database_alone_verifies(records, case)

    found = await report(team, case)
    assert kinds(found) == {FindingKind.REWRITTEN}
    span = (
        f"entry {approved.sequence} was rewritten"
        if before + 1 == approved.sequence
        else f"entries between {before + 1} and {approved.sequence} were rewritten"
    )
    assert found.findings[0].words.startswith(span)
    assert found.findings[0].sequence == approved.sequence
    card = (await team.say("custody MET-24-0902 JS/1")).lower()
    assert "not verified" in card
    assert span in card


async def test_a_deleted_head_row_is_reported_and_the_case_still_works(
    team: Conversation, file_url: str, records: SqlRecords, attacker: AsyncEngine
) -> None:
    case, _ = await opened_case(team, file_url, records, "MET-24-0903")
    last = (await chain_of(records, case))[-1]
    async with attacker.begin() as sql:
        await sql.execute(delete(custody_heads).where(custody_heads.c.chain == case.id))

    found = await report(team, case)
    assert kinds(found) == {FindingKind.HEAD_MISSING}
    assert "head row is missing" in found.findings[0].words

    # The case keeps working: the next entry rebuilds the head from the last stored entry.
    assert "JS/1" in await team.say("evidence show MET-24-0903 JS/1")
    entries = await chain_of(records, case)
    recovered = entries[last.sequence]  # the entry after the last one before the deletion
    assert recovered.action == Action.CUSTODY_HEAD_RECOVERED
    assert recovered.details["last_sequence"] == last.sequence
    assert entries[last.sequence + 1].action == Action.EXHIBIT_VIEWED
    found = await report(team, case)
    assert [f.kind for f in found.findings] == [FindingKind.HEAD_MISSING]
    assert found.findings[0].sequence == recovered.sequence
    card = (await team.say("custody MET-24-0903 JS/1")).lower()
    assert f"rebuilt from entry {last.sequence}" in card


# --- the checkpoints: deleted, forged ---------------------------------------------------------


def checkpoint_container(azurite: Azurite, region: str) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(azurite.connection_string(region))


async def test_a_deleted_checkpoint_is_reported_missing(
    team: Conversation, file_url: str, records: SqlRecords, azurite: Azurite
) -> None:
    case, _ = await opened_case(team, file_url, records, "MET-24-0904")
    gone = (await noted(records, case))[0]
    async with checkpoint_container(azurite, case.region) as service:
        container = service.get_container_client(CHECKPOINT_CONTAINER)
        await container.delete_blob(checkpoint_blob_name(case.id, gone))

    found = await report(team, case)
    assert kinds(found) == {FindingKind.CHECKPOINT_MISSING}
    assert found.findings[0].sequence == gone
    card = (await team.say("custody MET-24-0904 JS/1")).lower()
    assert f"checkpoint {gone} is missing from the checkpoint store" in card


async def test_forged_checkpoints_are_reported_and_not_trusted(
    team: Conversation, file_url: str, records: SqlRecords, azurite: Azurite, tmp_path: Path
) -> None:
    case, _ = await opened_case(team, file_url, records, "MET-24-0905")
    entries = await chain_of(records, case)
    edited_sequence = (await noted(records, case))[-1]
    other_key = LocalKeySigner.from_file(ensure_key_file(tmp_path / "other.pem"))
    # A checkpoint signed by another key, claiming entry 1 hashed otherwise.
    claim = Checkpoint(case.id, 1, "f" * 64, datetime.now(UTC), other_key.key_id)
    foreign = SignedCheckpoint(claim.payload(), await other_key.sign(claim.payload()))
    async with checkpoint_container(azurite, case.region) as service:
        container = service.get_container_client(CHECKPOINT_CONTAINER)
        await container.upload_blob(checkpoint_blob_name(case.id, 1), foreign.encode())
        # A genuine checkpoint whose payload is edited (a different entry hash), signature kept.
        name = checkpoint_blob_name(case.id, edited_sequence)
        stored = json.loads(await (await container.download_blob(name)).readall())
        payload = json.loads(stored["payload"])
        payload["entry_hash"] = hashlib.sha256(b"forged").hexdigest()
        stored["payload"] = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        await container.upload_blob(name, json.dumps(stored).encode(), overwrite=True)

    found = await report(team, case)
    words = {f.sequence: f.words for f in found.findings}
    assert kinds(found) == {FindingKind.CHECKPOINT_INVALID}
    assert words[1] == "checkpoint 1 is signed by an unknown key"
    assert words[edited_sequence].startswith(f"checkpoint {edited_sequence} signature is invalid")
    assert found.anchored_sequence != edited_sequence  # neither forgery anchors anything
    assert entries[0].hash != "f" * 64
    card = (await team.say("custody MET-24-0905 JS/1")).lower()
    assert "checkpoint 1 is signed by an unknown key" in card
    assert f"checkpoint {edited_sequence} signature is invalid" in card


# --- the evidence: blob replaced, with and without the row -----------------------------------


async def replace_blob(azurite: Azurite, exhibit: Exhibit, data: bytes) -> None:
    async with checkpoint_container(azurite, exhibit.region) as service:
        blob = service.get_blob_client("evidence", exhibit.blob_name)
        await blob.upload_blob(data, overwrite=True)


async def approval_outcome(team: Conversation, records: SqlRecords, reference: str) -> str:
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason trial"))
    await team.click_share("share.approve", share_id, sender=RAVI)
    async with records.unit() as unit:
        share = await unit.share(share_id)
    assert share is not None
    assert share.status is ShareStatus.REJECTED, reference  # blocked, never approved
    assert share.token_sha256 is None
    return share.decision_reason or ""


async def test_a_replaced_blob_with_the_row_updated_is_refused(
    team: Conversation,
    file_url: str,
    records: SqlRecords,
    azurite: Azurite,
    attacker: AsyncEngine,
) -> None:
    case, exhibit = await opened_case(team, file_url, records, "MET-24-0906")
    planted = b"%PDF-1.7\n" + os.urandom(5_000)
    await replace_blob(azurite, exhibit, planted)
    async with attacker.begin() as sql:
        await sql.execute(
            update(exhibits)
            .where(exhibits.c.id == exhibit.id)
            .values(sha256=hashlib.sha256(planted).hexdigest(), size=len(planted))
        )

    card = (await team.say("evidence verify MET-24-0906 JS/1")).lower()
    assert "not verified" in card
    assert "database record disagrees with its intake entry" in card
    assert "stored file's sha-256 differs from the one recorded at intake" in card
    last = (await chain_of(records, case))[-1]
    assert last.action == Action.EXHIBIT_VERIFIED
    assert last.details["matches"] is False
    assert last.details["expected_sha256"] == exhibit.sha256  # the chain's, not the row's

    reason = await approval_outcome(team, records, "MET-24-0906")
    assert "database record disagrees" in reason


async def test_a_replaced_blob_alone_is_refused(
    team: Conversation, file_url: str, records: SqlRecords, azurite: Azurite
) -> None:
    case, exhibit = await opened_case(team, file_url, records, "MET-24-0907")
    await replace_blob(azurite, exhibit, b"%PDF-1.7\n" + os.urandom(5_000))

    card = (await team.say("evidence verify MET-24-0907 JS/1")).lower()
    assert "not verified" in card
    assert "stored file's sha-256 differs from the one recorded at intake" in card
    assert "database record" not in card
    reason = await approval_outcome(team, records, "MET-24-0907")
    assert "differs from the one recorded at intake" in reason
    assert (await report(team, case)).ok  # the chain itself is intact


# --- checkpoints are taken, and caught up ----------------------------------------------------


async def test_every_decision_is_checkpointed_and_a_missed_one_is_caught_up(
    team: Conversation, file_url: str, records: SqlRecords, attacker: AsyncEngine
) -> None:
    case, _ = await opened_case(team, file_url, records, "MET-24-0908")
    entries = await chain_of(records, case)
    decisions = [
        e.sequence
        for e in entries
        if e.action in {Action.INTAKE_COMPLETED, Action.EXHIBIT_VERIFIED}
    ]
    assert set(decisions) <= set(await noted(records, case))
    await team.say("evidence show MET-24-0908 JS/1")  # a view: no checkpoint of its own
    head = (await chain_of(records, case))[-1].sequence
    assert head not in await noted(records, case)

    assert await services_of(team).anchoring.catch_up() >= 1
    assert head in await noted(records, case)
    found = await report(team, case)
    assert found.ok
    assert found.anchored_sequence == head
    async with attacker.connect() as sql:
        rows = await sql.execute(
            select(custody_checkpoints.c.sequence).where(custody_checkpoints.c.chain == case.id)
        )
        assert max(row.sequence for row in rows) == head
