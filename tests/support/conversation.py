"""The one conversation driver: test people talking to the real app, the connector recording it.

A test says things to the bot as a person, in a personal chat or the case channel (the captured
activities of tests/fixtures), sends files, clicks card buttons (`adaptiveCard/action` invokes)
and reads back what the bot sent to its `serviceUrl`, the RecordingConnector.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.support.activities import load_activity
from tests.support.connector import RecordingConnector
from tests.support.people import JANE, Person

PERSONAL_CHAT = "personal_message"
CASE_CHANNEL = "channel_mention"
CARD = "application/vnd.microsoft.card.adaptive"
MESSAGE = "application/vnd.microsoft.activity.message"
NEXT_STEP = "command.run"
TEAMS_FILE = "application/vnd.microsoft.teams.file.download.info"

Client = TestClient[web.Request, web.Application]


class Conversation:
    """People of one test talking to the bot in a personal chat or the case channel."""

    def __init__(self, client: Client, recorder: RecordingConnector, url: str,
                 *, where: str = PERSONAL_CHAT) -> None:  # fmt: skip
        self.client = client
        self.recorder = recorder
        self.url = url
        self.where = where

    def message(
        self,
        text: str | None,
        *,
        sender: Person | str = JANE,
        where: str | None = None,
        activity_id: str | None = None,
        **changes: Any,
    ) -> dict[str, Any]:
        """A message activity from `sender` (a person, or an object id no directory knows)."""
        where = where or self.where
        activity = load_activity(where, self.url, id=activity_id or self._new_id("m"), **changes)
        if where == CASE_CHANNEL and text is not None:
            text = f"<at>Exhibit</at> {text}"
        activity["text"] = text
        if isinstance(sender, Person):
            activity["from"] = sender.account()
        else:
            activity["from"] = {"id": f"29:{sender}", "name": "Someone", "aadObjectId": sender}
        return activity

    def _new_id(self, prefix: str) -> str:
        """A fresh activity id: unique across conversations sharing one connector, as replies are
        found by the id they answer."""
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    async def post(self, activity: dict[str, Any]) -> dict[str, Any]:
        """Post a message activity the edge accepts (202); the bot's reply to it."""
        before = len(self.recorder.activities())
        assert (await self.client.post("/api/messages", json=activity)).status == 202
        return await self._reply_to(activity["id"], after=before)

    async def replay(self, fixture: str, **changes: Any) -> dict[str, Any]:
        """Post a captured activity (tests/fixtures) as Teams sent it; the bot's reply."""
        return await self.post(load_activity(fixture, self.url, **changes))

    async def _reply_to(self, activity_id: str, *, after: int = 0) -> dict[str, Any]:
        """The bot's reply to one message (not a proactive post or a card update meanwhile)."""
        for _ in range(100):
            for body in self.recorder.activities()[after:]:
                if body.get("replyToId") == activity_id:
                    return body
            await asyncio.sleep(0.05)
        raise AssertionError(f"no reply to {activity_id!r}")

    async def say(
        self,
        text: str | None,
        attachments: list[dict[str, Any]] | None = None,
        *,
        sender: Person | str = JANE,
        where: str | None = None,
        activity_id: str | None = None,
        **changes: Any,
    ) -> str:
        """Send a message (with `attachments`: files); the card the bot replied with, as text."""
        activity = self.message(text, sender=sender, where=where, activity_id=activity_id,
                                **changes)  # fmt: skip
        if attachments:
            activity["attachments"] = attachments
        return str(card_of(await self.post(activity)))

    async def click(self, verb: str, data: dict[str, Any], *, sender: Person | str,
                    where: str = CASE_CHANNEL) -> str:  # fmt: skip
        """An Action.Execute click on one of the bot's cards, as `sender`, answered with a card
        (the updated or the refusing card); that card as text."""
        activity = self.message(None, sender=sender, where=where, activity_id=self._new_id("i"))
        activity.update(
            type="invoke",
            name="adaptiveCard/action",
            replyToId="approval-card",
            value={"action": {"type": "Action.Execute", "verb": verb, "data": data},
                   "trigger": "manual"},
        )  # fmt: skip
        response = await self.client.post("/api/messages", json=activity)
        assert response.status == 200
        body = await response.json()
        assert body["statusCode"] == 200
        assert body["type"] == CARD
        return str(body["value"])

    async def click_next_step(self, data: dict[str, Any], *, sender: Person | str = JANE,
                              where: str | None = None) -> tuple[str, str]:  # fmt: skip
        """A click on a next-step button (Verify, Custody, Share, Evidence, Shares) as `sender`:
        the text Teams shows under the clicked card, and the card the bot sent as a new message
        (as text)."""
        activity = self.message(None, sender=sender, where=where, activity_id=self._new_id("i"))
        activity.update(
            type="invoke",
            name="adaptiveCard/action",
            replyToId="exhibit-card",
            value={"action": {"type": "Action.Execute", "verb": NEXT_STEP, "data": data},
                   "trigger": "manual"},
        )  # fmt: skip
        before = len(self.recorder.activities())
        response = await self.client.post("/api/messages", json=activity)
        assert response.status == 200
        body = await response.json()
        assert body["statusCode"] == 200
        if body["type"] == CARD:  # a refused button: the bare notice in place of the card
            return str(body["value"]), ""
        assert body["type"] == MESSAGE
        reply = await self._reply_to(activity["id"], after=before)
        return str(body["value"]), str(card_of(reply))

    async def click_share(self, verb: str, share_id: str, *, sender: Person | str,
                          **inputs: str) -> str:  # fmt: skip
        """A click on a share request's approval card."""
        return await self.click(verb, {"shareId": share_id, **inputs}, sender=sender)

    async def wait_for_update(self, contains: str, attempts: int = 100) -> str:
        """The latest card update (PUT) containing `contains`, e.g. a receipt the worker redrew."""
        for _ in range(attempts):
            updates = [r for r in self.recorder.received if r.method == "PUT"]
            for update in reversed(updates):
                text = str(update.body.get("attachments", [{}])[0].get("content"))
                if contains in text:
                    return text
            await asyncio.sleep(0.1)
        raise AssertionError(f"no card update containing {contains!r}")

    async def sent(self, contains: str, attempts: int = 200) -> str:
        """The latest request the bot made to the connector containing `contains`, as text."""
        for _ in range(attempts):
            found = [str(r.body) for r in self.recorder.received if contains in str(r.body)]
            if found:
                return found[-1]
            await asyncio.sleep(0.05)
        raise AssertionError(f"never sent: {contains!r}")


def card_of(activity: dict[str, Any]) -> Any:
    """The content of an activity's first attachment (None when it has none)."""
    return activity.get("attachments", [{}])[0].get("content")


def teams_file(name: str, url: str) -> dict[str, Any]:
    """A file sent in Teams, as the message's attachment: its pre-authenticated download URL."""
    return {
        "contentType": TEAMS_FILE,
        "name": name,
        "contentUrl": "https://contoso.sharepoint.com/personal/jane/Documents/" + name,
        "content": {"downloadUrl": url, "uniqueId": name, "fileType": name.rpartition(".")[2]},
    }
