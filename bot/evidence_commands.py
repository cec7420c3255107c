"""`evidence list|show|verify`, `custody`, and files sent to the bot (`add`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence, Set
from datetime import UTC, datetime
from typing import Any

from microsoft_agents.activity import Activity, Attachment
from microsoft_teams.cards import AdaptiveCard

from bot.case_commands import conversation_channel_id, refusal_error, view_case
from bot.identity import resolve_officer
from bot.proactive import reference_of
from bot.receipts import receipt_view_for
from bot.replies import card_activity
from bot.services import Services, Turn
from cards.common import Tone, build_notice_card
from cards.exhibits import (
    RECEIPT_REFRESH,
    REVIEW,
    build_custody_card,
    build_exhibit_card,
    build_exhibit_list_card,
    build_receipt_card,
    build_verify_card,
    size_text,
)
from evidence.cases import MembersOf, check_visible, find_case
from evidence.custody import CustodyEntry
from evidence.errors import (
    AccessRefused,
    CaseNotFound,
    EvidenceStoreError,
    ExhibitError,
    InvalidInput,
)
from evidence.exhibits import (
    CustodyView,
    ExhibitLookup,
    Verification,
    compare,
    find_exhibit,
    read_custody,
    read_exhibit_target,
    record_verification,
    record_view,
)
from evidence.intake import (
    IncomingFile,
    files_in_drive,
    idempotency_key,
    refuse_files,
    start_intake,
)
from evidence.model import Case, Exhibit, SourceKind
from evidence.officers import Officer
from evidence.policy import Decision, can_add_evidence
from evidence.records import IntakeJob, JobStatus, RecordsUnit, run_unit
from evidence.review import REVIEW_ACTIONS, Review, can_review, review_exhibit, reviews_of
from graph.files import GraphFileSource

logger = logging.getLogger(__name__)

TEAMS_FILE = "application/vnd.microsoft.teams.file.download.info"
MAX_FILES = 10  # Teams sends at most 10 files in one message


async def evidence_list(turn: Turn) -> AdaptiveCard:
    """The exhibits of the named case, or of the channel's case."""

    async def exhibits_of(unit: RecordsUnit, case: Case) -> Sequence[Exhibit]:
        return await unit.exhibits_of(case.id)

    case, exhibits = await view_case(turn, exhibits_of, view="exhibits")
    return build_exhibit_list_card(case.reference, exhibits)


async def _found(turn: Turn) -> tuple[Case, Exhibit]:
    """The exhibit the command names, its view recorded; refusals recorded and raised."""
    services = turn.services
    target = read_exhibit_target(turn.command.args)
    channel_id = conversation_channel_id(turn.context.activity)
    now = services.now()

    async def work(unit: RecordsUnit, members_of: MembersOf) -> ExhibitLookup:
        found = await find_exhibit(
            unit, turn.officer, target, members_of, channel_id=channel_id, now=now
        )
        if found.exhibit is not None:
            await record_view(unit, turn.officer, found.case, found.exhibit, now=now)
        return found

    found = await turn.run_unit_with_teams(work)
    if found.exhibit is None:
        raise refusal_error(found.decision, target.case_reference)
    return found.case, found.exhibit


async def evidence_show(turn: Turn) -> AdaptiveCard:
    """One exhibit: name, type, size, SHA-256, who and when, region, reviews."""
    case, exhibit = await _found(turn)
    return await exhibit_card_for(turn.services, turn.officer, case, exhibit)


async def exhibit_card_for(
    services: Services, officer: Officer, case: Case, exhibit: Exhibit, notice: str | None = None
) -> AdaptiveCard:
    """The exhibit card as `officer` should see it: review buttons if they may review."""

    async def entries(unit: RecordsUnit) -> list[CustodyEntry]:
        return list(await unit.custody_about(case.id, [exhibit.id], REVIEW_ACTIONS))

    chain = await run_unit(services.records, entries)
    members = await services.case_teams.members(case)
    return build_exhibit_card(
        exhibit,
        case.reference,
        reviews=reviews_of(exhibit.id, chain),
        with_review_actions=can_review(officer, case, exhibit, members).allowed,
        notice=notice,
    )


def unavailable_card() -> AdaptiveCard:
    """The answer to a click someone may not make or on something gone: the same, and bare."""
    return build_notice_card("Not available", "This card is not available to you.", Tone.WARNING)


async def on_exhibit_card_action(
    activity: Activity, services: Services, verb: str, data: dict[str, Any]
) -> AdaptiveCard:
    """`Mark reviewed`, `Flag` and the receipt's refresh (Action.Execute).

    Visibility is checked before any card is built: someone who may not see the case gets
    `unavailable_card()` — no file name, hash, comment or case reference — and the refusal is
    recorded; an unknown exhibit or receipt gets the same card.
    """
    try:
        officer = await resolve_officer(activity, services.directory)
    except ExhibitError:
        return build_notice_card(
            "Not enrolled in Exhibit", "You cannot act on this card.", Tone.ATTENTION
        )
    try:
        if verb == RECEIPT_REFRESH:
            return await receipt_view_for(services, officer, str(data.get("receipt") or ""))
        return await on_review_action(services, officer, verb, data)
    except (CaseNotFound, InvalidInput):
        return unavailable_card()
    except ExhibitError as err:
        logger.warning("Card action %s failed: %s", verb, type(err).__name__)
        return build_notice_card(
            "Not possible", "Exhibit could not do this just now. Please try again.", Tone.WARNING
        )


async def on_review_action(
    services: Services, officer: Officer, verb: str, data: dict[str, Any]
) -> AdaptiveCard:
    """`Mark reviewed` / `Flag` from an exhibit card (Action.Execute); refusals recorded.

    Raises `CaseNotFound` for an unknown exhibit and for a case the officer may not see (the
    refusal then recorded), before anything of the case is read for a card.
    """
    exhibit_id = str(data.get("exhibitId") or "")[:64]
    comment = str(data.get("comment") or "").strip()[:500] or None
    review = Review.REVIEWED if verb == REVIEW else Review.FLAGGED
    now = services.now()

    async def load(unit: RecordsUnit) -> tuple[Case, Exhibit]:
        exhibit = await unit.exhibit_by_id(exhibit_id) if exhibit_id else None
        case = await unit.case_by_id(exhibit.case_id) if exhibit else None
        if exhibit is None or case is None:
            raise CaseNotFound(None)
        return case, exhibit

    case, exhibit = await run_unit(services.records, load)
    members = await services.case_teams.members(case)

    async def team(_case: Case) -> Set[str]:
        return members

    async def record(unit: RecordsUnit) -> Decision:
        visible = await check_visible(
            unit, officer, case, team, now=now, attempt={"attempt": review.value},
            exhibit_id=exhibit.id,
        )  # fmt: skip
        if not visible.allowed:
            return visible
        return await review_exhibit(
            unit, officer, case, exhibit, members, review, comment=comment, now=now
        )

    decision = await run_unit(services.records, record)
    if decision.hides_case:
        raise CaseNotFound(None)
    notice = None if decision.allowed else f"Refused: {decision.reason}."
    receipt = str(data.get("receipt") or "")
    if receipt:  # clicked on a receipt card: answer with that card, for this officer
        return await receipt_view_for(services, officer, receipt, notice=notice)
    return await exhibit_card_for(services, officer, case, exhibit, notice)


async def evidence_verify(turn: Turn) -> AdaptiveCard:
    """Re-hash the stored blob (streaming) and compare it with the intake hash; record it.

    Above `EXHIBIT_VERIFY_INLINE_BYTES` the officer is answered at once and the result is
    posted to the same conversation when the re-hash is done: a turn should not keep Teams
    waiting for minutes. The verification is recorded when it is done, as for small exhibits.
    """
    services = turn.services
    case, exhibit = await _found(turn)
    if exhibit.size <= services.settings.verify_inline_bytes:
        return await _verify(services, turn.officer, case, exhibit)
    reference = reference_of(turn.context.activity)
    officer = turn.officer

    async def verify_and_tell() -> None:
        card = await _verify(services, officer, case, exhibit)
        await services.proactive.send(reference, card_activity(card))

    started = services.background.start(f"verify {exhibit.id} {officer.object_id}", verify_and_tell)
    what = f"{case.reference} {exhibit.ref} ({size_text(exhibit.size)})"
    if not started:
        return build_notice_card(
            "Already verifying", f"{what} is being verified; the result follows.", Tone.INFO
        )
    return build_notice_card(
        "Verifying",
        f"Re-hashing {what} and comparing it with its intake SHA-256; the result follows here.",
        Tone.INFO,
    )


async def _verify(
    services: Services, officer: Officer, case: Case, exhibit: Exhibit
) -> AdaptiveCard:
    store = services.evidence_store
    try:
        result = compare(exhibit, await store.rehash(exhibit.region, exhibit.blob_name))
    except EvidenceStoreError as err:
        if type(err).__name__ == "StoreUnavailable":
            raise
        result = compare(exhibit, None, f"the stored file cannot be read ({type(err).__name__})")
    now = services.now()

    async def record(unit: RecordsUnit) -> Verification:
        await record_verification(unit, officer, case, result, now=now)
        return result

    await run_unit(services.records, record)
    if not result.matches:
        logger.error("Exhibit %s failed verification: %s", exhibit.id, result.problem)
    return build_verify_card(case.reference, result)


async def custody(turn: Turn) -> AdaptiveCard:
    """The exhibit's chain of custody, with the case chain verified."""
    services = turn.services
    case, exhibit = await _found(turn)
    now = services.now()

    async def work(unit: RecordsUnit) -> CustodyView:
        return await read_custody(unit, turn.officer, case, exhibit, now=now)

    return build_custody_card(await run_unit(services.records, work))


def incoming_files(activity: Activity) -> list[IncomingFile]:
    """The files a message carries: Teams file uploads and inline images."""
    files = []
    for attachment in activity.attachments or []:
        incoming = _incoming(attachment)
        if incoming is not None:
            files.append(incoming)
    return files


def _incoming(attachment: Attachment) -> IncomingFile | None:
    content_type = attachment.content_type or ""
    if content_type == TEAMS_FILE:
        content = attachment.content if isinstance(attachment.content, dict) else {}
        url = content.get("downloadUrl")
        if not isinstance(url, str) or not url:
            return None
        name = attachment.name or "file"
        file_type = str(content.get("fileType") or "")
        return IncomingFile(
            kind=SourceKind.TEAMS_FILE,
            url=url,
            name=name,
            declared_type=_type_for_extension(file_type or name.rpartition(".")[2]),
            details={"uniqueId": str(content.get("uniqueId") or "")},
        )
    if content_type.startswith(("image/", "video/", "audio/", "application/")) and (
        attachment.content_url
    ):
        if content_type.startswith("application/vnd.microsoft."):
            return None  # cards and other Teams payloads are not files
        return IncomingFile(
            kind=SourceKind.BOT_ATTACHMENT,
            url=attachment.content_url,
            name=attachment.name or f"attachment.{content_type.rpartition('/')[2]}",
            declared_type=content_type,
        )
    return None


_EXTENSIONS = {
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
    "heic": "image/heic", "mp4": "video/mp4", "mov": "video/quicktime", "avi": "video/x-msvideo",
    "pdf": "application/pdf", "txt": "text/plain", "zip": "application/zip",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "wav": "audio/wav", "mp3": "audio/mpeg",
}  # fmt: skip


def _type_for_extension(extension: str) -> str:
    return _EXTENSIONS.get(extension.lower().lstrip("."), "application/octet-stream")


async def add_files(turn: Turn) -> AdaptiveCard | None:
    """Files sent with `add [<case-ref>]` (or in a case channel): receipt now, bytes queued."""
    services = turn.services
    activity = turn.context.activity
    files = incoming_files(activity)
    if not files and services.graph_files is not None:
        # In channels and group chats Teams sends no file: read the message through Graph.
        files = await files_via_graph(services.graph_files, activity)
    if not files:
        raise InvalidInput("files", "attach the files to the same message as `add`")
    if len(files) > MAX_FILES:
        raise InvalidInput("files", f"send at most {MAX_FILES} files in one message")
    reference = turn.command.args[0] if turn.command.args else None
    channel_id = conversation_channel_id(activity)
    conversation_id = activity.conversation.id if activity.conversation else ""
    activity_id = activity.id or ""
    keys = [idempotency_key(conversation_id, activity_id, n) for n in range(len(files))]
    now = services.now()

    async def find(
        unit: RecordsUnit, members_of: MembersOf
    ) -> tuple[Case, Set[str], list[IntakeJob]]:
        case = await find_case(unit, reference, channel_id)
        existing = [job for key in keys if (job := await unit.job_by_idempotency_key(key))]
        return case, await members_of(case), existing

    case, members, existing = await turn.run_unit_with_teams(find)
    allowed = can_add_evidence(turn.officer, case, members)
    if existing and allowed.allowed:
        # The same activity again (Teams retries): its jobs exist; say so, record nothing.
        return build_notice_card(
            "Already receiving these files",
            f"These files are already being recorded for {case.reference}.",
            Tone.INFO,
        )
    if allowed.allowed:
        await _check_files_are_the_cases(turn, case, files, now=now)
    reference_json = reference_of(activity)
    receipt_id: str | None = None
    if allowed.allowed:
        placeholders = [_placeholder(incoming) for incoming in files]
        receipt_card = build_receipt_card(case.reference, placeholders, {})
        receipt = await turn.context.send_activity(card_activity(receipt_card))
        receipt_id = receipt.id if receipt else None

    async def start(unit: RecordsUnit) -> tuple[list[IntakeJob], Decision]:
        return await start_intake(
            unit,
            turn.officer,
            case,
            members,
            files,
            conversation_id=conversation_id,
            activity_id=activity_id,
            conversation_reference=reference_json,
            receipt_activity_id=receipt_id,
            now=now,
        )

    jobs, decision = await run_unit(services.records, start)
    if not decision.allowed:
        raise refusal_error(decision, reference)
    for job in jobs:
        await services.ingest_queue.send(job.id)
    logger.info("Intake of %d file(s) for case %s queued", len(jobs), case.id)
    return None


async def _check_files_are_the_cases(
    turn: Turn, case: Case, files: Sequence[IncomingFile], *, now: datetime
) -> None:
    """Refuse (and record) SharePoint files that live outside the case's drive, before any fetch.

    Only files read through Graph are checked: those are fetched with Exhibit's own, tenant-wide
    file permission, so without this an officer could make Exhibit copy any file in the tenant.
    """
    graph = turn.services.graph_files
    if graph is None or all(f.kind is not SourceKind.SHAREPOINT for f in files):
        return
    decision = files_in_drive(files, await _case_drive(graph, turn.context.activity, case))
    if decision.allowed:
        return

    async def record(unit: RecordsUnit) -> None:
        await refuse_files(unit, turn.officer, case, files, decision, now=now)

    await run_unit(turn.services.records, record)
    logger.warning("Files for case %s refused: not in the case's drive", case.id)
    raise AccessRefused(decision.reason)


async def _case_drive(graph: GraphFileSource, activity: Activity, case: Case) -> str | None:
    """Where the case's files may come from: its channel's drive, or in a chat the sender's."""
    conversation = activity.conversation
    if conversation is not None and conversation.conversation_type == "channel":
        channel = case.channel
        if channel is None:
            return None
        team = channel.graph_team_id
        if team is None and conversation_channel_id(activity) == channel.channel_id:
            team = _team_group_id(activity)
        return await graph.channel_drive_id(team, channel.channel_id) if team else None
    sender = activity.from_property.aad_object_id if activity.from_property else None
    return await graph.user_drive_id(sender) if sender else None


def _placeholder(incoming: IncomingFile) -> IntakeJob:
    """A not-yet-recorded job, to draw the receipt before the jobs exist."""
    now = datetime.now(UTC)
    return IntakeJob(
        id="", case_id="", officer_id="", officer_name="", source_kind=incoming.kind.value,
        source_url="", file_name=incoming.name, declared_type=incoming.declared_type,
        declared_size=incoming.declared_size, status=JobStatus.QUEUED, attempts=0,
        created_at=now, updated_at=now, conversation_reference="",
    )  # fmt: skip


async def files_via_graph(graph: GraphFileSource, activity: Activity) -> list[IncomingFile]:
    """The SharePoint files a channel or group chat message points at, with their metadata."""
    conversation = activity.conversation
    if conversation is None or not activity.id:
        return []
    conversation_id, _, root = conversation.id.partition(";messageid=")
    if conversation.conversation_type == "channel":
        team = _team_group_id(activity)
        channel = conversation_channel_id(activity)
        if team is None or channel is None:
            return []
        root_id = root or activity.id
        reply = activity.id if activity.id != root_id else None
        references = await graph.attachments_of_channel_message(team, channel, root_id, reply)
    elif conversation.conversation_type == "groupChat":
        references = await graph.attachments_of_chat_message(conversation_id, activity.id)
    else:
        return []
    files = []
    for reference in references[: MAX_FILES + 1]:
        item = await graph.drive_item(reference.content_url)
        files.append(
            IncomingFile(
                kind=SourceKind.SHAREPOINT,
                url=reference.content_url,
                name=item.name or reference.name,
                declared_type=item.mime_type or _type_for_extension(item.name.rpartition(".")[2]),
                declared_size=item.size,
                details={
                    "driveId": item.drive_id,
                    "eTag": item.etag,
                    "quickXorHash": item.quick_xor_hash,
                    "driveItemSize": item.size,
                },
            )
        )
    return files


def _team_group_id(activity: Activity) -> str | None:
    data = activity.channel_data
    if isinstance(data, dict):
        team = data.get("team")
        if isinstance(team, dict) and isinstance(team.get("aadGroupId"), str):
            return str(team["aadGroupId"])
    return None
