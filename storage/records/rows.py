"""Rows <-> domain values: what each table's columns hold for a case, exhibit, job, entry, share."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from evidence.custody import CustodyEntry
from evidence.model import Case, ChannelBinding, Exhibit, ExhibitRef, LegalHold, SourceKind
from evidence.records import IntakeJob, JobStatus
from evidence.shares import Share, ShareStatus


def channel_row(channel: ChannelBinding | None) -> dict[str, Any]:
    """The cases columns of a channel binding (all None when unbound)."""
    return {
        "channel_id": channel.channel_id if channel else None,
        "team_id": channel.team_id if channel else None,
        "graph_team_id": channel.graph_team_id if channel else None,
        "conversation_reference": channel.conversation_reference if channel else None,
        "tenant_id": channel.tenant_id if channel else None,
        "channel_name": channel.name if channel else None,
    }


def case_row(case: Case) -> dict[str, Any]:
    """The case as column values."""
    return {
        "id": case.id,
        "reference": case.reference,
        "title": case.title,
        "region": case.region,
        "created_by": case.created_by,
        "created_at": case.created_at,
        **channel_row(case.channel),
        **hold_row(case.hold),
    }


def hold_row(hold: LegalHold | None) -> dict[str, Any]:
    """The cases columns of a legal hold (all None when the case is not on hold)."""
    return {
        "hold_reason": hold.reason if hold else None,
        "hold_since": hold.since if hold else None,
        "hold_by_id": hold.by_id if hold else None,
        "hold_by_name": hold.by_name if hold else None,
    }


def case_from_row(row: Row[Any]) -> Case:
    """The case a row holds."""
    channel = None
    if row.channel_id is not None:
        channel = ChannelBinding(
            team_id=row.team_id,
            channel_id=row.channel_id,
            graph_team_id=row.graph_team_id,
            conversation_reference=row.conversation_reference,
            tenant_id=row.tenant_id,
            name=row.channel_name,
        )
    return Case(
        id=row.id,
        reference=row.reference,
        title=row.title,
        region=row.region,
        created_by=row.created_by,
        created_at=row.created_at,
        channel=channel,
        hold=None
        if row.hold_since is None
        else LegalHold(row.hold_reason, row.hold_since, row.hold_by_id, row.hold_by_name),
    )


def exhibit_row(exhibit: Exhibit) -> dict[str, Any]:
    """The exhibit as column values."""
    row: dict[str, Any] = {
        "id": exhibit.id,
        "case_id": exhibit.case_id,
        "initials": exhibit.ref.initials,
        "number": exhibit.ref.number,
        "produced_by": exhibit.produced_by,
        "produced_by_name": exhibit.produced_by_name,
        "original_name": exhibit.original_name,
        "stored_name": exhibit.stored_name,
        "declared_type": exhibit.declared_type,
        "detected_type": exhibit.detected_type,
        "size": exhibit.size,
        "sha256": exhibit.sha256,
        "region": exhibit.region,
        "blob_name": exhibit.blob_name,
        "source": str(exhibit.source),
        "source_details": dict(exhibit.source_details),
    }
    if exhibit.created_at is not None:  # otherwise the database's CURRENT_TIMESTAMP
        row["created_at"] = exhibit.created_at
    return row


def exhibit_from_row(row: Row[Any]) -> Exhibit:
    """The exhibit a row holds."""
    return Exhibit(
        id=row.id,
        case_id=row.case_id,
        ref=ExhibitRef(row.initials, row.number),
        produced_by=row.produced_by,
        produced_by_name=row.produced_by_name,
        original_name=row.original_name,
        stored_name=row.stored_name,
        declared_type=row.declared_type,
        detected_type=row.detected_type,
        size=row.size,
        sha256=row.sha256,
        region=row.region,
        blob_name=row.blob_name,
        source=SourceKind(row.source),
        source_details=row.source_details,
        created_at=row.created_at,
    )


def job_row(job: IntakeJob) -> dict[str, Any]:
    """The intake job as column values."""
    return {
        "id": job.id,
        "case_id": job.case_id,
        "officer_id": job.officer_id,
        "officer_name": job.officer_name,
        "source_kind": job.source_kind,
        "source_url": job.source_url,
        "file_name": job.file_name,
        "declared_type": job.declared_type,
        "declared_size": job.declared_size,
        "status": str(job.status),
        "attempts": job.attempts,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "conversation_reference": job.conversation_reference,
        "receipt_activity_id": job.receipt_activity_id,
        "exhibit_id": job.exhibit_id,
        "error": job.error,
        "source_details": None if job.source_details is None else dict(job.source_details),
        "idempotency_key": job.idempotency_key,
    }


def job_from_row(row: Row[Any]) -> IntakeJob:
    """The intake job a row holds."""
    return IntakeJob(
        id=row.id,
        case_id=row.case_id,
        officer_id=row.officer_id,
        officer_name=row.officer_name,
        source_kind=row.source_kind,
        source_url=row.source_url,
        file_name=row.file_name,
        declared_type=row.declared_type,
        declared_size=row.declared_size,
        status=JobStatus(row.status),
        attempts=row.attempts,
        created_at=row.created_at,
        updated_at=row.updated_at,
        conversation_reference=row.conversation_reference,
        receipt_activity_id=row.receipt_activity_id,
        exhibit_id=row.exhibit_id,
        error=row.error,
        source_details=row.source_details,
        idempotency_key=row.idempotency_key,
    )


def entry_row(entry: CustodyEntry) -> dict[str, Any]:
    """The custody entry as column values."""
    return {
        "chain": entry.chain,
        "sequence": entry.sequence,
        "at": entry.at,
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "case_id": entry.case_id,
        "exhibit_id": entry.exhibit_id,
        "action": entry.action,
        "details": dict(entry.details),
        "previous_hash": entry.previous_hash,
        "hash": entry.hash,
    }


def entry_from_row(row: Row[Any]) -> CustodyEntry:
    """The custody entry a row holds."""
    return CustodyEntry(
        chain=row.chain,
        sequence=row.sequence,
        at=row.at,
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        case_id=row.case_id,
        exhibit_id=row.exhibit_id,
        action=row.action,
        details=row.details,
        previous_hash=row.previous_hash,
        hash=row.hash,
    )


def share_row(share: Share) -> dict[str, Any]:
    """The share as column values."""
    return {
        "id": share.id,
        "case_id": share.case_id,
        "exhibit_ids": list(share.exhibit_ids),
        "requested_by": share.requested_by,
        "requested_by_name": share.requested_by_name,
        "recipient": share.recipient,
        "organisation_type": share.organisation_type,
        "reason": share.reason,
        "days": share.days,
        "status": share.status.value,
        "created_at": share.created_at,
        "request_expires_at": share.request_expires_at,
        "decided_by": share.decided_by,
        "decided_by_name": share.decided_by_name,
        "decided_at": share.decided_at,
        "decision_reason": share.decision_reason,
        "token_sha256": share.token_sha256,
        "link_expires_at": share.link_expires_at,
        "max_downloads": share.max_downloads,
        "downloads": share.downloads,
        "requester_reference": share.requester_reference,
        "approval_activity_id": share.approval_activity_id,
        "revoked_by": share.revoked_by,
        "revoked_by_name": share.revoked_by_name,
        "revoked_at": share.revoked_at,
        "revocation_reason": share.revocation_reason,
        "request_key": share.request_key,
        "requester_email": share.requester_email,
        "requester_phone": share.requester_phone,
    }


def share_from_row(row: Row[Any]) -> Share:
    """The share a row holds."""
    return Share(
        id=row.id,
        case_id=row.case_id,
        exhibit_ids=tuple(row.exhibit_ids),
        requested_by=row.requested_by,
        requested_by_name=row.requested_by_name,
        recipient=row.recipient,
        organisation_type=row.organisation_type,
        reason=row.reason,
        days=row.days,
        status=ShareStatus(row.status),
        created_at=row.created_at,
        request_expires_at=row.request_expires_at,
        decided_by=row.decided_by,
        decided_by_name=row.decided_by_name,
        decided_at=row.decided_at,
        decision_reason=row.decision_reason,
        token_sha256=row.token_sha256,
        link_expires_at=row.link_expires_at,
        max_downloads=row.max_downloads,
        downloads=row.downloads,
        requester_reference=row.requester_reference,
        approval_activity_id=row.approval_activity_id,
        revoked_by=row.revoked_by,
        revoked_by_name=row.revoked_by_name,
        revoked_at=row.revoked_at,
        revocation_reason=row.revocation_reason,
        request_key=row.request_key,
        requester_email=row.requester_email,
        requester_phone=row.requester_phone,
    )
