"""`custody export` in Teams: the file consent card, the OneDrive upload session, the record."""

# The tests run the standard tools a court would, one after another: blocking is intended.

from __future__ import annotations

import ast
import hashlib
import io
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from evidence.custody import Action
from exhibit.composition import SERVICES
from exhibit.settings import Settings
from storage.blobs import RegionalBlobServices
from storage.bundles import BlobBundleStore
from storage.records import SqlRecords
from tests.conftest import ConversationFactory
from tests.fakes import serve
from tests.fakes.onedrive_upload import PIECE, UploadSessions
from tests.support.app_records import records as records  # the fixture
from tests.support.conversation import Conversation
from tests.support.people import JANE, LIAM, TOM
from tests.test_continuity_bundle import CASE, make_case, sign_checkpoints, verify
from tests.test_continuity_bundle import blobs as blobs  # the fixture
from tests.test_continuity_bundle import settings as settings  # the fixture
from tests.test_intake import Files
from tests.test_intake import files as files  # the fixture

FILE_CONSENT = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO = "application/vnd.microsoft.teams.card.file.info"


@pytest.fixture
async def onedrive() -> AsyncIterator[tuple[UploadSessions, str]]:
    sessions = UploadSessions()
    async with serve(sessions.app()) as origin:
        yield sessions, origin


@pytest.fixture
async def chat(
    settings: Settings,
    converse: ConversationFactory,
    files: Files,
    records: SqlRecords,
    blobs: RegionalBlobServices,
) -> Conversation:
    conversation = await converse(settings, upload_chunk_size=PIECE)
    await make_case(conversation, files)
    await sign_checkpoints(settings, records, blobs, 0)
    return conversation


async def consent_card(chat: Conversation) -> dict[str, Any]:
    await chat.client.app[SERVICES].jobs.settle()
    body = ast.literal_eval(await chat.sent(FILE_CONSENT))
    attachment: dict[str, Any] = body["attachments"][0]
    return attachment


async def answer(chat: Conversation, action: str, context: dict[str, Any], upload_url: str,
                 *, sender: Any = JANE) -> None:  # fmt: skip
    activity = chat.message(None, sender=sender, activity_id=f"i-{uuid.uuid4().hex[:8]}")
    activity.update(
        type="invoke",
        name="fileConsent/invoke",
        value={
            "type": "fileUpload",
            "action": action,
            "context": context,
            "uploadInfo": {
                "contentUrl": "https://contoso-my.sharepoint.com/personal/jane/bundle.zip",
                "fileType": "zip",
                "name": "bundle.zip",
                "uniqueId": "1150D938-8870-4044-9F2C-5BBDEBA70C9D",
                "uploadUrl": upload_url,
            },
        },
    )
    response = await chat.client.post("/api/messages", json=activity)
    assert response.status == 200
    await chat.client.app[SERVICES].background.wait()


async def chain_of(records: SqlRecords) -> list[Any]:
    async with records.unit() as unit:
        case = await unit.case_by_reference(CASE)
        assert case is not None
        return list(await unit.custody(case.id))


async def test_accepted_bundle_is_uploaded_in_ranges_and_recorded(
    chat: Conversation,
    onedrive: tuple[UploadSessions, str],
    records: SqlRecords,
    blobs: RegionalBlobServices,
    tmp_path: Path,
) -> None:
    sessions, origin = onedrive
    reply = await chat.say(f"custody export {CASE} JS/1 with files")
    assert f"Preparing the continuity bundle of {CASE}" in reply
    card = await consent_card(chat)
    assert card["name"].startswith(f"{CASE}-continuity-")
    context = card["content"]["acceptContext"]
    assert set(context) == {"bundle", "region"}  # ids only
    before = len(await chain_of(records))
    await answer(chat, "accept", context, f"{origin}/upload/s1")
    uploaded = bytes(sessions.files["s1"])
    assert card["content"]["sizeInBytes"] == len(uploaded)
    assert len(sessions.ranges) >= 2  # the exhibit files make it more than one 320 KiB piece
    assert sessions.ranges[0] == f"bytes 0-{PIECE - 1}/{len(uploaded)}"
    # The bundle that reached OneDrive verifies with the standard library.
    folder = tmp_path / "from-onedrive"
    zipfile.ZipFile(io.BytesIO(uploaded)).extractall(folder)
    checked = verify(folder)
    assert checked.returncode == 0, checked.stdout
    assert (folder / "files").is_dir()
    # Recorded once, with exactly what left; the file info card follows; the bundle is gone.
    chain = await chain_of(records)
    assert len(chain) == before + 1
    entry = chain[-1]
    assert entry.action == Action.CUSTODY_EXPORTED
    assert entry.actor_name == JANE.name
    assert entry.details["bundle_sha256"] == hashlib.sha256(uploaded).hexdigest()
    assert entry.details["exhibits"] == ["JS/1"]
    assert entry.details["focused"] is True
    assert entry.details["with_files"] is True
    assert "OneDrive" in entry.details["via"]
    info = await chat.sent(FILE_INFO)
    assert "1150D938-8870-4044-9F2C-5BBDEBA70C9D" in info
    assert await BlobBundleStore(blobs).describe(context["region"], context["bundle"]) is None


async def test_declined_bundle_is_deleted_and_nothing_recorded(
    chat: Conversation,
    onedrive: tuple[UploadSessions, str],
    records: SqlRecords,
    blobs: RegionalBlobServices,
) -> None:
    sessions, origin = onedrive
    await chat.say(f"custody export {CASE}")
    context = (await consent_card(chat))["content"]["declineContext"]
    shelf = BlobBundleStore(blobs)
    assert await shelf.describe(context["region"], context["bundle"]) is not None
    before = len(await chain_of(records))
    # Someone else answering with the card's ids gets nothing, and the bundle stays put.
    await answer(chat, "accept", context, f"{origin}/upload/s2", sender=LIAM)
    assert "s2" not in sessions.files
    assert await shelf.describe(context["region"], context["bundle"]) is not None
    await answer(chat, "decline", context, f"{origin}/upload/s3")
    assert sessions.files == {}
    assert await shelf.describe(context["region"], context["bundle"]) is None
    assert len(await chain_of(records)) == before


async def test_someone_off_the_case_learns_nothing_and_an_auditor_needs_a_reason(
    chat: Conversation, records: SqlRecords
) -> None:
    refused = await chat.say(f"custody export {CASE}", sender=LIAM)
    absent = await chat.say("custody export MET-24-9999", sender=LIAM)
    assert refused == absent.replace("MET-24-9999", CASE)
    assert (await chain_of(records))[-1].action == Action.ACCESS_REFUSED
    asked = await chat.say(f"custody export {CASE}", sender=TOM)
    assert "say why you need its bundle" in asked
    assert "Preparing" in await chat.say(f"custody export {CASE} reason ICO request", sender=TOM)
