"""Talking to a running Agents Playground as its web page does: its people, its live stream.

The Playground pushes every message the bot creates or updates to the page over a WebSocket
(`/_ws_conversation/v1/conversations/stream`, sent to every connected client); the developer
tools listen there too, to see what the bot answered without a browser.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import ClientSession, ClientWebSocketResponse, WSMsgType

from devtools.devstack import PLAYGROUND_CONFIG

STREAM = "/_ws_conversation/v1/conversations/stream"
CARD = "application/vnd.microsoft.card.adaptive"


@dataclass(frozen=True, slots=True)
class BotMessage:
    """A message the Playground shows: created or updated, where, and what its cards say."""

    action: str  # "createMessage" or "updateMessage"
    conversation: str
    message_id: str
    texts: tuple[str, ...]

    @property
    def text(self) -> str:
        """Every text of its cards, one per line."""
        return "\n".join(self.texts)


def user_id(name: str, config: Any = None) -> str:
    """The Playground id of the configured user called `name` (any case); `KeyError` if none."""
    config = config if config is not None else yaml.safe_load(PLAYGROUND_CONFIG.read_text())
    people = [config.get("currentUser", {}), *config.get("users", [])]
    for person in people:
        if str(person.get("name", "")).lower() == name.strip().lower():
            return str(person["id"])
    known = ", ".join(sorted({str(p.get("name")) for p in people if p.get("name")}))
    raise KeyError(f"no Playground user called {name!r} (there are: {known})")


@contextlib.asynccontextmanager
async def watch(client: ClientSession) -> AsyncIterator[AsyncIterator[BotMessage]]:
    """Connected to the live stream: the messages with cards the Playground shows from now on."""
    async with client.ws_connect(STREAM, heartbeat=30) as stream:
        yield _bot_messages(stream)


async def _bot_messages(stream: ClientWebSocketResponse) -> AsyncIterator[BotMessage]:
    async for frame in stream:
        if frame.type is not WSMsgType.TEXT:
            break
        found = _bot_message(frame.json())
        if found is not None:
            yield found


def _bot_message(data: Any) -> BotMessage | None:
    if not isinstance(data, dict) or data.get("action") not in {"createMessage", "updateMessage"}:
        return None
    message = data.get("message") or {}
    attachments = message.get("attachments", [])
    cards = [a.get("content") for a in attachments if a.get("contentType") == CARD]
    if not cards:
        return None
    return BotMessage(
        action=str(data["action"]),
        conversation=str(data.get("actionConversationId", "")),
        message_id=str(message.get("messageId", "")),
        texts=tuple(text for card in cards for text in card_texts(card)),
    )


def card_texts(node: Any) -> list[str]:
    """Every TextBlock's text and every fact (`title: value`) of a card, in reading order."""
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "TextBlock" else []
        if node.get("type") == "FactSet":
            own = [f"{fact.get('title')}: {fact.get('value')}" for fact in node.get("facts", [])]
        return own + [t for key, value in node.items() if key != "facts" for t in card_texts(value)]
    if isinstance(node, list):
        return [text for item in node for text in card_texts(item)]
    return []
