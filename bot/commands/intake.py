"""Files sent to the bot (`add`, or files with no command): checked, queued, receipted."""

from __future__ import annotations

import logging
from collections.abc import Sequence, Set
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from microsoft_agents.activity import Activity, Attachment

from bot.commands.case import conversation_channel_id, refusal_error
from bot.proactive import reference_of
from bot.replies import card_activity
from bot.services import Turn
from cards.common import Tone, build_notice_card
from cards.exhibits import build_receipt_card
from evidence.cases import MembersOf, find_case
from evidence.errors import AccessRefused, InvalidInput
from evidence.intake import (
    IncomingFile,
    files_in_drive,
    idempotency_key,
    refuse_files,
    start_intake,
)
from evidence.model import Case, SourceKind
from evidence.policy import Decision, can_add_evidence
from evidence.ports import FileSource
from evidence.records import IntakeJob, JobStatus, RecordsUnit, run_unit

if TYPE_CHECKING:
    from microsoft_teams.cards import AdaptiveCard

TEAMS_FILE = "application/vnd.microsoft.teams.file.download.info"
MAX_FILES = 10  # Teams sends at most 10 files in one message

logger = logging.getLogger(__name__)


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
        return _already_receiving(case)
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
    if receipt_id is not None and not jobs:
        # Delivered twice at once (another instance took the other copy): that delivery made
        # the jobs, and only its receipt follows them. This one would say "Receiving" forever.
        notice = card_activity(_already_receiving(case)).model_copy(update={"id": receipt_id})
        await turn.context.update_activity(notice)
        return None
    for job in jobs:
        await services.ingest_queue.send(job.id)
    logger.info("Intake of %d file(s) for case %s queued", len(jobs), case.id)
    return None


def _already_receiving(case: Case) -> AdaptiveCard:
    return build_notice_card(
        "Already receiving these files",
        f"These files are already being recorded for {case.reference}.",
        Tone.INFO,
    )


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


async def _case_drive(graph: FileSource, activity: Activity, case: Case) -> str | None:
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


async def files_via_graph(graph: FileSource, activity: Activity) -> list[IncomingFile]:
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
