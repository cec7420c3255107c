"""Commands in 1:1 chat and channels, through the real app and a recording connector."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bot.commands.grammar import COMMANDS, CommandSpec
from bot.commands.parsing import parse_command
from cards.help import build_help_card
from exhibit.settings import Settings
from tests.conftest import ConversationFactory
from tests.support.card_text import text_blocks

GOLDEN = Path(__file__).parent / "golden"


def _card(reply: dict[str, Any]) -> dict[str, Any]:
    (attachment,) = reply["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = attachment["content"]
    return card


def _texts(card: dict[str, Any]) -> list[str]:
    return text_blocks(card)


async def test_help_in_personal_chat_lists_every_command(
    settings: Settings, converse: ConversationFactory
) -> None:
    reply = await (await converse(settings)).replay("personal_message")
    card = _card(reply)
    assert card["version"] == "1.5"
    texts = _texts(card)
    for command in COMMANDS:
        assert command.usage.replace("<", "\u2039").replace(">", "\u203a") in texts
    assert reply["conversation"]["id"] == "a:exhibit-personal-chat"


async def test_help_after_a_mention_in_a_channel(
    settings: Settings, converse: ConversationFactory
) -> None:
    reply = await (await converse(settings)).replay("channel_mention")
    texts = _texts(_card(reply))
    assert texts[0] == "Exhibit commands"
    assert not any("did not understand" in t for t in texts)
    assert reply["conversation"]["id"].startswith("19:exhibit-case-channel@thread.tacv2")


@pytest.mark.parametrize("text", ["what now?", "<at>Exhibit</at> dance", "casey open"])
async def test_unknown_text_gets_help_with_a_hint(
    settings: Settings, converse: ConversationFactory, text: str
) -> None:
    reply = await (await converse(settings)).replay("personal_message", text=text)
    texts = _texts(_card(reply))
    assert any("did not understand" in t for t in texts)


def test_the_help_card_marks_commands_not_yet_available() -> None:
    planned = CommandSpec("teleport", (), "Go elsewhere", "teleport", available=False)
    card = build_help_card([*COMMANDS, planned]).model_dump(mode="json", by_alias=True)
    texts = _texts(card)
    assert "Go elsewhere \u2014 *not yet available*" in texts
    assert sum("not yet available" in t for t in texts) == 1


async def test_a_message_without_text_gets_help(
    settings: Settings, converse: ConversationFactory
) -> None:
    reply = await (await converse(settings)).replay("personal_message", text=None)
    assert _texts(_card(reply))[0] == "Exhibit commands"


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("help", "help", ()),
        ("  HELP  me ", "help", ("me",)),
        ("case open MET-24-0001 Burglary at 12 High St", "case open",
         ("MET-24-0001", "Burglary", "at", "12", "High", "St")),
        ("share JS/1,JS/2 with a@cps.gov.uk for 7d", "share",
         ("JS/1,JS/2", "with", "a@cps.gov.uk", "for", "7d")),
        ("share list", "share list", ()),
        ("share link s-0123456789", "share link", ("s-0123456789",)),
        ("evidence   verify JS/1", "evidence verify", ("JS/1",)),
    ],
)  # fmt: skip
def test_parse_command(text: str, name: str, args: tuple[str, ...]) -> None:
    parsed = parse_command(text)
    assert parsed is not None
    assert (parsed.spec.name, parsed.args) == (name, args)


@pytest.mark.parametrize("text", ["", "   ", "cases", "evidence", "helpful"])
def test_parse_nothing(text: str) -> None:
    assert parse_command(text) is None


def test_help_card_matches_its_golden_file() -> None:
    card = build_help_card(COMMANDS).model_dump(mode="json", by_alias=True, exclude_none=True)
    golden = GOLDEN / "help_card.json"
    if os.environ.get("EXHIBIT_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert card == json.loads(golden.read_text(encoding="utf-8"))
    assert len(json.dumps(card)) < 28_000  # Teams card payload limit
