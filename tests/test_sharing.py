"""Share requests, four-eyes approvals through `adaptiveCard/action` invokes, revocation."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from azure.storage.blob.aio import BlobServiceClient

from evidence.custody import Action
from evidence.shares import ShareStatus
from exhibit.composition import SERVICES
from exhibit.settings import Settings
from storage.blobs import API_VERSION
from storage.records import SqlRecords
from tests.conftest import Azurite, BotClientFactory
from tests.support.app_records import records as records  # the fixture
from tests.support.connector import RecordingConnector, personal_chat
from tests.support.conversation import CASE_CHANNEL, PERSONAL_CHAT, Conversation, teams_file
from tests.support.people import JANE, LIAM, RAVI, SARAH, Person, channel_members

CHANNEL = "19:exhibit-case-channel@thread.tacv2"
PDF = b"%PDF-1.7\n" + os.urandom(60_000)


@pytest.fixture
async def file_url() -> AsyncIterator[str]:
    async def serve(_request: web.Request) -> web.Response:
        return web.Response(body=PDF)

    app = web.Application()
    app.router.add_get("/statement.pdf", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/statement.pdf"))
    await server.close()


@pytest.fixture
async def team(
    settings: Settings, bot_client: BotClientFactory, connector: tuple[RecordingConnector, str]
) -> Conversation:
    recorder, url = connector
    recorder.members[CHANNEL] = channel_members(JANE, RAVI, SARAH)
    return Conversation(await bot_client(settings), recorder, url, where=CASE_CHANNEL)


async def _case_with_exhibit(team: Conversation, file_url: str, reference: str) -> None:
    await team.say(f"case open {reference} Burglary")
    await team.say(f"add {reference}", [teams_file("statement.pdf", file_url)])
    await team.wait_for_update("Exhibit JS/1")


def _share_id(text: str) -> str:
    match = re.search(r"S-[0-9A-F]{10}", text)
    assert match is not None, text
    return match.group(0)


async def test_request_approve_link_list_revoke(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0201")
    requested = await team.say("share JS/1 with Lawyer@cps.gov.uk for 7d reason trial bundle")
    assert "Share requested" in requested
    share_id = _share_id(requested)
    # The approval card went to the case channel (a new post), refreshed for its approvers.
    new_posts = f"/v3/conversations/{CHANNEL}/activities"
    posts = [r for r in team.recorder.received if r.method == "POST" and r.path == new_posts]
    card = posts[-1].body["attachments"][0]["content"]
    assert card["refresh"]["userIds"] == ["29:user-ravi-patel", "29:user-sarah-okafor"]
    assert share_id in str(card)
    # Sarah approves: the card updates for her, and in the channel for everyone.
    approved = await team.click_share("share.approve", share_id, sender=SARAH)
    assert "Approved" in approved
    assert "Sarah Okafor" in approved
    # The requester gets the link in a personal chat; nothing of it reaches the channel.
    links = [str(b) for b in team.recorder.posted_to(personal_chat(JANE.teams_id))]
    assert not any("/s/" in str(b) for b in team.recorder.posted_to(CHANNEL))
    match = re.search(r"/s/[A-Za-z0-9_-]{43,}", links[0])
    assert match is not None
    path = match.group(0)
    # The link works: a landing page with the hashes, then the bytes themselves.
    landing = await team.client.get(path)
    assert landing.status == 200
    page = await landing.text()
    assert hashlib.sha256(PDF).hexdigest() in page
    # Whom to ask: the requesting officer, as the directory had them when she asked.
    assert "jane.smith@met.example</a>, 020 7946 0018</dd>" in page
    download = await team.client.get(f"{path}/1", allow_redirects=False)
    assert download.status == 302
    async with ClientSession() as browser, browser.get(download.headers["Location"]) as blob:
        assert hashlib.sha256(await blob.read()).hexdigest() == hashlib.sha256(PDF).hexdigest()
    # A double click gives the same answer and no second event.
    assert "Approved" in await team.click_share("share.approve", share_id, sender=SARAH)
    listed = await team.say("share list")
    assert "lawyer@cps.gov.uk" in listed
    assert "Approved" in listed
    assert "Share revoked" in await team.say(f"share revoke {share_id}")
    assert (await team.client.get(path)).status == 410
    async with records.unit() as unit:
        share = await unit.share(share_id)
        assert share is not None
        entries = await unit.custody(share.case_id)
    assert share.status is ShareStatus.REVOKED
    assert (share.requester_email, share.requester_phone) == (
        "jane.smith@met.example",
        "020 7946 0018",
    )
    actions = [e.action for e in entries]
    assert actions.count(Action.SHARE_APPROVED) == 1
    assert actions.count(Action.SHARE_REQUESTED) == 1
    assert actions.count(Action.SHARE_REVOKED) == 1
    views = [e.details.get("view") for e in entries if e.action == Action.CASE_VIEWED]
    assert views.count("shares") == 1  # `share list` is on the record too


@pytest.mark.parametrize(
    ("sender", "answered", "reason"),
    [
        (JANE, "only approvers can decide share requests",
         "only approvers can decide share requests"),
        # Off the case: told nothing about the share, not even that it exists.
        (LIAM, "that you can act on", "you are not on the team of case MET-24-0202"),
    ],
)  # fmt: skip
async def test_refused_decisions_are_answered_and_recorded(
    team: Conversation,
    file_url: str,
    records: SqlRecords,
    sender: Person,
    answered: str,
    reason: str,
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0202")
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason disclosure"))
    answer = await team.click_share("share.approve", share_id, sender=sender)
    assert answered in answer
    async with records.unit() as unit:
        share = await unit.share(share_id)
        assert share is not None
        entries = await unit.custody(share.case_id)
    assert share.status is ShareStatus.PENDING
    refusals = [e for e in entries if e.action == Action.SHARE_REFUSED]
    assert [e.details["reason"] for e in refusals] == [reason]


async def test_four_eyes_an_approver_cannot_approve_their_own_request(
    team: Conversation, file_url: str
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0203")
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason x", sender=RAVI))
    answer = await team.click_share("share.approve", share_id, sender=RAVI)
    assert "nobody may decide their own share request" in answer
    assert "Approved" in await team.click_share("share.approve", share_id, sender=SARAH)
    assert "already approved" in await team.click_share(
        "share.reject", share_id, sender=SARAH, reason="changed my mind"
    )


async def test_reject_needs_a_note_and_unknown_shares_are_refused(
    team: Conversation, file_url: str
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0204")
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason x"))
    assert "needs a note" in await team.click_share("share.reject", share_id, sender=SARAH)
    assert "Rejected" in await team.click_share(
        "share.reject", share_id, sender=SARAH, reason="not relevant"
    )
    assert "There is no share S-0000000000 that you can act on" in await team.click_share(
        "share.approve", "S-0000000000", sender=SARAH
    )


async def test_a_tampered_exhibit_blocks_the_share_and_alerts_the_channel(
    team: Conversation, file_url: str, records: SqlRecords, azurite: Azurite
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0205")
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason x"))
    async with records.unit() as unit:
        case = await unit.case_by_reference("MET-24-0205")
        assert case is not None
        (exhibit,) = await unit.exhibits_of(case.id)
    async with BlobServiceClient.from_connection_string(
        azurite.connection_string("uksouth"), api_version=API_VERSION
    ) as service:
        await service.get_blob_client("evidence", exhibit.blob_name).upload_blob(
            b"altered", overwrite=True
        )
    answer = await team.click_share("share.approve", share_id, sender=SARAH)
    assert "Rejected" in answer
    assert "blocked" in answer
    alerts = [str(r.body) for r in team.recorder.received if "Integrity alert" in str(r.body)]
    assert alerts
    assert hashlib.sha256(PDF).hexdigest() == exhibit.sha256


async def test_the_requester_can_have_a_new_link_and_the_old_one_stops(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    """A link lost on the way (a crash before the card, a deleted e-mail) is not a dead end."""
    await _case_with_exhibit(team, file_url, "MET-24-0207")
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason x"))
    assert "New link" not in await team.say(f"share link {share_id}")  # still pending
    assert "Approved" in await team.click_share("share.approve", share_id, sender=SARAH)
    (first,) = [str(r.body) for r in team.recorder.received if "Share approved" in str(r.body)]
    old = re.search(r"/s/[A-Za-z0-9_-]{43,}", first)
    assert old is not None
    assert (await team.client.get(old.group(0))).status == 200

    refused = await team.say(f"share link {share_id}", sender=SARAH)  # the approver
    renewed = await team.say(f"share link {share_id.lower()}")  # the requester, in the channel

    assert "only the officer who asked for the share" in refused
    # In the channel: a notice only; the new link is in Jane's personal chat.
    assert "New link sent to you" in renewed
    assert "/s/" not in renewed
    personal = [str(b) for b in team.recorder.posted_to(personal_chat(JANE.teams_id))]
    assert "New link for the share" in personal[-1]
    assert "The previous link no longer works" in personal[-1]
    assert not any("/s/" in str(b) for b in team.recorder.posted_to(CHANNEL))
    new = re.search(r"/s/[A-Za-z0-9_-]{43,}", personal[-1])
    assert new is not None
    assert new.group(0) != old.group(0)
    assert (await team.client.get(old.group(0))).status == 404
    assert (await team.client.get(new.group(0))).status == 200
    assert "Share revoked" in await team.say(f"share revoke {share_id}")
    assert "the share is revoked, not active" in await team.say(f"share link {share_id}")
    async with records.unit() as unit:
        share = await unit.share(share_id)
        assert share is not None
        entries = await unit.custody(share.case_id)
    actions = [e.action for e in entries]
    assert actions.count(Action.SHARE_LINK_REISSUED) == 1
    attempts = [e.details.get("attempt") for e in entries if e.action == Action.SHARE_REFUSED]
    assert attempts == ["new link", "new link", "new link"]


async def test_a_share_asked_by_someone_off_the_case_is_refused_and_recorded(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0209")

    answer = await team.say("share JS/1 with a@cps.gov.uk reason x", sender=LIAM)

    # Off the case, the channel's case reads as no case at all (no existence oracle).
    assert "No case MET-24-0209 that you can see" in answer
    assert "Not allowed" not in answer
    async with records.unit() as unit:
        case = await unit.case_by_reference("MET-24-0209")
        assert case is not None
        entries = await unit.custody(case.id)
        assert await unit.shares_of(case.id) == []
    refusals = [e for e in entries if e.action == Action.ACCESS_REFUSED]
    assert [e.actor_id for e in refusals] == [LIAM.object_id]


async def test_share_requests_are_checked(team: Conversation, file_url: str) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0206")
    assert "not on the list of organisations" in await team.say(
        "share JS/1 with someone@gmail.com reason x"
    )
    assert "has no exhibit JS/7" in await team.say("share JS/1,JS/7 with a@cps.gov.uk reason x")
    assert "Give a reason" in await team.say("share JS/1 with a@cps.gov.uk")


async def test_the_share_form(team: Conversation, file_url: str, records: SqlRecords) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0207")
    form = await team.say("share JS/1")
    assert "Request an external share" in form
    assert "'value': 'JS/1'" in form
    # Submitting the form (Action.Submit) sends its fields as the message's value.
    activity = team.message(None, activity_id="form-1")
    activity["value"] = {"exhibitAction": "share.form", "exhibits": "JS/1",
                         "recipient": "clerk@justice.gov.uk", "organisation": "court",
                         "days": "10", "reason": "hearing on Monday"}  # fmt: skip
    assert "Share requested" in str(await team.post(activity))
    async with records.unit() as unit:
        case = await unit.case_by_reference("MET-24-0207")
        assert case is not None
        (share,) = await unit.shares_of(case.id)
    assert (share.recipient, share.organisation_type, share.days) == (
        "clerk@justice.gov.uk", "court", 10)  # fmt: skip


async def test_the_case_team_reviews_and_flags_exhibits(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0208")
    async with records.unit() as unit:
        case = await unit.case_by_reference("MET-24-0208")
        assert case is not None
        (exhibit,) = await unit.exhibits_of(case.id)
    # The producer sees no review buttons; another member of the case team does.
    assert "Mark reviewed" not in await team.say("evidence show JS/1")
    shown = await team.say("evidence show JS/1", sender=RAVI)
    assert "Mark reviewed" in shown
    assert "Not reviewed yet" in shown
    reviewed = await team.click("exhibit.review", {"exhibitId": exhibit.id}, sender=RAVI)
    assert "Reviewed by Ravi Patel" in reviewed
    own = await team.click("exhibit.review", {"exhibitId": exhibit.id}, sender=JANE)
    assert "the officer who produced an exhibit cannot review it" in own
    bare = await team.click("exhibit.flag", {"exhibitId": exhibit.id}, sender=SARAH)
    assert "a flag needs a comment" in bare
    flagged = await team.click(
        "exhibit.flag", {"exhibitId": exhibit.id, "comment": "faces not redacted"}, sender=SARAH
    )
    assert "Flagged by Sarah Okafor" in flagged
    assert "faces not redacted" in flagged
    async with records.unit() as unit:
        actions = [e.action for e in await unit.custody(case.id) if e.exhibit_id == exhibit.id]
    assert actions.count(Action.EXHIBIT_REVIEWED) == 1
    assert actions.count(Action.EXHIBIT_FLAGGED) == 1
    assert Action.ACCESS_REFUSED in actions


async def test_the_channel_receipt_carries_reviews_for_the_case_team(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0210")
    finals = [
        r.body
        for r in team.recorder.received
        if r.method == "PUT" and "Exhibit JS/1" in str(r.body)
    ]
    card = finals[-1]["attachments"][0]["content"]
    # Teams is asked to refresh the card for the case team but the producer (Jane).
    assert card["refresh"]["userIds"] == ["29:user-ravi-patel", "29:user-sarah-okafor"]
    assert card["refresh"]["action"]["verb"] == "exhibit.refresh"
    receipt = card["refresh"]["action"]["data"]["receipt"]
    assert "Not reviewed yet" in str(card)
    assert "Mark reviewed" not in str(card)  # the base card, seen by everyone, has no buttons
    async with records.unit() as unit:
        case = await unit.case_by_reference("MET-24-0210")
        assert case is not None
        (exhibit,) = await unit.exhibits_of(case.id)

    ravi = await team.click("exhibit.refresh", {"receipt": receipt}, sender=RAVI)
    jane = await team.click("exhibit.refresh", {"receipt": receipt}, sender=JANE)
    liam = await team.click("exhibit.refresh", {"receipt": receipt}, sender=LIAM)
    forged = await team.click("exhibit.refresh", {"receipt": "no-such-card"}, sender=RAVI)
    reviewed = await team.click(
        "exhibit.review", {"exhibitId": exhibit.id, "receipt": receipt}, sender=RAVI
    )

    assert "Mark reviewed" in ravi
    assert "Exhibit JS/1" in jane
    assert "Mark reviewed" not in jane  # the producer does not review their own exhibit
    assert "This card is not available to you." in liam
    assert "Exhibit JS/1" not in liam
    assert forged == liam  # an unknown card and a refused one read the same
    assert "1 exhibit recorded for MET-24-0210" in reviewed  # the receipt, answered for Ravi
    assert "Reviewed by Ravi Patel" in reviewed
    async with records.unit() as unit:
        entries = await unit.custody(case.id)
    actions = [e.action for e in entries]
    assert actions.count(Action.EXHIBIT_REVIEWED) == 1
    assert [e.actor_id for e in entries if e.action == Action.ACCESS_REFUSED] == [LIAM.object_id]
    assert Action.CASE_VIEWED not in actions  # refreshes are not recorded as case views


async def test_a_case_team_is_known_from_a_personal_chat_without_graph(
    settings: Settings, bot_client: BotClientFactory, connector: tuple[RecordingConnector, str]
) -> None:
    """No Graph, nothing cached (a restarted bot): the connector is asked for the channel."""
    recorder, url = connector
    recorder.members[CHANNEL] = channel_members(JANE, RAVI)
    opened_by = Conversation(await bot_client(settings), recorder, url, where=CASE_CHANNEL)
    await opened_by.say("case open MET-24-0211 Robbery")
    # Sarah joins the channel later; the bot restarts and remembers no team.
    recorder.members[CHANNEL] += channel_members(SARAH)
    restarted = Conversation(await bot_client(settings), recorder, url, where=CASE_CHANNEL)

    ravi = await restarted.say("case show MET-24-0211", sender=RAVI, where=PERSONAL_CHAT)
    listed = await restarted.say("case list", sender=SARAH, where=PERSONAL_CHAT)
    liam = await restarted.say("case show MET-24-0211", sender=LIAM, where=PERSONAL_CHAT)

    assert "Robbery" in ravi
    assert "MET-24-0211" in listed
    assert "No case MET-24-0211 that you can see" in liam


async def test_large_shares_are_checked_after_the_click_is_answered(
    settings: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    file_url: str,
    records: SqlRecords,
) -> None:
    """Teams gives a click a few seconds; re-hashing gigabytes of video takes longer."""
    recorder, url = connector
    recorder.members[CHANNEL] = channel_members(JANE, SARAH)
    every_share_is_large = settings.model_copy(update={"verify_inline_bytes": 0})
    team = Conversation(await bot_client(every_share_is_large), recorder, url, where=CASE_CHANNEL)
    await _case_with_exhibit(team, file_url, "MET-24-0212")
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason x"))

    answer = await team.click_share("share.approve", share_id, sender=SARAH)
    await team.client.app[SERVICES].jobs.settle()

    assert "Checking 1 exhibit" in answer
    assert "share.approve" not in answer  # no buttons while the exhibits are checked
    links = [str(r.body) for r in recorder.received if "Share approved" in str(r.body)]
    assert len(links) == 1
    redrawn = [
        str(r.body) for r in recorder.received if r.method == "PUT" and share_id in str(r.body)
    ]
    assert any(share_id in body and "Approved" in body for body in redrawn)
    async with records.unit() as unit:
        share = await unit.share(share_id)
        assert share is not None
        entries = await unit.custody(share.case_id)
    assert share.status is ShareStatus.APPROVED
    assert [e.action for e in entries].count(Action.SHARE_APPROVED) == 1
    assert "Checking" not in str(await team.click_share("share.approve", share_id, sender=SARAH))


async def test_a_case_opened_in_personal_chat_is_shared_once_bound(
    team: Conversation, file_url: str
) -> None:
    reference = "MET-24-0290"
    await team.say(f"case open {reference} Burglary", where=PERSONAL_CHAT)
    await team.say(f"add {reference}", [teams_file("statement.pdf", file_url)], where=PERSONAL_CHAT)
    await team.wait_for_update("Exhibit JS/1")
    refused = await team.say("share JS/1 with a@cps.gov.uk reason trial", where=PERSONAL_CHAT)
    assert f"`@Exhibit case bind {reference}`" in refused
    assert "Case bound to this channel" in await team.say(f"case bind {reference}")
    requested = await team.say("share JS/1 with a@cps.gov.uk reason trial")
    assert "waiting for an approver" in requested
