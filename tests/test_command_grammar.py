"""One grammar: parser, help card, app manifest and README agree with bot.commands."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.commands.case_grammar import read_case_words, read_exhibit_target
from bot.commands.grammar import (
    COMMANDS,
    RUNS_ON,
    SHARE,
    Argument,
    CommandSpec,
    Group,
    Kind,
    commands_in,
)
from bot.commands.help import closest_commands, help_card
from bot.commands.parsing import parse_command, split_reason
from bot.commands.share_grammar import (
    asks_for_form,
    read_revoke_words,
    read_share_form,
    read_share_target,
    read_share_words,
)
from bot.exports import read_export_words
from cards.sharing import SHARE_FORM
from devtools.app_package.manifest import command_lists
from evidence.cases import CaseRules, check_case_open, check_reason
from evidence.errors import InvalidInput
from evidence.sharing import ShareDraft, ShareRules, check_share_request
from tests.support.card_text import text_blocks

README = Path(__file__).resolve().parents[1] / "README.md"
RULES = ShareRules(frozenset({"cps.gov.uk", "justice.gov.uk"}), ("prosecutor", "court"), 1, 30, 14)
CASE_RULES = CaseRules(re.compile(r"[A-Z]{3}-\d{2}-\d{4}"), 200, ("uksouth", "ukwest"), "uksouth")
SAMPLES = {
    Kind.CASE_REF: "MET-24-0001",
    Kind.EXHIBIT_REF: "JS/1",
    Kind.SHARE_ID: "S-0123456789",
    Kind.EMAIL: "lawyer@cps.gov.uk",
    Kind.DAYS: "14d",
    Kind.ORGANISATION: "court",
    Kind.REGION: "ukwest",
    Kind.TITLE: "Burglary at 12 High St",
    Kind.TEXT: "disclosure for trial",
    Kind.FILES: "files",
    Kind.TOPIC: "share",
}


def _read_share(words: Sequence[str]) -> object:
    _, rest = read_share_target(words)
    return check_share_request(read_share_words(rest), RULES)


def _one_case(words: Sequence[str]) -> object:
    assert len(words) <= 1
    return words[0] if words else None


def _the_case(words: Sequence[str]) -> object:
    if len(words) != 1:
        raise InvalidInput("case reference", "exactly one")
    return words[0]


def _consulting(
    reader: Callable[[Sequence[str]], object], *, reason_needed: bool = False
) -> Callable[[Sequence[str]], object]:
    """A reader after `split_reason`, as the consultation and hold handlers call it."""

    def read(words: Sequence[str]) -> object:
        before, reason = split_reason(words)
        if reason is not None or reason_needed:
            check_reason(reason)
        return reader(before)

    return read


# The readers that take each command's words apart, as its handler calls them. The other
# commands' handlers read their one optional word themselves (`args[0] if args else None`).
READERS: dict[str, Callable[[Sequence[str]], object]] = {
    "case open": lambda words: check_case_open(read_case_words(words), CASE_RULES),
    "case show": _consulting(_one_case),
    "case hold on": _consulting(_the_case, reason_needed=True),
    "case hold off": _consulting(_the_case, reason_needed=True),
    "evidence list": _consulting(_one_case),
    "share list": _consulting(_one_case),
    "evidence show": _consulting(read_exhibit_target),
    "evidence verify": _consulting(read_exhibit_target),
    "custody": _consulting(read_exhibit_target),
    "share": _read_share,
    "custody export": read_export_words,
    "share revoke": read_revoke_words,
}


def _sample(argument: Argument) -> str:
    value = SAMPLES[argument.kind]
    value = f"{value},JS/2" if argument.many else value
    return f"{argument.keyword} {value}" if argument.keyword else value


def _typings(spec: CommandSpec) -> Iterator[str]:
    """What an officer may type for `spec` by its grammar: each choice of optional arguments."""
    optional = [a for a in spec.arguments if a.optional]
    for count in range(len(optional) + 1):
        for left_out in itertools.combinations(optional, count):
            given = [_sample(a) for a in spec.arguments if a not in left_out]
            yield " ".join([spec.name.upper(), *given])


TYPINGS = [(spec.name, text) for spec in COMMANDS for text in [*_typings(spec), spec.example]]


@pytest.mark.parametrize(("name", "text"), TYPINGS)
def test_the_parser_accepts_what_the_grammar_says(name: str, text: str) -> None:
    parsed = parse_command(text)
    assert parsed is not None
    assert parsed.spec.name == name
    reader = READERS.get(name)
    if reader is not None:
        reader(parsed.args)
    else:
        assert len(parsed.spec.arguments) <= 1
        assert all(a.kind not in RUNS_ON and not a.keyword for a in parsed.spec.arguments)


@pytest.mark.parametrize(
    ("name", "argument"),
    [
        (spec.name, argument)
        for spec in COMMANDS
        if spec.name in READERS
        for argument in spec.arguments
        if not argument.optional
    ],
)
def test_the_parser_refuses_a_required_argument_left_out(name: str, argument: Argument) -> None:
    spec = next(spec for spec in COMMANDS if spec.name == name)
    words = " ".join(_sample(a) for a in spec.arguments if a is not argument).split()
    if spec is SHARE and argument.name == "recipient":
        assert asks_for_form(words)  # `share JS/1` alone answers with the form
        return
    with pytest.raises(InvalidInput):
        READERS[name](words)


def test_reason_is_required_and_organisation_optional_for_share() -> None:
    assert SHARE.argument("reason").optional is False
    assert SHARE.argument("organisation").optional is True
    assert SHARE.syntax == (
        "share [<case-ref>] <exhibit-ref>[,...] with <email> [for <N>d] [as <organisation>] "
        "reason <text...>"
    )


# --- the help card --------------------------------------------------------------------------


def _card_texts(card: Any) -> list[str]:
    return text_blocks(card.model_dump(mode="json", by_alias=True, exclude_none=True))


def _shown(usage: str) -> str:
    return usage.replace("<", "\u2039").replace(">", "\u203a")


def _facts(card: Any) -> dict[str, str]:
    """Every fact of a card as JSON, title to value."""
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "FactSet":
                found.update({fact["title"]: fact["value"] for fact in node["facts"]})
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card.model_dump(mode="json", by_alias=True, exclude_none=True))
    return found


def test_the_help_card_lists_every_command_once_under_its_group() -> None:
    card = help_card()
    texts, facts = _card_texts(card), _facts(card)
    assert set(facts) == {spec.name for spec in COMMANDS}
    for spec in COMMANDS:
        assert facts[spec.name] == _shown(spec.short)
    groups = [t for t in texts if t in {g.value for g in Group}]
    assert groups == ["Cases", "Evidence", "Sharing", "Custody", "More"]


@pytest.mark.parametrize("spec", COMMANDS, ids=lambda spec: spec.name)
def test_help_on_a_command_shows_it_as_the_grammar_says(spec: CommandSpec) -> None:
    texts = _card_texts(help_card(spec.name.upper().split()))
    assert _shown(spec.usage) in texts
    assert f"e.g. {spec.example}" in texts or spec.example == spec.usage
    assert not _facts(help_card(spec.name.split()))


def test_help_on_a_group_shows_its_commands_in_full() -> None:
    texts = _card_texts(help_card(["sharing"]))
    assert texts[0] == "Sharing"
    for spec in commands_in(Group.SHARING):
        assert _shown(spec.usage) in texts
    share_line = _shown(SHARE.syntax)
    assert share_line in texts
    assert "[reason" not in share_line
    assert "[as \u2039organisation\u203a]" in share_line
    assert _card_texts(help_card(["case"]))[0] == "Cases"


# --- typos ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("case lsit", ["case list"]),
        ("csae list", ["case list"]),
        ("caselist", ["case list"]),
        ("casey open MET-24-0001 Burglary", ["case open"]),
        ("custdy JS/1", ["custody"]),
        ("evidnce shwo JS/1", ["evidence show"]),
        ("evidence vrify JS/1", ["evidence verify"]),
        ("shar JS/1 with a@cps.gov.uk reason x", ["share"]),
        ("shaer list", ["share list"]),
        ("shar revok S-0123456789", ["share revoke"]),
        ("hepl", ["help"]),
        ("whomai", ["whoami"]),
        ("helpful", ["help"]),
        (
            "cases",
            ["case open", "case list", "case bind", "case show", "case hold on", "case hold off"],
        ),
        ("evidence", ["evidence list", "evidence show", "evidence verify"]),
        (
            "case delete MET-24-0001",
            ["case open", "case list", "case bind", "case show", "case hold on", "case hold off"],
        ),
    ],
)
def test_a_typo_is_answered_with_the_closest_command(typed: str, meant: list[str]) -> None:
    assert parse_command(typed) is None
    assert [spec.name for spec in closest_commands(typed)] == meant


@pytest.mark.parametrize("typed", ["what now?", "dance", "hello there", "x", "MET-24-0001"])
def test_nothing_close_is_suggested_for_what_is_no_command(typed: str) -> None:
    assert closest_commands(typed) == []


# --- the app manifest -----------------------------------------------------------------------


def test_the_manifest_offers_the_grammar_commands_with_their_descriptions() -> None:
    described = {spec.name: spec.short for spec in COMMANDS}
    offered = [entry for lst in command_lists() for entry in lst["commands"]]
    assert offered
    for entry in offered:
        assert entry == {"title": entry["title"], "description": described[entry["title"]]}
    assert {scope for lst in command_lists() for scope in lst["scopes"]} == {
        scope for spec in COMMANDS for scope in spec.scopes
    }


# --- the README -----------------------------------------------------------------------------


def _readme_commands() -> dict[str, str]:
    """The README's `## Commands` table: each row's syntax (its first `code`) and status."""
    section = README.read_text(encoding="utf-8").split("\n## Commands\n", 1)[1]
    table = section.lstrip("\n").split("\n\n", 1)[0]  # the first table, up to a blank line
    rows: dict[str, str] = {}
    for line in table.splitlines()[2:]:  # after the header and its |---| line
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        code = re.search(r"`([^`]+)`", cells[0])
        assert code is not None, f"a row of the command table names no command: {line}"
        rows[code[1]] = cells[-1]
    return rows


def test_the_readme_lists_exactly_the_commands_with_their_syntax() -> None:
    assert _readme_commands() == {
        spec.syntax: "available" if spec.available else "not yet available" for spec in COMMANDS
    }


# --- reading a share request ----------------------------------------------------------------


def test_reading_a_share_request() -> None:
    text = "JS/1,js/2 with Lawyer@CPS.gov.uk for 7d as court reason trial bundle"
    request = check_share_request(read_share_words(text.split()), RULES)
    assert request.exhibit_refs == ("JS/1", "JS/2")
    assert (request.recipient, request.days, request.organisation_type) == (
        "lawyer@cps.gov.uk", 7, "court")  # fmt: skip
    assert request.reason == "trial bundle"


def test_left_out_days_and_organisation_are_the_force_defaults() -> None:
    words = ["JS/1", "with", "a@cps.gov.uk", "reason", "x"]
    request = check_share_request(read_share_words(words), RULES)
    assert (request.days, request.organisation_type) == (14, "prosecutor")


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("JS/1 to a@cps.gov.uk reason x", "share"),
        ("with a@cps.gov.uk reason x", "share"),
        ("JS/1 with", "recipient"),
        ("JS/1 with not-an-email reason x", "recipient"),
        ("JS/1 with a@gmail.com reason x", "recipient"),
        ("JS/1 with a@cps.gov.uk.evil.com reason x", "recipient"),
        ("JS/1 with a@cps.gov.uk for 90d reason x", "expiry"),
        ("JS/1 with a@cps.gov.uk for soon reason x", "expiry"),
        ("JS/1 with a@cps.gov.uk for \u00b2d reason x", "expiry"),
        ("JS/1 with a@cps.gov.uk", "reason"),
        ("JS/1 with a@cps.gov.uk reason", "reason"),
        ("JS/1 with a@cps.gov.uk as court for 7d reason x", "reason"),
        ("JS/1 with a@cps.gov.uk as press reason x", "organisation type"),
        (f"JS/1 with a@cps.gov.uk reason {'x' * 501}", "reason"),
        # Values are checked in the order typed; a missing reason is told last.
        ("JS/1 with a@gmail.com", "recipient"),
        ("JS/1 with a@cps.gov.uk as press", "organisation type"),
    ],
)
def test_bad_share_requests_name_the_field(text: str, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_share_request(read_share_words(text.split()), RULES)
    assert raised.value.field == field


def _form(**fields: object) -> dict[str, object]:
    return {
        "exhibitAction": SHARE_FORM,
        "exhibits": "JS/1, js/2",
        "recipient": " a@cps.gov.uk ",
        "organisation": "court",
        "days": "10",
        "reason": "hearing\n on  Monday",
        **fields,
    }


def test_the_share_form_reads_as_a_typed_request() -> None:
    assert read_share_form(_form()) == ShareDraft(
        ("JS/1", "JS/2"), " a@cps.gov.uk ", "hearing on Monday", days=10, organisation_type="court"
    )
    assert read_share_form(_form(days=14.0, organisation="")) == ShareDraft(
        ("JS/1", "JS/2"), " a@cps.gov.uk ", "hearing on Monday", days=14
    )
    assert read_share_form({"exhibitAction": "something else"}) is None
    assert read_share_form("share") is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"exhibits": " "}, "share"),
        ({"recipient": ""}, "recipient"),
        ({"days": "60"}, "expiry"),
        ({"days": "soon"}, "expiry"),
        ({"organisation": "press"}, "organisation type"),
        ({"reason": " \n "}, "reason"),
    ],
)
def test_the_share_form_is_held_to_the_same_rules(fields: dict[str, object], field: str) -> None:
    def read() -> object:
        draft = read_share_form(_form(**fields))
        assert draft is not None
        return check_share_request(draft, RULES)

    with pytest.raises(InvalidInput) as raised:
        read()
    assert raised.value.field == field
