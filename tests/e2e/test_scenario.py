"""The Playground scenario, as an officer would type it; grows with every capability."""

from __future__ import annotations

from playwright.async_api import Page

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.playground import open_conversation, post_in_channel_mentioning_bot, send_in_chat


async def test_help_in_personal_chat(page: Page) -> None:
    await open_conversation(page, "Personal Chat")
    card = await send_in_chat(page, "help")
    text = await card.inner_text()
    assert "Exhibit commands" in text
    assert "case open \u2039case-ref\u203a" in text
    assert "not yet available" in text
    await page.screenshot(path=ARTIFACTS / "help-personal.png", full_page=True)


async def test_unknown_text_in_personal_chat_gets_a_hint(page: Page) -> None:
    await open_conversation(page, "Personal Chat")
    card = await send_in_chat(page, "open the pod bay doors")
    assert "did not understand" in await card.inner_text()


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
    await page.screenshot(path=ARTIFACTS / "case-open.png", full_page=True)
    shown = await post_in_channel_mentioning_bot(page, "Exhibit", "case show")
    assert "Burglary at 12 High Street" in await shown.inner_text()


async def test_the_case_is_listed_in_personal_chat(page: Page) -> None:
    await open_conversation(page, "Personal Chat")
    card = await send_in_chat(page, "case list")
    text = await card.inner_text()
    assert "MET-24-0001" in text
    await page.screenshot(path=ARTIFACTS / "case-list.png", full_page=True)
