"""Files sent to the bot become exhibits: the real app, worker, Azurite, SQLite, a file server."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from azure.storage.blob.aio import BlobServiceClient

from evidence.custody import Action, verify_chain
from evidence.model import Case, Exhibit
from exhibit.composition import SERVICES
from exhibit.settings import Settings, load_settings
from storage.blobs import API_VERSION
from storage.records import SqlRecords
from tests.conftest import Azurite, BotClientFactory
from tests.support.app_records import records as records  # the fixture
from tests.support.connector import RecordingConnector
from tests.support.conversation import Conversation, teams_file
from tests.support.people import LIAM

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(300_000)
PDF = b"%PDF-1.7\n" + os.urandom(50_000)


@dataclass
class Files:
    """A local file server standing in for SharePoint's pre-authenticated download URLs."""

    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    # name -> how many more times to answer 503 before serving the file
    failures: dict[str, int] = field(default_factory=dict)

    def link(self, name: str, content: bytes | None) -> str:
        if content is not None:
            self.files[name] = content
        return f"{self.url}/download/{name}"


@pytest.fixture
async def files() -> AsyncIterator[Files]:
    state = Files("")

    async def download(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        state.requests.append((name, request.headers.get("Authorization")))
        if state.failures.get(name, 0) > 0:
            state.failures[name] -= 1
            return web.Response(status=503)
        if name not in state.files:
            return web.Response(status=404)
        return web.Response(body=state.files[name], content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/download/{name}", download)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.url = str(server.make_url("")).rstrip("/")
    yield state
    await server.close()


@pytest.fixture
async def officer(
    settings: Settings, bot_client: BotClientFactory, connector: tuple[RecordingConnector, str]
) -> Conversation:
    recorder, url = connector
    return Conversation(await bot_client(settings), recorder, url)


async def _exhibits(records: SqlRecords, reference: str) -> tuple[Case, list[Exhibit]]:
    async with records.unit() as unit:
        case = await unit.case_by_reference(reference)
        assert case is not None
        return case, list(await unit.exhibits_of(case.id))


async def test_a_file_becomes_an_exhibit_with_its_hash_and_custody(
    officer: Conversation, files: Files, records: SqlRecords, azurite: Azurite
) -> None:
    await officer.say("case open MET-24-0001 Burglary")
    receipt = await officer.say(
        "add MET-24-0001", [teams_file("door.jpg", files.link("door.jpg", JPEG))]
    )
    assert "Receiving 1 file for MET-24-0001" in receipt
    card = await officer.wait_for_update("Exhibit JS/1")
    assert hashlib.sha256(JPEG).hexdigest() in card
    assert "Not reviewed yet" in card
    assert "'refresh'" not in card  # a personal chat has nobody else to review from the card
    case, (exhibit,) = await _exhibits(records, "MET-24-0001")
    assert (str(exhibit.ref), exhibit.sha256, exhibit.size) == (
        "JS/1", hashlib.sha256(JPEG).hexdigest(), len(JPEG))  # fmt: skip
    assert exhibit.detected_type == "image/jpeg"
    # A pre-authenticated download URL gets no Authorization header.
    assert files.requests == [("door.jpg", None)]
    async with records.unit() as unit:
        chain = list(await unit.custody(case.id))
        head = await unit.custody_head(case.id)
    actions = [entry.action for entry in chain]
    assert actions == [Action.CASE_OPENED, Action.INTAKE_STARTED, Action.INTAKE_COMPLETED]
    assert chain[-1].details["types_agree"] is True
    assert verify_chain(case.id, chain, head=head).ok
    # The bytes are in the case's region, and only there.
    assert await _blob_regions(azurite, exhibit.blob_name) == ["uksouth"]


async def _blob_regions(azurite: Azurite, blob_name: str) -> list[str]:
    found = []
    for region in ("uksouth", "ukwest"):
        async with BlobServiceClient.from_connection_string(
            azurite.connection_string(region), api_version=API_VERSION
        ) as service:
            container = service.get_container_client("evidence")
            if await container.exists():
                names = [b.name async for b in container.list_blobs()]
                if blob_name in names:
                    found.append(region)
    return found


async def test_a_case_in_the_second_region_keeps_its_bytes_there(
    officer: Conversation, files: Files, records: SqlRecords, azurite: Azurite
) -> None:
    await officer.say("case open MET-24-0002 Fraud region ukwest")
    await officer.say("add MET-24-0002", [teams_file("a.pdf", files.link("a.pdf", PDF))])
    await officer.wait_for_update("Exhibit JS/1")
    _case, (exhibit,) = await _exhibits(records, "MET-24-0002")
    assert exhibit.region == "ukwest"
    assert await _blob_regions(azurite, exhibit.blob_name) == ["ukwest"]


async def test_the_same_activity_three_times_makes_one_exhibit(
    officer: Conversation, files: Files, records: SqlRecords
) -> None:
    await officer.say("case open MET-24-0003 Theft")
    attachment = [teams_file("x.pdf", files.link("x.pdf", PDF))]
    await officer.say("add MET-24-0003", attachment, activity_id="same")
    await officer.wait_for_update("Exhibit JS/1")
    again = await officer.say("add MET-24-0003", attachment, activity_id="same")
    assert "Already receiving" in again
    await officer.say("add MET-24-0003", attachment, activity_id="same")
    case, exhibits = await _exhibits(records, "MET-24-0003")
    assert len(exhibits) == 1
    async with records.unit() as unit:
        chain = await unit.custody(case.id)
    assert [e.action for e in chain].count(Action.INTAKE_STARTED) == 1


async def test_the_same_activity_twice_at_once_leaves_no_receipt_waiting(
    officer: Conversation, files: Files, records: SqlRecords
) -> None:
    # Teams redelivers while the first delivery is still in flight: both copies may post a
    # receipt before either has made the jobs. Only one makes them; the other's receipt must
    # not say "Receiving" for ever.
    await officer.say("case open MET-24-0006 Theft")
    activity = officer.message("add MET-24-0006", activity_id="twice-at-once")
    activity["attachments"] = [teams_file("y.pdf", files.link("y.pdf", PDF))]
    answers = await asyncio.gather(
        *(officer.client.post("/api/messages", json=activity) for _ in "ab")
    )
    assert [a.status for a in answers] == [202, 202]
    await officer.wait_for_update("Exhibit JS/1")
    received = officer.recorder.received
    replies = [r for r in received if r.method == "POST" and r.path.endswith("/twice-at-once")]
    assert len(replies) == 2
    for reply in replies:
        if "Receiving" not in str(reply.body):
            assert "Already receiving" in str(reply.body)  # the second read the first's jobs
            continue
        updates = [r for r in received if r.method == "PUT" and r.path.endswith(f"/{reply.id}")]
        assert updates, "a receipt was never updated"
        last = str(updates[-1].body)
        assert "Exhibit JS/1" in last or "already being recorded" in last, last
    case, exhibits = await _exhibits(records, "MET-24-0006")
    assert len(exhibits) == 1
    async with records.unit() as unit:
        chain = await unit.custody(case.id)
    assert [e.action for e in chain].count(Action.INTAKE_STARTED) == 1


async def test_a_receipt_update_taken_late_is_followed_by_the_final_card(
    settings: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    files: Files,
) -> None:
    # Two instances, one intake slot each, on one database and queue: each file's report
    # redraws the one receipt, and Teams may take the updates in another order than they were
    # drawn. The update showing one exhibit is held until the card showing both was taken (by
    # the other instance, whose worker took the other file), then taken last: its sender must
    # see that the jobs moved on and draw them again.
    one_slot = settings.model_copy(update={"intake_concurrency": 1})
    recorder, url = connector
    officer = Conversation(await bot_client(one_slot), recorder, url)
    await bot_client(one_slot)
    await officer.say("case open MET-24-0014 Arson")

    def shows_one(text: str) -> bool:
        return ("Exhibit JS/1" in text) != ("Exhibit JS/2" in text)

    def one_exhibit(path: str, body: dict[str, Any]) -> bool:
        return shows_one(str(body.get("attachments", [{}])[0].get("content")))

    late = officer.recorder.hold(one_exhibit, accept=True)
    pair = [teams_file(f"p{n}.pdf", files.link(f"p{n}.pdf", PDF + bytes([7, n]))) for n in (1, 2)]
    files.failures["p2.pdf"] = 2  # the second file lands after the first was drawn
    await officer.say("add MET-24-0014", pair)
    await asyncio.wait_for(late.arrived.wait(), 60)
    both = await officer.wait_for_update("Exhibit JS/2", attempts=600)
    assert "Exhibit JS/1" in both
    late.released.set()

    def updates() -> list[str]:
        return [
            str(r.body.get("attachments", [{}])[0].get("content"))
            for r in officer.recorder.received
            if r.method == "PUT"
        ]

    def settled() -> bool:  # the late update was taken, and something came after it
        texts = updates()
        late_at = [
            n
            for n, text in enumerate(texts)
            if one_exhibit("", {"attachments": [{"content": text}]})
        ]
        return bool(late_at) and late_at[-1] < len(texts) - 1

    for _ in range(300):
        if settled():
            break
        await asyncio.sleep(0.1)
    last = updates()[-1]
    assert "Exhibit JS/1" in last, last
    assert "Exhibit JS/2" in last, last


async def test_many_files_get_gap_free_references(
    officer: Conversation, files: Files, records: SqlRecords
) -> None:
    await officer.say("case open MET-24-0004 Riot")
    first = [teams_file(f"a{n}.pdf", files.link(f"a{n}.pdf", PDF + bytes([n]))) for n in range(3)]
    second = [
        teams_file(f"b{n}.pdf", files.link(f"b{n}.pdf", PDF + bytes([9, n]))) for n in range(3)
    ]
    await asyncio.gather(
        officer.say("add MET-24-0004", first), officer.say("add MET-24-0004", second)
    )
    for _ in range(100):
        _case, exhibits = await _exhibits(records, "MET-24-0004")
        if len(exhibits) == 6:
            break
        await asyncio.sleep(0.1)
    assert sorted(e.ref.number for e in exhibits) == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "the file is empty"), (None, "download link from Teams has expired")],
)
async def test_bad_files_are_refused_with_the_reason(
    officer: Conversation, files: Files, records: SqlRecords, content: bytes | None, reason: str
) -> None:
    await officer.say("case open MET-24-0005 Damage")
    await officer.say("add MET-24-0005", [teams_file("bad.jpg", files.link("bad.jpg", content))])
    card = await officer.wait_for_update("could not be recorded")
    assert reason in card
    case, exhibits = await _exhibits(records, "MET-24-0005")
    assert exhibits == []
    async with records.unit() as unit:
        actions = [e.action for e in await unit.custody(case.id)]
    assert actions[-1] == Action.INTAKE_FAILED


async def test_a_file_from_a_host_not_allowed_is_refused(
    officer: Conversation, records: SqlRecords
) -> None:
    await officer.say("case open MET-24-0006 Fraud")
    attachment = teams_file("x.jpg", "https://attacker.example/x.jpg")
    await officer.say("add MET-24-0006", [attachment])
    card = await officer.wait_for_update("could not be recorded")
    assert "does not download from" in card


async def test_a_file_for_a_case_the_officer_is_not_on_is_refused_and_recorded(
    officer: Conversation, files: Files, records: SqlRecords
) -> None:
    await officer.say("case open MET-24-0007 Arson")
    attachment = [teams_file("x.pdf", files.link("x.pdf", PDF))]
    refusal = await officer.say("add MET-24-0007", attachment, sender=LIAM)
    assert "No case MET-24-0007 that you can see" in refusal  # as if there were none
    case, exhibits = await _exhibits(records, "MET-24-0007")
    assert exhibits == []
    async with records.unit() as unit:
        actions = [e.action for e in await unit.custody(case.id)]
    assert Action.INTAKE_REFUSED in actions
    assert files.requests == []


async def test_files_without_a_case_are_explained(officer: Conversation, files: Files) -> None:
    answer = await officer.say("", [teams_file("x.pdf", files.link("x.pdf", PDF))])
    assert "this conversation is not bound" in answer


async def test_list_show_verify_and_custody(
    officer: Conversation, files: Files, records: SqlRecords, azurite: Azurite
) -> None:
    await officer.say("case open MET-24-0008 Assault")
    await officer.say("add MET-24-0008", [teams_file("cctv.pdf", files.link("c.pdf", PDF))])
    await officer.wait_for_update("Exhibit JS/1")
    digest = hashlib.sha256(PDF).hexdigest()
    assert "cctv.pdf" in await officer.say("evidence list MET-24-0008")
    shown = await officer.say("evidence show MET-24-0008 JS/1")
    assert digest in shown
    assert "Verified: the stored file matches" in await officer.say("evidence verify JS/1")
    custody = await officer.say("custody MET-24-0008 JS/1")
    assert "Chain of custody verified" in custody
    assert "Stored and hashed" in custody
    # Someone alters the stored bytes behind Exhibit's back: verify says so.
    _case, (exhibit,) = await _exhibits(records, "MET-24-0008")
    async with BlobServiceClient.from_connection_string(
        azurite.connection_string("uksouth"), api_version=API_VERSION
    ) as service:
        blob = service.get_blob_client("evidence", exhibit.blob_name)
        await blob.upload_blob(b"tampered", overwrite=True)
    assert "NOT VERIFIED" in await officer.say("evidence verify MET-24-0008 JS/1")
    assert "There is no exhibit JS/9" in await officer.say("evidence show MET-24-0008 JS/9")
    assert "Check the exhibit reference" in await officer.say("evidence show nonsense")


async def test_a_large_exhibit_is_verified_after_the_answer(
    settings: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    files: Files,
    records: SqlRecords,
) -> None:
    """Re-hashing gigabytes takes minutes: the officer is answered at once, the result follows."""
    recorder, url = connector
    officer = Conversation(
        await bot_client(settings.model_copy(update={"verify_inline_bytes": 0})), recorder, url
    )
    await officer.say("case open MET-24-0011 Assault")
    await officer.say("add MET-24-0011", [teams_file("cctv.pdf", files.link("c.pdf", PDF))])
    await officer.wait_for_update("Exhibit JS/1")

    answer = await officer.say("evidence verify MET-24-0011 JS/1")
    await officer.client.app[SERVICES].jobs.settle()

    assert "Re-hashing MET-24-0011 JS/1" in answer
    results = [str(b) for b in recorder.activities() if "Verified: the stored file" in str(b)]
    assert len(results) == 1
    case, _ = await _exhibits(records, "MET-24-0011")
    async with records.unit() as unit:
        actions = [entry.action for entry in await unit.custody(case.id)]
    assert actions.count(Action.EXHIBIT_VERIFIED) == 1


async def test_the_limit_refuses_large_files(
    base_env: dict[str, str],
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    files: Files,
) -> None:
    recorder, url = connector
    settings = load_settings({**base_env, "EXHIBIT_MAX_FILE_BYTES": "1000"})
    small = Conversation(await bot_client(settings), recorder, url)
    await small.say("case open MET-24-0009 Big")
    await small.say("add MET-24-0009", [teams_file("big.pdf", files.link("big.pdf", PDF))])
    assert "larger than the limit" in await small.wait_for_update("could not be recorded")


async def test_a_passing_failure_is_retried_and_a_lasting_one_reported(
    base_env: dict[str, str],
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    files: Files,
    records: SqlRecords,
) -> None:
    recorder, url = connector
    settings = load_settings({**base_env, "EXHIBIT_INTAKE_MAX_ATTEMPTS": "2"})
    officer = Conversation(await bot_client(settings), recorder, url)
    await officer.say("case open MET-24-0010 Flaky")
    files.failures["once.pdf"] = 1
    files.failures["never.pdf"] = 99
    await officer.say(
        "add MET-24-0010",
        [
            teams_file("once.pdf", files.link("once.pdf", PDF)),
            teams_file("never.pdf", files.link("never.pdf", PDF + b"x")),
        ],
    )
    card = await officer.wait_for_update("1 exhibit recorded for MET-24-0010", attempts=300)
    assert "Exhibit JS/1" in card  # the first file, on its second attempt
    assert "gave up after 2 attempts" in card
    _case, exhibits = await _exhibits(records, "MET-24-0010")
    assert [e.original_name for e in exhibits] == ["once.pdf"]


async def test_a_declared_type_that_the_bytes_contradict_is_recorded(
    officer: Conversation, files: Files, records: SqlRecords
) -> None:
    await officer.say("case open MET-24-0011 Forgery")
    await officer.say("add MET-24-0011", [teams_file("photo.jpg", files.link("p.jpg", PDF))])
    await officer.wait_for_update("Exhibit JS/1")
    case, (exhibit,) = await _exhibits(records, "MET-24-0011")
    assert (exhibit.declared_type, exhibit.detected_type) == ("image/jpeg", "application/pdf")
    async with records.unit() as unit:
        completed = [e for e in await unit.custody(case.id) if e.action == Action.INTAKE_COMPLETED]
    assert completed[0].details["types_agree"] is False
