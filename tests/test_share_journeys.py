"""Sharing without dead ends (issue 13): the approval kept when revoked, rejections told to the
requester, the case named in `share`, and the approval card's flags."""

from __future__ import annotations

import re

from evidence.custody import Action
from evidence.shares import ShareStatus
from storage.records import SqlRecords
from tests.support.app_records import records as records  # the fixture
from tests.support.connector import personal_chat
from tests.support.conversation import Conversation, teams_file
from tests.support.people import JANE, SARAH
from tests.test_sharing import CHANNEL, _case_with_exhibit, _share_id
from tests.test_sharing import file_url as file_url  # the fixture
from tests.test_sharing import team as team  # the fixture

JANES_CHAT = personal_chat(JANE.teams_id)


async def test_revoking_keeps_who_approved_on_every_card(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0301")
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason trial"))
    await team.click_share("share.approve", share_id, sender=SARAH)

    revoked = await team.say(f"share revoke {share_id} reason sent to the wrong lawyer")
    listed = await team.say("share list")
    channel_card = await team.wait_for_update("Revoked by Jane Smith")

    assert "Share revoked" in revoked
    for card in (listed, channel_card):
        assert "Approved by Sarah Okafor" in card
        assert "Revoked by Jane Smith" in card
        assert "sent to the wrong lawyer" in card
    async with records.unit() as unit:
        share = await unit.share(share_id)
    assert share is not None
    assert (share.decided_by, share.revoked_by) == (SARAH.object_id, JANE.object_id)


async def test_a_rejection_is_told_to_the_requester_in_a_personal_chat(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0302")
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason trial"))

    await team.click_share("share.reject", share_id, sender=SARAH, reason="redact the faces first")
    listed = await team.say("share list")

    (told,) = [str(b) for b in team.recorder.posted_to(JANES_CHAT)]
    assert "Share request rejected" in told
    assert "Rejected by Sarah Okafor" in told
    assert "redact the faces first" in told
    assert not any("Share request rejected" in str(b) for b in team.recorder.posted_to(CHANNEL))
    assert "Rejected by Sarah Okafor" in listed
    assert "redact the faces first" in listed
    async with records.unit() as unit:
        share = await unit.share(share_id)
        assert share is not None
        entries = await unit.custody(share.case_id)
    (delivered,) = [e for e in entries if e.action == Action.SHARE_REJECTION_DELIVERED]
    assert delivered.details == {"share": share_id, "to": JANE.object_id, "via": "personal chat"}
    # Re-requesting after a rejection is a new request.
    again = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason trial, faces redacted"))
    assert again != share_id


async def test_share_can_name_the_case_when_the_exhibit_is_in_two(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0303")
    # A second case with its own JS/1, opened in a personal chat (no channel of its own).
    await team.say("case open MET-24-0304 Theft", where="personal_message")
    await team.say("add MET-24-0304", [teams_file("other.pdf", file_url)], where="personal_message")
    await team.wait_for_update("MET-24-0304 JS/1")

    named = await team.say("share MET-24-0303 JS/1 with a@cps.gov.uk reason trial")
    other = await team.say("share MET-24-0304 JS/1 with a@cps.gov.uk reason trial")
    form = await team.say("share MET-24-0303 JS/1")

    assert "Share requested" in named
    assert "case bind MET-24-0304" in other  # its own case, not the channel's
    assert "'case': 'MET-24-0303'" in form
    async with records.unit() as unit:
        case = await unit.case_by_reference("MET-24-0303")
        assert case is not None
        (share,) = await unit.shares_of(case.id)
    assert share.id == _share_id(named)


async def test_a_flagged_exhibit_needs_the_flags_read_before_approval(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0305")
    async with records.unit() as unit:
        case = await unit.case_by_reference("MET-24-0305")
        assert case is not None
        (exhibit,) = await unit.exhibits_of(case.id)
    await team.click(
        "exhibit.flag", {"exhibitId": exhibit.id, "comment": "faces not redacted"}, sender=SARAH
    )
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason trial"))
    posted = await team.sent("I have read the flags")

    unread = await team.click_share("share.approve", share_id, sender=SARAH)
    untouched = await team.click_share("share.approve", share_id, sender=SARAH, flagsRead="false")
    read = await team.click_share("share.approve", share_id, sender=SARAH, flagsRead="true")

    # The approver sees what they judge by: file, size, type, hash and the flag.
    for shown in ("statement.pdf", exhibit.sha256, "application/pdf", "(cps.gov.uk)",
                  "Flagged by Sarah Okafor", "faces not redacted"):  # fmt: skip
        assert shown in posted
    assert 'Refused: JS/1 is flagged: tick "I have read the flags" to approve.' in unread
    assert "share.approve" in unread  # the buttons stay, to tick and click again
    assert "I have read the flags" in untouched
    assert "Approved by Sarah Okafor" in read
    async with records.unit() as unit:
        share = await unit.share(share_id)
        assert share is not None
        actions = [e.action for e in await unit.custody(case.id)]
    assert share.status is ShareStatus.APPROVED
    assert actions.count(Action.SHARE_APPROVED) == 1
    assert Action.SHARE_REFUSED not in actions


async def test_the_link_reaches_the_requester_as_a_button(
    team: Conversation, file_url: str
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0306")
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason trial"))
    await team.click_share("share.approve", share_id, sender=SARAH)

    (card,) = [b["attachments"][0]["content"] for b in team.recorder.posted_to(JANES_CHAT)]
    (button,) = card["actions"]
    assert button["type"] == "Action.OpenUrl"
    assert re.fullmatch(r"https?://[^ ]+/s/[A-Za-z0-9_-]{43,}", button["url"])
    path = "/s/" + button["url"].split("/s/")[1]
    assert (await team.client.get(path)).status == 200
