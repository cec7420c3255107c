"""Legal hold and accountable viewing in the Playground: the cards people see."""

from __future__ import annotations

import secrets
from typing import Any

from playwright.async_api import Page, expect

from devtools.devstack import DevStack
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.playground import CARD, new_card, open_conversation, send_in_chat
from tests.support.people import PRIYA, TOM, Person

PERSONAL_CHAT = "a:exhibit-personal-chat"
REFERENCE = "MET-24-0301"


async def say_as(page: Page, stack: DevStack, person: Person, text: str) -> Any:
    """A message in Personal Chat from another of the Playground's users (injected)."""
    playground = stack.playground_url.rstrip("/")
    seen = await page.locator(CARD).all_inner_texts()
    template = await page.request.get(
        f"{playground}/_internal/v1/customActivities/template",
        params={"conversationId": PERSONAL_CHAT},
    )
    activity = await template.json()
    activity.update(
        {
            "type": "message",
            "id": f"as-{secrets.token_hex(8)}",
            "text": text,
            "from": {**person.account(), "role": "user"},
        }
    )
    sent = await page.request.post(f"{playground}/_internal/v1/customActivities", data=activity)
    assert sent.ok
    return await new_card(page, seen)


async def test_hold_and_the_reason_card(page: Page, stack: DevStack) -> None:
    await open_conversation(page, "Personal Chat")
    await send_in_chat(page, f"case open {REFERENCE} Robbery at the post office")
    held = await say_as(
        page, stack, PRIYA, f"case hold on {REFERENCE} reason defence disclosure request"
    )
    await expect(held).to_contain_text("Legal hold set.")
    await expect(held).to_contain_text("Storage-level hold is not available in region uksouth")
    await held.screenshot(path=ARTIFACTS / "hold-set.png")
    shown = await send_in_chat(page, f"case show {REFERENCE}")
    await expect(shown).to_contain_text("On legal hold")
    await shown.screenshot(path=ARTIFACTS / "case-on-hold.png")
    asked = await say_as(page, stack, TOM, f"case show {REFERENCE}")
    await expect(asked).to_contain_text("Why are you looking?")
    await asked.screenshot(path=ARTIFACTS / "reason-please.png")
