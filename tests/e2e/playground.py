"""Acting in the Agents Playground as a person would: open a conversation, type, read cards."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import Locator, Page

COMPOSER = "div[role=textbox][contenteditable=true]"
CARD = ".ac-adaptiveCard"
TIMEOUT_S = 20


async def open_conversation(page: Page, name: str) -> None:
    """Select a chat or channel in the tree by its name."""
    await page.get_by_role("treeitem", name=name).first.click()
    await page.locator(COMPOSER).first.wait_for(timeout=TIMEOUT_S * 1000)


async def send_in_chat(page: Page, text: str) -> Locator:
    """Type `text` in a chat and send it; return the card the bot answers with."""
    seen = await page.locator(CARD).all_inner_texts()
    composer = page.locator(COMPOSER)
    await composer.click()
    await composer.type(text)
    await page.get_by_role("button", name="Send Message").click()
    return await new_card(page, seen)


async def post_in_channel_mentioning_bot(
    page: Page, bot_name: str, text: str, *, answer: str | None = None
) -> Locator:
    """Start a channel post that @mentions the bot, then `text`; return the bot's card.

    `answer`: text the expected card holds. A channel redraws earlier threads when a post is
    added, and a card seen before can then show up once more; naming the answer skips those.
    """
    seen = await page.locator(CARD).all_inner_texts()
    # The first composer starts a new post; threads under earlier posts have reply boxes.
    composer = page.locator(COMPOSER).first
    await composer.click()
    await composer.type(f"@{bot_name[:3]}")
    await page.get_by_role("menuitem", name=bot_name).click()
    await composer.type(f" {text}")
    await page.get_by_role("button", name="Post").click()
    return await new_card(page, seen, answer=answer)


async def new_card(page: Page, seen: list[str], *, answer: str | None = None) -> Locator:
    """The first card on the page whose text was not among `seen` (cards before the action)
    and, if given, holds `answer`.

    Chats list oldest first, but a channel shows each post with its thread, so the new card is
    not always the last one.
    """
    cards = page.locator(CARD)
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            texts = await cards.all_inner_texts()
            remaining = list(seen)
            for index, text in enumerate(texts):
                if text in remaining:
                    remaining.remove(text)
                elif answer is None or answer in text:
                    return cards.nth(index)
            await asyncio.sleep(0.2)


async def click_as(
    page: Page,
    playground_url: str,
    user_id: str,
    conversation: str,
    message_id: str,
    verb: str,
    data: dict[str, str],
) -> Any:
    """An `Action.Execute` click by another user (the Playground's UI clicks only as the
    current one), on the card `message_id` of a channel; the bot's invoke response.

    The Playground files a channel's new posts under the channel id or under its thread id
    (`;messageid=`), so both are tried.
    """
    for where in (conversation, f"{conversation};messageid={message_id}"):
        response = await page.request.post(
            f"{playground_url.rstrip('/')}/_conversation/v1/invoke",
            data={
                "name": "adaptiveCard/action",
                "value": {
                    "action": {"type": "Action.Execute", "verb": verb, "data": data},
                    "trigger": "manual",
                },
                "from": {"id": user_id},
                "conversation": {"id": where},
                "replyToId": message_id,
            },
        )
        if response.ok:
            return await response.json()
    raise AssertionError(f"the Playground took no {verb} click from {user_id}")
