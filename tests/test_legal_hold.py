"""`case hold on|off` and retention on intake, through the real app, worker and Blob SDK.

uksouth's account "supports" version-level immutability: its Blob endpoint is the server of
`tests.fakes.blob_immutability` in front of Azurite. ukwest is plain Azurite (no setting).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from evidence.custody import Action, CustodyEntry, verify_chain
from evidence.model import Case
from exhibit.settings import Settings, load_settings
from storage.checkpoints import CHECKPOINT_CONTAINER
from storage.immutability import EVIDENCE_CONTAINER
from storage.records import SqlRecords
from tests.conftest import Azurite, BotClientFactory
from tests.fakes.blob_immutability import ImmutableBlobs, immutable_blob_endpoint
from tests.support.app_records import records as records  # the fixture
from tests.support.connector import RecordingConnector
from tests.support.conversation import CASE_CHANNEL, Conversation, teams_file
from tests.support.people import JANE, LIAM, PRIYA, RAVI, channel_members

CHANNEL = "19:exhibit-case-channel@thread.tacv2"
ACCOUNT = "exhibituksouth"


@pytest.fixture
async def fake(azurite: Azurite) -> AsyncIterator[tuple[str, ImmutableBlobs]]:
    async with immutable_blob_endpoint(f"http://127.0.0.1:{azurite.ports.blob}") as served:
        yield served


@pytest.fixture
def settings(
    base_env: dict[str, str], azurite: Azurite, fake: tuple[str, ImmutableBlobs]
) -> Settings:
    origin, _ = fake
    through = azurite.connection_string("uksouth").replace(
        f"http://127.0.0.1:{azurite.ports.blob}", origin
    )
    return load_settings(
        {
            **base_env,
            "EXHIBIT_REGION_UKSOUTH_CONNECTION_STRING": through,
            "EXHIBIT_REGION_UKSOUTH_IMMUTABILITY_DAYS": "30",
        }
    )


@pytest.fixture
async def file_url() -> AsyncIterator[str]:
    """A file server standing in for Teams' pre-authenticated download URLs."""

    async def download(request: web.Request) -> web.Response:
        return web.Response(body=b"%PDF-1.7\n" + os.urandom(2000), content_type="application/pdf")

    app = web.Application()
    app.router.add_get("/download/{name}", download)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/download")).rstrip("/")
    await server.close()


@pytest.fixture
async def chat(
    settings: Settings, bot_client: BotClientFactory, connector: tuple[RecordingConnector, str]
) -> Conversation:
    recorder, url = connector
    recorder.members[CHANNEL] = channel_members(JANE, RAVI)
    return Conversation(await bot_client(settings), recorder, url)


async def add_file(chat: Conversation, file_url: str, reference: str, name: str, ref: str) -> None:
    await chat.say(f"add {reference}", [teams_file(name, f"{file_url}/{name}")])
    await chat.wait_for_update(f"Exhibit {ref}")


async def case_and_chain(records: SqlRecords, reference: str) -> tuple[Case, list[CustodyEntry]]:
    async with records.unit() as unit:
        case = await unit.case_by_reference(reference)
        assert case is not None
        chain = list(await unit.custody(case.id))
        assert verify_chain(case.id, chain, head=await unit.custody_head(case.id)).ok
        return case, chain


def checkpoints_of(state: ImmutableBlobs, case: Case) -> set[str]:
    """The case's checkpoints stored so far (each gets the region's retention as it is written)."""
    prefix = f"{ACCOUNT}/{CHECKPOINT_CONTAINER}/{case.id}/"
    return {key for key in state.policies if key.startswith(prefix)}


def evidence_holds(state: ImmutableBlobs, case: Case) -> set[str]:
    return {n for n in state.held(ACCOUNT, EVIDENCE_CONTAINER) if n.startswith(f"{case.id}/")}


async def test_an_approver_holds_and_releases_every_file_of_the_case(
    chat: Conversation,
    file_url: str,
    records: SqlRecords,
    fake: tuple[str, ImmutableBlobs],
) -> None:
    _, state = fake
    await chat.say("case open MET-24-0101 Robbery", where=CASE_CHANNEL)
    await add_file(chat, file_url, "MET-24-0101", "a.pdf", "JS/1")
    case, chain = await case_and_chain(records, "MET-24-0101")
    # Every committed exhibit got the region's retention, before it was recorded.
    (exhibit_blob,) = [k for k in state.policies if k.startswith(f"{ACCOUNT}/evidence/{case.id}/")]
    policy = state.policies[exhibit_blob]
    completed = next(e for e in chain if e.action == Action.INTAKE_COMPLETED)
    assert policy.mode == "Unlocked"
    assert abs(policy.until - (completed.at + timedelta(days=30))) < timedelta(minutes=5)

    assert "Check the reason" in await chat.say("case hold on MET-24-0101", sender=RAVI)
    assert "Check the reason" in await chat.say(
        "case hold on MET-24-0101 reason " + "x" * 501, sender=RAVI
    )
    held = await chat.say(
        "case hold on MET-24-0101 reason defence asked for disclosure", sender=RAVI
    )
    assert "Legal hold set." in held
    checkpoints = len(checkpoints_of(state, case))
    assert checkpoints >= 1  # intake completed: a checkpoint, WORM like the evidence
    assert f"{1 + checkpoints} files held in storage in uksouth" in held
    assert state.held(ACCOUNT, CHECKPOINT_CONTAINER) == {
        key.split("/", 2)[2] for key in checkpoints_of(state, case)
    }
    assert "On legal hold" in held
    assert "defence asked for disclosure" in held
    assert len(evidence_holds(state, case)) == 1

    # A file added while the case is on hold is held as it arrives.
    await add_file(chat, file_url, "MET-24-0101", "b.pdf", "JS/2")
    assert len(evidence_holds(state, case)) == 2
    assert "On legal hold" in await chat.say("case show MET-24-0101")

    later = len(checkpoints_of(state, case))
    lifted = await chat.say("case hold off MET-24-0101 reason trial concluded", sender=RAVI)
    assert "Legal hold lifted." in lifted
    assert f"{2 + later} files released" in lifted
    assert "On legal hold" not in lifted
    assert evidence_holds(state, case) == set()
    case, chain = await case_and_chain(records, "MET-24-0101")
    assert case.hold is None
    set_entry = next(e for e in chain if e.action == Action.CASE_HOLD_SET)
    cleared = next(e for e in chain if e.action == Action.CASE_HOLD_CLEARED)
    assert set_entry.details == {
        "reason": "defence asked for disclosure", "blobs": 1 + checkpoints,
        "storage": "held"}  # fmt: skip
    assert set_entry.actor_id == RAVI.object_id
    assert cleared.details == {
        "reason": "trial concluded", "blobs": 2 + later, "storage": "released"}  # fmt: skip


async def test_only_approvers_and_admins_and_a_refusal_tells_nothing(
    chat: Conversation, records: SqlRecords, fake: tuple[str, ImmutableBlobs]
) -> None:
    _, state = fake
    await chat.say("case open MET-24-0102 Theft", where=CASE_CHANNEL)
    refused = await chat.say("case hold on MET-24-0102 reason I want it kept", sender=JANE)
    assert "only approvers and admins" in refused
    unknown = await chat.say("case hold on MET-99-0000 reason kept", sender=LIAM)
    hidden = await chat.say("case hold on MET-24-0102 reason kept", sender=LIAM)
    assert hidden == unknown.replace("MET-99-0000", "MET-24-0102")
    # An admin not on the team may.
    assert "Legal hold set." in await chat.say("case hold on MET-24-0102 reason PSD", sender=PRIYA)
    case, chain = await case_and_chain(records, "MET-24-0102")
    refusals = [e for e in chain if e.action == Action.ACCESS_REFUSED]
    assert {e.actor_id for e in refusals} == {JANE.object_id, LIAM.object_id}
    assert case.hold is not None
    assert case.hold.by_name == PRIYA.name
    assert state.calls == []  # a case without files: nothing to hold in storage


async def test_storage_failing_part_way_is_answered_and_a_repeat_finishes(
    chat: Conversation,
    file_url: str,
    records: SqlRecords,
    fake: tuple[str, ImmutableBlobs],
) -> None:
    _, state = fake
    await chat.say("case open MET-24-0103 Fraud", where=CASE_CHANNEL)
    for n in (1, 2, 3):
        await add_file(chat, file_url, "MET-24-0103", f"f{n}.pdf", f"JS/{n}")
    case, _ = await case_and_chain(records, "MET-24-0103")
    state.fail_holds, state.fail_after = 403, 1

    partial = await chat.say("case hold on MET-24-0103 reason appeal pending", sender=RAVI)
    assert "storage did not finish" in partial
    left = 2 + len(checkpoints_of(state, case))  # the other files, and the case's checkpoints
    assert f"Held in storage: 1 file. Not held yet: {left} files" in partial
    assert "On legal hold" in partial  # the case is on hold all the same
    assert len(evidence_holds(state, case)) == 1

    state.fail_holds = None
    again = await chat.say("case hold on MET-24-0103 reason appeal pending", sender=RAVI)
    assert "already on hold" in again
    assert len(evidence_holds(state, case)) == 3

    state.fail_holds, state.fail_after = 403, 2
    stays = await chat.say("case hold off MET-24-0103 reason appeal dismissed", sender=RAVI)
    assert "The case stays on legal hold" in stays
    case, chain = await case_and_chain(records, "MET-24-0103")
    assert case.hold is not None
    assert case.hold.reason == "appeal pending"
    outcomes = [
        (e.action, e.details.get("storage")) for e in chain if e.action.startswith("case.hold")
    ]
    assert outcomes == [
        (Action.CASE_HOLD_SET, "incomplete"),
        (Action.CASE_HOLD_SET, "held"),
        (Action.CASE_HOLD_CLEARED, "incomplete"),
    ]
    state.fail_holds = None
    assert "Legal hold lifted." in await chat.say(
        "case hold off MET-24-0103 reason appeal dismissed", sender=RAVI
    )
    assert evidence_holds(state, case) == set()


async def test_a_region_without_immutability_records_the_hold_and_says_so(
    chat: Conversation, file_url: str, records: SqlRecords, fake: tuple[str, ImmutableBlobs]
) -> None:
    _, state = fake
    await chat.say("case open MET-24-0104 Arson region ukwest", where=CASE_CHANNEL)
    await add_file(chat, file_url, "MET-24-0104", "c.pdf", "JS/1")
    held = await chat.say("case hold on MET-24-0104 reason review", sender=RAVI)
    assert "Storage-level hold is not available in region ukwest" in held
    assert "On legal hold" in held
    case, chain = await case_and_chain(records, "MET-24-0104")
    assert case.hold is not None
    entry = next(e for e in chain if e.action == Action.CASE_HOLD_SET)
    assert entry.details["storage"] == "not available in this region"
    assert state.calls == []
