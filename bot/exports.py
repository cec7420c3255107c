"""`custody export`: the continuity bundle, delivered to the requester's OneDrive through Teams.

The command is checked and answered at once; the bundle is built by a durable background job
(`export_job`: exhibit files can be large; any instance builds it, a restart loses nothing),
kept in the case's region, and offered to the requester in their 1:1 chat with a file consent
card — the only way a bot can send a file in Teams. Accepting it makes Teams hand over an
upload session in the requester's OneDrive, into which the bundle is streamed (in-process: the
session's URL is a credential, never recorded); only then is the disclosure recorded
(`custody.exported`). Declining deletes the bundle.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from microsoft_agents.activity import Activity, ActivityTypes, Attachment, InvokeResponse
from microsoft_agents.hosting.core import TurnContext

from bot.commands.grammar import command_named
from bot.proactive import reference_of, reference_without_names
from bot.replies import card_activity
from bot.services import Services, Turn
from cards.common import Tone, build_notice_card
from documents.export import BundleSources, build_bundle
from evidence.continuity import (
    MAX_EXHIBITS,
    Disclosure,
    ExportLookup,
    ExportRequest,
    ExportScope,
    bundle_name,
    open_export,
    read_reason,
    record_export,
    reopen_export,
)
from evidence.custody import Actor
from evidence.errors import CaseNotFound, InvalidInput
from evidence.jobs import Job, JobKind
from evidence.model import ExhibitRef
from evidence.records import RecordsUnit, run_unit

if TYPE_CHECKING:
    from microsoft_teams.cards import AdaptiveCard

logger = logging.getLogger(__name__)

FILE_CONSENT = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO = "application/vnd.microsoft.teams.card.file.info"
VIA = "Teams file consent (OneDrive)"
KEEP_FOR = timedelta(days=1)


class BundleShelf(Protocol):
    """Where bundles wait for the requester's consent (`storage.bundles.BlobBundleStore`)."""

    async def put(self, region: str, name: str, path: Path, metadata: dict[str, str]) -> None:
        """Store the file create-only, with metadata."""
        ...

    async def describe(self, region: str, name: str) -> Any:
        """`.size` and `.metadata` of the stored bundle, or None."""
        ...

    def read(self, region: str, name: str) -> AsyncIterator[bytes]:
        """The bundle's bytes, chunk by chunk."""
        ...

    async def delete(self, region: str, name: str) -> None:
        """Remove it."""
        ...

    async def purge(self, region: str, older_than: Any) -> int:
        """Remove every bundle written before `older_than`."""
        ...


class Uploader(Protocol):
    """Streams a file into a OneDrive upload session (`graph.upload_session.UploadSession`)."""

    async def upload(
        self, upload_url: str, size: int, chunks: AsyncIterator[bytes]
    ) -> Mapping[str, Any]:
        """The driveItem made."""
        ...


@dataclass(frozen=True, slots=True)
class Exports:
    """What exporting needs beyond the records."""

    sources: BundleSources
    shelf: BundleShelf
    uploader: Uploader
    scratch: Path | None = field(default=None)  # where bundles are built (default: the temp dir)


# --- the command -------------------------------------------------------------------------------


def read_export_words(words: Sequence[str]) -> ExportRequest:
    """`<case-ref> [<exhibit-ref>[,...]] [with files] [reason <text...>]`."""
    spec = command_named("custody export")
    assert spec is not None  # noqa: S101 (the grammar names it)
    lowered = [word.lower() for word in words]
    if not words or "/" in words[0] or lowered[0] in {"with", "reason"}:
        raise InvalidInput("case reference", "name the case first, e.g. custody export MET-24-0001")
    at = 1
    refs: list[ExhibitRef] = []
    while at < len(words) and lowered[at] not in {"with", "reason"}:
        refs += [ExhibitRef.parse(part) for part in words[at].split(",") if part]
        at += 1
    with_files = False
    if lowered[at : at + 2] == ["with", "files"]:
        with_files = True
        at += 2
    reason = None
    if at < len(words):
        if lowered[at] != "reason" or at + 1 == len(words):
            raise InvalidInput("custody export", f"expected {spec.syntax}")
        reason = read_reason(" ".join(words[at + 1 :]))
    if len(refs) > MAX_EXHIBITS:
        raise InvalidInput("exhibit references", f"at most {MAX_EXHIBITS} at once")
    return ExportRequest(words[0].upper(), tuple(refs), with_files, reason)


async def custody_export(turn: Turn) -> AdaptiveCard:
    """Check the request, answer at once, and queue the bundle's background job."""
    request = read_export_words(turn.command.args)
    services = turn.services
    exports = services.exports
    if exports is None:
        raise InvalidInput("custody export", "continuity bundles are not set up on this service")
    now = services.now()
    lookup: ExportLookup = await turn.run_unit_with_teams(
        lambda unit, members_of: open_export(unit, turn.officer, request, members_of, now=now)
    )
    if lookup.scope is None:
        raise CaseNotFound(request.case_reference)
    scope = lookup.scope
    officer = turn.officer
    exhibit_ids = [exhibit.id for exhibit in scope.exhibits] if scope.focused else []
    await services.jobs.submit(
        JobKind.EXPORT,
        f"export {scope.case.id} {officer.object_id} {scope.with_files} {','.join(exhibit_ids)}",
        {"case_id": scope.case.id, "exhibit_ids": exhibit_ids, "with_files": scope.with_files},
        officer_id=officer.object_id,
        reference=reference_without_names(reference_of(turn.context.activity)),
        note=scope.reason,
    )
    files = " with the exhibit files" if scope.with_files else ""
    return build_notice_card(
        f"Preparing the continuity bundle of {scope.case.reference}",
        f"The bundle{files} will be offered in your chat with Exhibit in a moment: choose "
        "Allow to save it to your OneDrive. Handing it over is recorded on the case's chain.",
    )


async def export_job(services: Services, job: Job) -> str:
    """The background half of `custody export`: the scope checked and recorded at the request,
    read again by id, built into a bundle and offered to the officer (resolved afresh)."""
    exports = services.exports
    if exports is None:
        raise RuntimeError("continuity bundles are not set up on this service")
    officer = await services.directory.officer(job.officer_id, fresh=True)
    if officer is None or not officer.enabled:
        return "officer no longer enrolled"
    case_id, exhibit_ids = job.text("case_id"), job.texts("exhibit_ids")
    with_files, reason = job.flag("with_files"), job.note

    async def read(unit: RecordsUnit) -> ExportScope | None:
        return await reopen_export(
            unit, officer, case_id, exhibit_ids, with_files=with_files, reason=reason
        )

    scope = await run_unit(services.records, read)
    if scope is None:
        return "case or exhibit not found"
    await prepare(services, exports, scope, job.reference)
    return "offered"


async def prepare(services: Services, exports: Exports, scope: ExportScope, reference: str) -> None:
    """Build the bundle, keep it in the case's region, and offer it with a file consent card."""
    region = scope.case.region
    now = services.now()
    await exports.shelf.purge(region, now - KEEP_FOR)
    path = await asyncio.to_thread(_scratch_file, exports.scratch)
    try:
        built = await build_bundle(exports.sources, scope, path, now=now)
        name = f"{scope.case.id}/{secrets.token_hex(16)}.zip"
        disclosure = Disclosure.of(scope, bundle_sha256=built.sha256, bundle_size=built.size)
        metadata = {"requester": scope.officer.object_id, "disclosure": disclosure.encode()}
        await exports.shelf.put(region, name, path, metadata)
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)
    consent = Attachment(
        content_type=FILE_CONSENT,
        name=bundle_name(scope.case, now),
        content={
            "description": f"Continuity bundle of case {scope.case.reference}",
            "sizeInBytes": built.size,
            "acceptContext": {"bundle": name, "region": region},
            "declineContext": {"bundle": name, "region": region},
        },
    )
    message = Activity(type=ActivityTypes.message, attachments=[consent])
    await services.proactive.send_personal(reference, scope.officer.object_id, message)


def _scratch_file(folder: Path | None) -> Path:
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (kept: the bundle is written to its path)
        prefix="exhibit-bundle-", suffix=".zip", dir=folder, delete=False
    )
    handle.close()
    return Path(handle.name)


# --- the requester's answer (fileConsent/invoke) ------------------------------------------------


async def on_file_consent(context: TurnContext, services: Services) -> None:
    """Answer the consent invoke at once (200); upload or delete the bundle in the background."""
    await context.send_activity(
        Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=200))
    )
    exports = services.exports
    activity = context.activity
    value: dict[str, Any] = activity.value if isinstance(activity.value, dict) else {}
    held = _mapping(value.get("context"))
    name, region = str(held.get("bundle", "")), str(held.get("region", ""))
    person = activity.from_property
    if exports is None or region not in services.evidence_store.regions or not name:
        return
    stored = await exports.shelf.describe(region, name)
    if stored is None or person is None or not _same(person.aad_object_id,
                                                     stored.metadata.get("requester")):  # fmt: skip
        await _tell(services, activity, "This file is no longer available",
                    "Type custody export again.")  # fmt: skip
        return
    if value.get("action") != "accept":
        await exports.shelf.delete(region, name)
        await _tell(services, activity, "Continuity bundle not sent", "It has been deleted.")
        return
    upload = _mapping(value.get("uploadInfo"))
    reference = reference_of(activity)
    actor = Actor(str(person.aad_object_id), str(person.name or ""))
    services.background.start(
        f"upload:{name}",
        lambda: deliver(services, exports, region, stored, upload, actor, reference),
    )


async def deliver(
    services: Services,
    exports: Exports,
    region: str,
    stored: Any,
    upload: Mapping[str, Any],
    actor: Actor,
    reference: str,
) -> None:
    """Stream the bundle into the OneDrive upload session, record the disclosure, show the file."""
    disclosure = Disclosure.decode(stored.metadata["disclosure"])
    try:
        item = await exports.uploader.upload(
            str(upload.get("uploadUrl", "")), stored.size, exports.shelf.read(region, stored.name)
        )
    except Exception as err:  # OneDrive is remote: the failure is told, the bundle removed
        logger.warning("Bundle upload failed: %s", type(err).__name__)
        await exports.shelf.delete(region, stored.name)
        await services.proactive.send(reference, _notice(
            "The bundle could not be saved to your OneDrive",
            "Nothing was handed over. Type custody export again.", Tone.WARNING))  # fmt: skip
        return
    now = services.now()
    target = f"{actor.name} (their OneDrive: {upload.get('name') or item.get('name') or ''})"

    async def record(unit: RecordsUnit) -> object:
        return await record_export(unit, actor, disclosure, delivered_to=target, via=VIA, now=now)

    await run_unit(services.records, record)
    await exports.shelf.delete(region, stored.name)
    info = Attachment(
        content_type=FILE_INFO,
        content_url=str(upload.get("contentUrl", "")),
        name=str(upload.get("name", "")),
        content={"uniqueId": upload.get("uniqueId"), "fileType": upload.get("fileType")},
    )
    await services.proactive.send(reference, Activity(type=ActivityTypes.message,
                                                      attachments=[info]))  # fmt: skip


def _notice(title: str, text: str, tone: Tone = Tone.INFO) -> Activity:
    return card_activity(build_notice_card(title, text, tone))


async def _tell(services: Services, activity: Activity, title: str, text: str) -> None:
    await services.proactive.send(reference_of(activity), _notice(title, text))


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _same(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and str(given).lower() == str(expected).lower()
