"""Acting in the Agents Playground as a person would: open a conversation, type, read cards."""

from __future__ import annotations

from playwright.async_api import Locator, Page

COMPOSER = "div[role=textbox][contenteditable=true]"
CARD = ".ac-adaptiveCard"
TIMEOUT_MS = 20_000


async def open_conversation(page: Page, name: str) -> None:
    """Select a chat or channel in the tree by its name."""
    await page.get_by_role("treeitem", name=name).first.click()
    await page.locator(COMPOSER).wait_for(timeout=TIMEOUT_MS)


async def send_in_chat(page: Page, text: str) -> Locator:
    """Type `text` in a chat and send it; return the card the bot answers with."""
    cards = page.locator(CARD)
    before = await cards.count()
    composer = page.locator(COMPOSER)
    await composer.click()
    await composer.type(text)
    await page.get_by_role("button", name="Send Message").click()
    return await _next_card(cards, before)


async def post_in_channel_mentioning_bot(page: Page, bot_name: str, text: str) -> Locator:
    """Start a channel post that @mentions the bot, then `text`; return the bot's card."""
    cards = page.locator(CARD)
    before = await cards.count()
    composer = page.locator(COMPOSER)
    await composer.click()
    await composer.type(f"@{bot_name[:3]}")
    await page.get_by_role("menuitem", name=bot_name).click()
    await composer.type(f" {text}")
    await page.get_by_role("button", name="Post").click()
    return await _next_card(cards, before)


async def _next_card(cards: Locator, before: int) -> Locator:
    card = cards.nth(before)
    await card.wait_for(timeout=TIMEOUT_MS)
    return card
