"""The Playground scenario, as an officer would type it; grows with every capability."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from playwright.async_api import Browser, Locator, Page, expect

from devtools.click import approval_card, click
from devtools.devstack import DevStack
from devtools.playground import user_id
from devtools.send_file import send as send_file
from evidence.shares import Share
from storage.database import create_engine
from storage.records import SqlRecords
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.playground import (
    CARD,
    click_as,
    new_card,
    open_conversation,
    post_in_channel_mentioning_bot,
    send_in_chat,
)

CHANNEL = "19:exhibit-case-channel@thread.tacv2"


async def test_help_in_personal_chat(page: Page) -> None:
    await open_conversation(page, "Personal Chat")
    card = await send_in_chat(page, "help")
    text = await card.inner_text()
    assert "Exhibit commands" in text
    for group in ("Cases", "Evidence", "Sharing", "Custody"):
        assert group in text
    assert "Open a new case" in text
    await page.screenshot(path=ARTIFACTS / "help-personal.png", full_page=True)
    details = await (await send_in_chat(page, "help share")).inner_text()
    syntax = "share [\u2039case-ref\u203a] \u2039exhibit-ref\u203a[,...] with \u2039email\u203a"
    assert syntax in details
    await page.screenshot(path=ARTIFACTS / "help-share.png", full_page=True)


async def test_unknown_text_in_personal_chat_gets_a_hint(page: Page) -> None:
    await open_conversation(page, "Personal Chat")
    card = await send_in_chat(page, "open the pod bay doors")
    assert "did not understand" in await card.inner_text()


async def test_a_typo_gets_the_closest_command(page: Page) -> None:
    await open_conversation(page, "Personal Chat")
    card = await send_in_chat(page, "case lsit")
    text = await card.inner_text()
    assert "Did you mean" in text
    assert "case list" in text
    assert "Exhibit commands" not in text
    await page.screenshot(path=ARTIFACTS / "typo.png", full_page=True)


async def test_help_when_mentioned_in_the_case_channel(page: Page) -> None:
    await open_conversation(page, "Case MET-24-0001")
    card = await post_in_channel_mentioning_bot(page, "Exhibit", "help")
    text = await card.inner_text()
    assert "Exhibit commands" in text
    assert "did not understand" not in text
    await page.screenshot(path=ARTIFACTS / "help-channel.png", full_page=True)


async def test_whoami_shows_the_current_user(page: Page) -> None:
    await open_conversation(page, "Personal Chat")
    card = await send_in_chat(page, "whoami")
    text = await card.inner_text()
    assert "Jane Smith" in text
    assert "Police Constable" in text
    assert "officer" in text
    assert "Local directory file" in text
    await page.screenshot(path=ARTIFACTS / "whoami.png", full_page=True)


async def test_open_a_case_in_the_case_channel(page: Page) -> None:
    await open_conversation(page, "Case MET-24-0001")
    card = await post_in_channel_mentioning_bot(
        page, "Exhibit", "case open MET-24-0001 Burglary at 12 High Street"
    )
    text = await card.inner_text()
    assert "Case opened and bound to this channel." in text
    assert "MET-24-0001" in text
    # The channel by its name (the Playground, like Teams, leaves it out of the message).
    assert re.search(r"Channel\s+Case MET-24-0001", text), text
    await page.screenshot(path=ARTIFACTS / "case-open.png", full_page=True)
    shown = await post_in_channel_mentioning_bot(page, "Exhibit", "case show")
    assert "Burglary at 12 High Street" in await shown.inner_text()


async def test_the_case_is_listed_in_personal_chat(page: Page) -> None:
    await open_conversation(page, "Personal Chat")
    card = await send_in_chat(page, "case list")
    text = await card.inner_text()
    assert "MET-24-0001" in text
    await page.screenshot(path=ARTIFACTS / "case-list.png", full_page=True)


async def test_a_file_becomes_an_exhibit_verified_with_its_custody(
    page: Page, stack: DevStack, tmp_path: Path
) -> None:
    photo = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(200_000)
    digest = hashlib.sha256(photo).hexdigest()
    path = tmp_path / "front-door.jpg"
    path.write_bytes(photo)
    await open_conversation(page, "Personal Chat")
    seen = await page.locator(CARD).all_inner_texts()
    # What a person runs to send a file in the Playground (it has no upload button); it ends
    # with Exhibit's outcome.
    outcome = await send_file(path, "MET-24-0001", stack.playground_url.rstrip("/"), 60)
    assert outcome is not None
    assert outcome.recorded
    assert "1 exhibit recorded for MET-24-0001" in outcome.text
    receipt = await new_card(page, seen)
    # The receipt turns into the exhibit card in place once the bytes are stored.
    await expect(receipt).to_contain_text("Exhibit JS/1", timeout=30_000)
    await expect(receipt).to_contain_text(digest)
    await page.screenshot(path=ARTIFACTS / "exhibit-recorded.png", full_page=True)
    verified = await send_in_chat(page, "evidence verify MET-24-0001 JS/1")
    assert "Verified: the stored file matches" in await verified.inner_text()
    custody = await send_in_chat(page, "custody MET-24-0001 JS/1")
    text = await custody.inner_text()
    assert "Chain of custody verified" in text
    for line in ("Sent for intake by Jane Smith", "Stored and hashed", "Verified by Jane Smith"):
        assert line in text
    await page.screenshot(path=ARTIFACTS / "custody.png", full_page=True)


async def test_send_file_stops_at_once_when_the_case_is_not_found(
    page: Page, stack: DevStack, tmp_path: Path
) -> None:
    path = tmp_path / "note.txt"
    path.write_bytes(b"a note")
    await open_conversation(page, "Personal Chat")
    outcome = await send_file(path, "MET-99-0009", stack.playground_url.rstrip("/"), 60)
    assert outcome is not None
    assert not outcome.recorded
    assert "Case not found" in outcome.text


async def test_next_step_buttons_on_the_exhibit_and_case_cards(page: Page) -> None:
    await open_conversation(page, "Personal Chat")
    exhibit = await send_in_chat(page, "evidence show MET-24-0001 JS/1")
    for button in ("Verify", "Custody", "Share"):
        await expect(exhibit.get_by_role("button", name=button)).to_be_visible()
    await exhibit.scroll_into_view_if_needed()
    await page.screenshot(path=ARTIFACTS / "exhibit-next-steps.png", full_page=True)
    seen = await page.locator(CARD).all_inner_texts()
    await exhibit.get_by_role("button", name="Custody").click()
    custody = await new_card(page, seen, answer="Custody of MET-24-0001 JS/1")
    assert "Chain of custody verified" in await custody.inner_text()
    await expect(exhibit).to_contain_text("Exhibit JS/1")  # the clicked card stays
    await page.screenshot(path=ARTIFACTS / "exhibit-next-step-custody.png", full_page=True)
    case = await send_in_chat(page, "case show MET-24-0001")
    await case.scroll_into_view_if_needed()
    await page.screenshot(path=ARTIFACTS / "case-next-steps.png", full_page=True)
    seen = await page.locator(CARD).all_inner_texts()
    await case.get_by_role("button", name="Evidence").click()
    exhibits = await new_card(page, seen, answer="Exhibits of MET-24-0001")
    assert "front-door.jpg" in await exhibits.inner_text()


async def _the_share(stack: DevStack, reference: str = "MET-24-0001") -> Share:
    engine = create_engine(f"sqlite+aiosqlite:///{stack.data_dir / 'exhibit.db'}")
    try:
        async with SqlRecords(engine).unit() as unit:
            case = await unit.case_by_reference(reference)
            assert case is not None
            return (await unit.shares_of(case.id))[0]  # the newest
    finally:
        await engine.dispose()


async def test_share_rejected_then_requested_again_approved_relinked_revoked(
    page: Page, stack: DevStack, browser: Browser
) -> None:
    await open_conversation(page, "Case MET-24-0001")
    await post_in_channel_mentioning_bot(
        page, "Exhibit", "share JS/1 with lawyer@cps.gov.uk for 7d reason bundle"
    )
    await expect(page.locator(CARD).filter(has_text="Share requested").first).to_be_visible()
    first = await _the_share(stack)
    assert first.approval_activity_id is not None
    # Ravi rejects it; Jane is told in her personal chat, with who, when and why.
    rejected = await click_as(
        page, stack.playground_url, "29:user-ravi-patel", CHANNEL, first.approval_activity_id,
        "share.reject", {"shareId": first.id, "reason": "say which trial"},
    )  # fmt: skip
    assert "Rejected by Ravi Patel" in json.dumps(rejected)
    await open_conversation(page, "Personal Chat")
    told = page.locator(CARD).filter(has_text="Share request rejected")
    await expect(told.first).to_be_visible(timeout=20_000)
    assert "say which trial" in await told.first.inner_text()
    await told.first.scroll_into_view_if_needed()
    await page.screenshot(path=ARTIFACTS / "share-rejected-told.png", full_page=True)
    # She asks again, saying which trial.
    await open_conversation(page, "Case MET-24-0001")
    await post_in_channel_mentioning_bot(
        page, "Exhibit", "share JS/1 with lawyer@cps.gov.uk for 7d reason trial bundle"
    )
    # Two cards: the answer in the thread, and the approval card as a new channel post.
    await expect(page.locator(CARD).filter(has_text="Share requested").first).to_be_visible()
    share = await _the_share(stack)
    assert share.id != first.id
    assert share.approval_activity_id is not None
    approval = page.locator(CARD).filter(has_text=share.id).filter(has_text="Waiting")
    await expect(approval.first).to_be_visible()
    await page.screenshot(path=ARTIFACTS / "share-requested.png", full_page=True)
    # Jane (an officer, and the requester) cannot approve: the card she clicked says so.
    await approval.first.get_by_role("button", name="Approve").click()
    own = page.locator(CARD).filter(has_text="Refused: only approvers can decide share requests")
    await expect(own.first).to_be_visible(timeout=20_000)
    await page.screenshot(path=ARTIFACTS / "share-approval-refused.png", full_page=True)
    # A share id that is not there reads like one of a case the clicker is not on: nothing.
    unknown = await click_as(
        page, stack.playground_url, "29:user-ravi-patel", CHANNEL, share.approval_activity_id,
        "share.approve", {"shareId": "S-0000000000"},
    )  # fmt: skip
    assert "There is no share S-0000000000 that you can act on" in json.dumps(unknown)
    # Ravi Patel, an approver, approves from the card (the Playground clicks only as Jane),
    # with the README's helper: `python -m devtools.click --as "Ravi Patel" approve S-…`.
    place = await approval_card(f"sqlite+aiosqlite:///{stack.data_dir / 'exhibit.db'}", share.id)
    assert place is not None
    assert place.message_id == share.approval_activity_id
    result = await click(
        stack.playground_url, user_id("Ravi Patel"), share.id, place, "share.approve", ""
    )
    assert "Approved" in json.dumps(result)
    # The card changed in the channel for everyone.
    decided = page.locator(CARD).filter(has_text=share.id).filter(has_text="Approved")
    await expect(decided.first).to_be_visible(timeout=20_000)
    # The link never reaches the channel: everyone there would have it.
    await expect(page.locator(CARD).filter(has_text="Share approved")).to_have_count(0)
    assert "/s/" not in " ".join(await page.locator(CARD).all_inner_texts())
    # The requester got it in her personal chat with Exhibit; it opens outside Teams.
    await open_conversation(page, "Personal Chat")
    link_card = page.locator(CARD).filter(has_text="Share approved")
    await expect(link_card.first).to_be_visible(timeout=20_000)
    url = re.search(r"https?://\S+/s/[A-Za-z0-9_-]+", await link_card.first.inner_text())
    assert url is not None
    await link_card.first.scroll_into_view_if_needed()
    await page.screenshot(path=ARTIFACTS / "share-approved.png", full_page=True)
    await expect(link_card.first.get_by_text("Open the link")).to_be_visible()
    outside = await browser.new_page()
    try:
        opened = await outside.goto(url.group(0))
        assert opened is not None
        assert opened.status == 200
        assert "OFFICIAL-SENSITIVE" in await outside.content()
        await outside.screenshot(path=ARTIFACTS / "share-landing-e2e.png", full_page=True)
        # Jane lost the link: she asks for a new one in the channel; the channel gets a notice,
        # the link comes to her personal chat, and the old one stops at once.
        await open_conversation(page, "Case MET-24-0001")
        notice = await post_in_channel_mentioning_bot(
            page, "Exhibit", f"share link {share.id}", answer="New link sent to you"
        )
        assert "/s/" not in await notice.inner_text()
        await page.screenshot(path=ARTIFACTS / "share-link-notice.png", full_page=True)
        await open_conversation(page, "Personal Chat")
        renewed = page.locator(CARD).filter(has_text="New link for the share")
        await expect(renewed.first).to_be_visible(timeout=20_000)
        new_url = re.search(r"https?://\S+/s/[A-Za-z0-9_-]+", await renewed.first.inner_text())
        assert new_url is not None
        assert new_url.group(0) != url.group(0)
        old_link = await outside.goto(url.group(0))
        assert old_link is not None
        assert old_link.status == 404
        await open_conversation(page, "Case MET-24-0001")
        revoked = await post_in_channel_mentioning_bot(
            page, "Exhibit", f"share revoke {share.id} reason trial moved", answer="Share revoked"
        )
        assert "Share revoked" in await revoked.inner_text()
        # The channel's card keeps who approved beside who revoked, and why.
        both = page.locator(CARD).filter(has_text=share.id).filter(has_text="Revoked by Jane")
        await expect(both.first).to_be_visible(timeout=20_000)
        assert "Approved by Ravi Patel" in await both.first.inner_text()
        await both.first.scroll_into_view_if_needed()
        await page.screenshot(path=ARTIFACTS / "share-revoked-card.png", full_page=True)
        gone = await outside.goto(new_url.group(0))
        assert gone is not None
        assert gone.status == 410
    finally:
        await outside.close()


async def test_another_officer_reviews_the_exhibit(page: Page, stack: DevStack) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{stack.data_dir / 'exhibit.db'}")
    try:
        async with SqlRecords(engine).unit() as unit:
            case = await unit.case_by_reference("MET-24-0001")
            assert case is not None
            (exhibit,) = await unit.exhibits_of(case.id)
    finally:
        await engine.dispose()
    # The Playground takes a click only "on" a bot message of the conversation whose id it
    # knows: the approval card (its id is on record) stands in for the card Ravi clicks.
    share = await _the_share(stack)
    assert share.approval_activity_id is not None
    await open_conversation(page, "Personal Chat")
    own = await send_in_chat(page, "evidence show MET-24-0001 JS/1")
    assert "Not reviewed yet" in await own.inner_text()
    assert "Mark reviewed" not in await own.inner_text()  # Jane produced it
    # Ravi Patel, on the case team, marks it reviewed (the Playground clicks only as Jane).
    result = await click_as(
        page, stack.playground_url, "29:user-ravi-patel", CHANNEL, share.approval_activity_id,
        "exhibit.review", {"exhibitId": exhibit.id},
    )  # fmt: skip
    assert "Reviewed by Ravi Patel" in json.dumps(result)
    again = await send_in_chat(page, "evidence show MET-24-0001 JS/1")
    await expect(again).to_contain_text("Reviewed by Ravi Patel")
    await page.screenshot(path=ARTIFACTS / "exhibit-reviewed.png", full_page=True)


GENERAL = "19:exhibit-team-general@thread.tacv2"  # the team's General channel: holds no case yet
JOURNEY = "MET-24-0002"


async def _shot(page: Page, step: int, name: str, card: Locator | None = None) -> None:
    if card is not None:
        await card.scroll_into_view_if_needed()
    await page.screenshot(path=ARTIFACTS / f"journey-{step:02d}-{name}.png", full_page=True)


async def test_the_whole_journey_from_personal_chat_to_custody(
    page: Page, stack: DevStack, browser: Browser, tmp_path: Path
) -> None:
    """Issue 13's journey, as people would go it, each step photographed."""
    database = f"sqlite+aiosqlite:///{stack.data_dir / 'exhibit.db'}"
    playground = stack.playground_url.rstrip("/")
    # 1. Jane opens a case in her personal chat: it has no channel yet.
    await open_conversation(page, "Personal Chat")
    opened = await send_in_chat(page, f"case open {JOURNEY} Theft from a van")
    await expect(opened).to_contain_text("Case opened.")
    await _shot(page, 1, "case-opened", opened)
    # 2. She binds it in the team channel that will be the case's channel.
    await open_conversation(page, "General")
    bound = await post_in_channel_mentioning_bot(
        page, "Exhibit", f"case bind {JOURNEY}", answer="Case bound to this channel"
    )
    await expect(bound).to_contain_text(JOURNEY)
    # The channel by its name: Teams lists the General channel with the team's id, no name.
    await expect(bound).to_contain_text(re.compile(r"Channel\s*General"))
    await _shot(page, 2, "case-bound", bound)
    # 3. She adds a photo (the Playground has no upload button: devtools.send_file).
    photo = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(120_000)
    path = tmp_path / "van-door.jpg"
    path.write_bytes(photo)
    await open_conversation(page, "Personal Chat")
    seen = await page.locator(CARD).all_inner_texts()
    outcome = await send_file(path, JOURNEY, playground, 60)
    assert outcome is not None
    assert outcome.recorded
    receipt = await new_card(page, seen)
    await expect(receipt).to_contain_text("Exhibit JS/1", timeout=30_000)
    await expect(receipt).to_contain_text(hashlib.sha256(photo).hexdigest())
    await _shot(page, 3, "exhibit-added", receipt)
    # 4. She asks to share it with the CPS, in the case channel.
    await open_conversation(page, "General")
    await post_in_channel_mentioning_bot(
        page, "Exhibit", "share JS/1 with lawyer@cps.gov.uk for 7d reason bundle",
        answer="Share requested",
    )  # fmt: skip
    first = await _the_share(stack, JOURNEY)
    approval = page.locator(CARD).filter(has_text=first.id).filter(has_text="Waiting")
    await expect(approval.first).to_be_visible()
    await _shot(page, 4, "share-requested", approval.first)
    # 5. Liam Walsh, another officer of the channel, marks it reviewed. The Playground takes
    # another user's click only on a channel's card: the approval card stands in for the
    # receipt he would click in Teams (the same verb and data).
    engine = create_engine(database)
    try:
        async with SqlRecords(engine).unit() as unit:
            case = await unit.case_by_reference(JOURNEY)
            assert case is not None
            (exhibit,) = await unit.exhibits_of(case.id)
            job = await unit.job(exhibit.id)
    finally:
        await engine.dispose()
    assert job is not None
    assert job.receipt_activity_id is not None
    assert first.approval_activity_id is not None
    reviewed = await click_as(
        page, playground, user_id("Liam Walsh"), GENERAL, first.approval_activity_id,
        "exhibit.review", {"exhibitId": exhibit.id, "receipt": job.receipt_activity_id},
    )  # fmt: skip
    assert "Reviewed by Liam Walsh" in json.dumps(reviewed)
    await open_conversation(page, "Personal Chat")
    shown = await send_in_chat(page, f"evidence show {JOURNEY} JS/1")
    await expect(shown).to_contain_text("Reviewed by Liam Walsh")
    await _shot(page, 5, "exhibit-reviewed", shown)
    # 6. Sarah Okafor, an approver, rejects it (`devtools.click`, as the README shows).
    await open_conversation(page, "Personal Chat")
    seen = await page.locator(CARD).all_inner_texts()
    place = await approval_card(database, first.id)
    assert place is not None
    result = await click(
        playground, user_id("Sarah Okafor"), first.id, place, "share.reject", "say which trial"
    )
    assert "Rejected by Sarah Okafor" in json.dumps(result)
    # 7. Jane is told in her personal chat: who, and why.
    told = await new_card(page, seen, answer="Share request rejected")
    await expect(told).to_contain_text("Sarah Okafor")
    await expect(told).to_contain_text("say which trial")
    await _shot(page, 6, "rejection-told", told)
    await open_conversation(page, "General")
    rejected = page.locator(CARD).filter(has_text=first.id).filter(has_text="Rejected by Sarah")
    await expect(rejected.first).to_be_visible(timeout=20_000)
    await _shot(page, 7, "share-rejected", rejected.first)
    # 8. She asks again, saying which trial; Ravi Patel approves.
    await post_in_channel_mentioning_bot(
        page, "Exhibit", "share JS/1 with lawyer@cps.gov.uk for 7d reason Crown Court trial",
        answer="Share requested",
    )  # fmt: skip
    share = await _the_share(stack, JOURNEY)
    assert share.id != first.id
    await open_conversation(page, "Personal Chat")
    seen = await page.locator(CARD).all_inner_texts()
    place = await approval_card(database, share.id)
    assert place is not None
    result = await click(playground, user_id("Ravi Patel"), share.id, place, "share.approve", "")
    assert "Approved" in json.dumps(result)
    # 9. The link comes to her personal chat only, as a button.
    link_card = await new_card(page, seen, answer="Share approved")
    button = link_card.get_by_text("Open the link")
    await expect(button).to_be_visible()
    await _shot(page, 8, "link-delivered", link_card)
    url = re.search(r"https?://\S+/s/[A-Za-z0-9_-]+", await link_card.inner_text())
    assert url is not None
    await open_conversation(page, "General")
    approved = page.locator(CARD).filter(has_text=share.id).filter(has_text="Approved by Ravi")
    await expect(approved.first).to_be_visible(timeout=20_000)
    await _shot(page, 9, "share-approved", approved.first)
    assert "/s/" not in " ".join(await page.locator(CARD).all_inner_texts())
    # 10. The CPS lawyer opens the link in a browser and downloads the photo.
    recipient = await browser.new_page(accept_downloads=True)
    try:
        landing = await recipient.goto(url.group(0))
        assert landing is not None
        assert landing.status == 200
        await expect(recipient.get_by_text("Ravi Patel").first).to_be_visible()
        # Whom to ask: Jane herself, with her e-mail and phone from the directory.
        questions = recipient.locator("dt:has-text('Questions about this evidence') + dd")
        await expect(questions).to_have_text("Jane Smith, jane.smith@met.example, 020 7946 0018")
        await recipient.screenshot(path=ARTIFACTS / "journey-10-recipient-page.png", full_page=True)
        async with recipient.expect_download() as download_info:
            await recipient.get_by_role("link", name="Download JS/1").click()
        download = await download_info.value
        saved = tmp_path / "downloaded.jpg"
        await download.save_as(saved)
        assert hashlib.sha256(saved.read_bytes()).hexdigest() == hashlib.sha256(photo).hexdigest()
        assert download.suggested_filename == "van-door.jpg"
        # 11. Jane revokes it in the channel: the link stops at once.
        revoked = await post_in_channel_mentioning_bot(
            page, "Exhibit", f"share revoke {share.id} reason trial moved", answer="Share revoked"
        )
        await _shot(page, 11, "share-revoked", revoked)
        gone = await recipient.goto(url.group(0))
        assert gone is not None
        assert gone.status == 410
        await recipient.screenshot(path=ARTIFACTS / "journey-12-link-withdrawn.png", full_page=True)
    finally:
        await recipient.close()
    # 12. `custody` tells it all, in plain words.
    await open_conversation(page, "Personal Chat")
    custody = await send_in_chat(page, f"custody {JOURNEY} JS/1")
    text = await custody.inner_text()
    assert "Chain of custody verified" in text
    for line in (
        "Sent for intake by Jane Smith (van-door.jpg)",
        "Stored and hashed",
        "Reviewed by Liam Walsh",
        "Share for cps.gov.uk (prosecutor) rejected by Sarah Okafor: say which trial",
        "Approved for cps.gov.uk (prosecutor) by Ravi Patel",
        "Link sent to the requester",
        "Downloaded by the recipient at cps.gov.uk (prosecutor)",
        "Share for cps.gov.uk (prosecutor) revoked by Jane Smith: trial moved",
    ):
        assert line in text, line
    assert re.search(r"Viewed \d+ times?", text)
    await _shot(page, 13, "custody", custody)
