"""A share's link reaches only its requester: in a 1:1 chat, never in a channel thread.

The bot opens the 1:1 chat through the connector (`POST /v3/conversations`, the member's Teams
id) when the share was asked for in a channel; where the link went is recorded, never the link.
"""

from __future__ import annotations

import re
from typing import Any

from evidence.custody import Action
from storage.records import SqlRecords
from tests.support.app_records import records as records  # the fixture
from tests.support.connector import personal_chat
from tests.support.conversation import PERSONAL_CHAT, Conversation
from tests.support.people import JANE, SARAH
from tests.test_sharing import CHANNEL, _case_with_exhibit, _share_id
from tests.test_sharing import file_url as file_url  # the fixture
from tests.test_sharing import team as team  # the fixture

LINK = re.compile(r"/s/[A-Za-z0-9_-]{43,}")
JANES_CHAT = personal_chat(JANE.teams_id)
PERSONAL_FIXTURE_CHAT = "a:exhibit-personal-chat"  # tests/fixtures/personal_message.json


def links_in(bodies: list[dict[str, Any]]) -> list[str]:
    """The share links in these messages, one per message however often it shows there."""
    return [link for body in bodies for link in dict.fromkeys(LINK.findall(str(body)))]


async def custody(records: SqlRecords, share_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with records.unit() as unit:
        share = await unit.share(share_id)
        assert share is not None
        entries = await unit.custody(share.case_id)
    return [(e.action, dict(e.details)) for e in entries if e.details.get("share") == share_id]


async def test_a_share_asked_in_the_channel_sends_its_link_to_a_personal_chat(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0501")
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason trial bundle"))

    assert "Approved" in await team.click_share("share.approve", share_id, sender=SARAH)

    (opened,) = [r for r in team.recorder.received if r.path == "/v3/conversations"]
    assert opened.body["isGroup"] is False
    assert opened.body["members"] == [{"id": "29:user-jane-smith"}]
    assert opened.body["tenantId"]
    (link,) = links_in(team.recorder.posted_to(JANES_CHAT))
    assert links_in(team.recorder.posted_to(CHANNEL)) == []
    assert (await team.client.get(link)).status == 200
    (delivered,) = [d for a, d in await custody(records, share_id)
                    if a == Action.SHARE_LINK_DELIVERED]  # fmt: skip
    assert delivered == {"share": share_id, "to": JANE.object_id, "via": "personal chat"}


async def test_a_share_asked_in_a_personal_chat_gets_its_link_there(
    team: Conversation, file_url: str
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0502")
    share_id = _share_id(
        await team.say("share JS/1 with a@cps.gov.uk reason x", where=PERSONAL_CHAT)
    )

    assert "Approved" in await team.click_share("share.approve", share_id, sender=SARAH)

    assert len(links_in(team.recorder.posted_to(PERSONAL_FIXTURE_CHAT))) == 1
    assert not [r for r in team.recorder.received if r.path == "/v3/conversations"]
    assert links_in(team.recorder.posted_to(CHANNEL)) == []


async def test_share_link_typed_in_the_channel_answers_there_with_a_notice_only(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0503")
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason x"))
    assert "Approved" in await team.click_share("share.approve", share_id, sender=SARAH)

    answer = await team.say(f"share link {share_id}")

    assert "New link sent to you" in answer
    assert LINK.search(answer) is None
    first, renewed = links_in(team.recorder.posted_to(JANES_CHAT))
    assert links_in(team.recorder.posted_to(CHANNEL)) == []
    assert (await team.client.get(first)).status == 404
    assert (await team.client.get(renewed)).status == 200
    entries = await custody(records, share_id)
    (reissued,) = [d for a, d in entries if a == Action.SHARE_LINK_REISSUED]
    assert reissued["requested_by"] == JANE.object_id
    deliveries = [d for a, d in entries if a == Action.SHARE_LINK_DELIVERED]
    assert [d["via"] for d in deliveries] == ["personal chat", "personal chat"]
    assert LINK.search(str(entries)) is None  # the ledger never holds a link


async def test_a_requester_who_cannot_be_reached_is_told_in_the_thread_without_the_link(
    team: Conversation, file_url: str, records: SqlRecords
) -> None:
    team.recorder.unreachable.add("29:user-jane-smith")
    await _case_with_exhibit(team, file_url, "MET-24-0504")
    share_id = _share_id(await team.say("share JS/1 with a@cps.gov.uk reason x"))

    assert "Approved" in await team.click_share("share.approve", share_id, sender=SARAH)

    channel = [str(body) for body in team.recorder.posted_to(CHANNEL)]
    assert any(f"share link {share_id}" in body for body in channel)
    assert links_in(team.recorder.posted_to(CHANNEL)) == []
    assert links_in(team.recorder.posted_to(JANES_CHAT)) == []
    (delivered,) = [d for a, d in await custody(records, share_id)
                    if a == Action.SHARE_LINK_DELIVERED]  # fmt: skip
    assert delivered["via"] == "not delivered"
    assert delivered["problem"]
