"""Commands in 1:1 chat and channels, through the real app and a recording connector."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from bot.commands.grammar import COMMANDS, CommandSpec
from bot.commands.help import help_card
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
    titles = [fact["title"] for fact in _facts(card)]
    assert sorted(titles) == sorted(command.name for command in COMMANDS)
    assert reply["conversation"]["id"] == "a:exhibit-personal-chat"


def _facts(node: Any) -> list[dict[str, str]]:
    if isinstance(node, dict):
        own = node["facts"] if node.get("type") == "FactSet" else []
        return own + [fact for value in node.values() for fact in _facts(value)]
    if isinstance(node, list):
        return [fact for item in node for fact in _facts(item)]
    return []


async def test_help_after_a_mention_in_a_channel(
    settings: Settings, converse: ConversationFactory
) -> None:
    reply = await (await converse(settings)).replay("channel_mention")
    texts = _texts(_card(reply))
    assert texts[0] == "Exhibit commands"
    assert not any("did not understand" in t for t in texts)
    assert reply["conversation"]["id"].startswith("19:exhibit-case-channel@thread.tacv2")


async def test_help_on_one_command(settings: Settings, converse: ConversationFactory) -> None:
    conversation = await converse(settings)
    texts = _texts(_card(await conversation.replay("personal_message", text="help Custody")))
    assert texts[0] == "How to use custody"
    assert (
        "custody [\u2039case-ref\u203a] \u2039exhibit-ref\u203a [reason \u2039text...\u203a]"
        in texts
    )
    assert "e.g. custody JS/1" in texts


@pytest.mark.parametrize(
    ("text", "title", "said"),
    [
        ("case lsit", "Did you mean `case list`?", "Type `help case list`"),
        ("custdy JS/1", "Did you mean `custody`?", "Type `help custody`"),
        (
            "cases",
            "Did you mean `case open`, `case list`, `case bind`, `case show`, `case hold on` "
            "or `case hold off`?",
            "Type `help`",
        ),
        ("help shar", "Did you mean `help share`?", "no help on \u201cshar\u201d"),
    ],
)
async def test_a_typo_gets_the_closest_command_not_the_help_card(
    settings: Settings, converse: ConversationFactory, text: str, title: str, said: str
) -> None:
    reply = await (await converse(settings)).replay("personal_message", text=text)
    texts = _texts(_card(reply))
    assert texts[0] == title
    assert said in texts[1]
    assert "Exhibit commands" not in texts


@pytest.mark.parametrize("text", ["what now?", "<at>Exhibit</at> dance", "hello there"])
async def test_unknown_text_gets_a_short_hint(
    settings: Settings, converse: ConversationFactory, text: str
) -> None:
    reply = await (await converse(settings)).replay("personal_message", text=text)
    texts = _texts(_card(reply))
    assert texts[0] == "Not a command"
    assert "did not understand" in texts[1]
    assert "Type `help` to see what I can do." in texts[1]
    assert len(texts) == 2


def test_the_help_card_marks_commands_not_yet_available() -> None:
    planned = CommandSpec("teleport", (), "Go elsewhere", "teleport", available=False)
    card = build_help_card([("Later", [*COMMANDS, planned])]).model_dump(mode="json", by_alias=True)
    values = [fact["value"] for fact in _facts(card)]
    assert "Go elsewhere \u2014 *not yet available*" in values
    assert sum("not yet available" in v for v in values) == 1


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


@pytest.mark.parametrize(
    ("golden_name", "topic"),
    [("help_card", ()), ("help_command", ("share",)), ("help_group", ("evidence",))],
)
def test_help_card_matches_its_golden_file(golden_name: str, topic: tuple[str, ...]) -> None:
    card = help_card(topic).model_dump(mode="json", by_alias=True, exclude_none=True)
    golden = GOLDEN / f"{golden_name}.json"
    if os.environ.get("EXHIBIT_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert card == json.loads(golden.read_text(encoding="utf-8"))
    assert len(json.dumps(card)) < 28_000  # Teams card payload limit


async def test_the_sdk_no_app_id_warning_is_said_once_at_start_not_per_request(
    settings: Settings, converse: ConversationFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    conversation = await converse(settings)  # anonymous development mode
    for text in ("help", "whoami", "case list"):
        await conversation.say(text)
    messages = [record.getMessage() for record in caplog.records]
    assert [m for m in messages if "App ID is not provided" in m] == [
        next(m for m in messages if m.startswith("EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS is on"))
    ]
