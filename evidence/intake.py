"""Evidence intake: a file becomes an intake job, then (bytes committed) an exhibit.

Recording happens in three steps, each one unit of work:
  start     the job and `intake.started` (idempotent: a redelivered activity finds its jobs)
  complete  the exhibit, its reference (`JS/1`, gap-free) and `intake.completed`, only once the
            blob is committed and its hash known (idempotent: a job completes once)
  fail      the job's reason and `intake.failed`
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from evidence.custody import Action, Actor, CustodyEvent
from evidence.file_types import types_agree
from evidence.model import Case, Exhibit, ExhibitRef, SourceKind
from evidence.officers import Officer
from evidence.policy import ALLOWED, Decision, can_add_evidence, refused
from evidence.records import IntakeJob, JobStatus, RecordsUnit
from evidence.refusals import record_refusal
from evidence.stored_blob import StoredBlob


@dataclass(frozen=True, slots=True)
class IncomingFile:
    """A file as Teams announced it: where to fetch it and what it claims to be."""

    kind: SourceKind
    url: str
    name: str
    declared_type: str
    declared_size: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


NOT_CASE_FILES = "these files are not in the case channel's files"


def files_in_drive(files: Sequence[IncomingFile], drive_id: str | None) -> Decision:
    """Files read through Graph are the case's only if they live in the case's drive.

    `drive_id` is the case channel's drive (or, in a chat, the sender's OneDrive); None when it
    cannot be known, which refuses: an unknown place never widens what is fetched.
    """
    for incoming in files:
        if incoming.kind is not SourceKind.SHAREPOINT:
            continue
        if drive_id is None or incoming.details.get("driveId") != drive_id:
            return refused(NOT_CASE_FILES)
    return ALLOWED


async def refuse_files(
    unit: RecordsUnit,
    officer: Officer,
    case: Case,
    files: Sequence[IncomingFile],
    decision: Decision,
    *,
    now: datetime,
) -> None:
    """Record that files were refused before any was fetched (names and reason, never URLs)."""
    details = {"attempt": "add", "reason": decision.reason, "files": [f.name for f in files]}
    await record_refusal(unit, officer, case.id, Action.ACCESS_REFUSED, details, now)


def new_job_id() -> str:
    """A fresh, unguessable job id (the exhibit's id too): nothing a Teams user sees derives it."""
    return secrets.token_hex(16)


def idempotency_key(conversation_id: str, activity_id: str, index: int) -> str:
    """The same file of the same message in the same conversation is always the same job.

    Activity ids are unique per conversation only: two conversations may carry one message id.
    """
    source = f"{conversation_id}\x00{activity_id}\x00{index}"
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


async def start_intake(
    unit: RecordsUnit,
    officer: Officer,
    case: Case,
    members: Set[str],
    files: Sequence[IncomingFile],
    *,
    conversation_id: str,
    activity_id: str,
    conversation_reference: str,
    receipt_activity_id: str | None,
    now: datetime,
) -> tuple[list[IntakeJob], Decision]:
    """Record a job per file not already recorded, or the refusal if the officer may not add.

    A refusal is recorded, not raised: the caller commits it, then tells the officer.
    """
    decision = can_add_evidence(officer, case, members)
    if not decision.allowed:
        details = {"reason": decision.reason, "files": [f.name for f in files]}
        await record_refusal(unit, officer, case.id, Action.INTAKE_REFUSED, details, now)
        return [], decision
    created = []
    for index, incoming in enumerate(files):
        job = IntakeJob(
            id=new_job_id(),
            idempotency_key=idempotency_key(conversation_id, activity_id, index),
            case_id=case.id,
            officer_id=officer.object_id,
            officer_name=officer.display_name,
            source_kind=incoming.kind.value,
            source_url=incoming.url,
            file_name=incoming.name,
            declared_type=incoming.declared_type,
            declared_size=incoming.declared_size,
            status=JobStatus.QUEUED,
            attempts=0,
            created_at=now,
            updated_at=now,
            conversation_reference=conversation_reference,
            receipt_activity_id=receipt_activity_id,
            # Kept with the job: the order on the receipt card, and the producer's initials
            # as the directory gave them (the exhibit reference is `initials/number`).
            source_details={**incoming.details, "index": index, "initials": officer.initials},
        )
        if not await unit.add_job(job):
            continue
        await unit.append_custody(
            CustodyEvent.by(
                officer,
                Action.INTAKE_STARTED,
                case.id,
                now,
                {
                    "job": job.id,
                    "file_name": incoming.name,
                    "declared_type": incoming.declared_type,
                    "declared_size": incoming.declared_size,
                    "source": incoming.kind.value,
                },
            )
        )
        created.append(job)
    return created, decision


@dataclass(frozen=True, slots=True)
class Received:
    """What the worker learnt while storing the bytes."""

    stored: StoredBlob
    stored_name: str
    detected_type: str
    initials: str
    source_details: dict[str, Any] = field(default_factory=dict)


async def complete_intake(
    unit: RecordsUnit, job: IntakeJob, case: Case, received: Received, *, now: datetime
) -> Exhibit:
    """Record the exhibit for a committed blob (once: a completed job returns its exhibit)."""
    # An exhibit's id is its job's (random): a job recorded already (by a run that raced this
    # one) returns that exhibit instead of adding a second.
    existing = await unit.exhibit_by_id(job.id)
    if existing is not None:
        return existing
    number = await unit.next_exhibit_number(case.id, received.initials)
    stored = received.stored
    exhibit = Exhibit(
        id=job.id,
        case_id=case.id,
        ref=ExhibitRef(received.initials, number),
        produced_by=job.officer_id,
        produced_by_name=job.officer_name,
        original_name=job.file_name,
        stored_name=received.stored_name,
        declared_type=job.declared_type,
        detected_type=received.detected_type,
        size=stored.size,
        sha256=stored.sha256,
        region=stored.region,
        blob_name=stored.blob_name,
        source=SourceKind(job.source_kind),
        source_details=received.source_details,
        created_at=now,
    )
    await unit.add_exhibit(exhibit)
    # The source URL is a credential (pre-authenticated, for up to an hour): not kept once used.
    await unit.save_job(
        replace(
            job,
            status=JobStatus.COMPLETED,
            exhibit_id=exhibit.id,
            error=None,
            updated_at=now,
            source_url="",
        )
    )
    await unit.append_custody(
        CustodyEvent.by(
            Actor(job.officer_id, job.officer_name),
            Action.INTAKE_COMPLETED,
            case.id,
            now,
            {
                "job": job.id,
                "exhibit": str(exhibit.ref),
                "sha256": stored.sha256,
                "size": stored.size,
                "region": stored.region,
                "blob": stored.blob_name,
                "original_name": job.file_name,
                "stored_name": received.stored_name,
                "declared_type": job.declared_type,
                "detected_type": received.detected_type,
                # A mismatch (a .jpg that is a ZIP, say) is recorded, not refused.
                "types_agree": types_agree(job.declared_type, received.detected_type),
                "source": received.source_details,
            },
            exhibit_id=exhibit.id,
        )
    )
    return exhibit


async def fail_intake(
    unit: RecordsUnit, job: IntakeJob, reason: str, *, now: datetime
) -> IntakeJob:
    """Record that the job failed for good, and why (a completed job stays completed)."""
    current = await unit.job(job.id)
    if current is not None and current.status is JobStatus.COMPLETED:
        return current
    failed = replace(job, status=JobStatus.FAILED, error=reason, updated_at=now, source_url="")
    await unit.save_job(failed)
    await unit.append_custody(
        CustodyEvent.by(
            Actor(job.officer_id, job.officer_name),
            Action.INTAKE_FAILED,
            job.case_id,
            now,
            {"job": job.id, "file_name": job.file_name, "reason": reason},
        )
    )
    return failed
