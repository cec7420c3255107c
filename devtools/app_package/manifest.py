"""The manifest: the template filled, the bot's command lists generated, and its validation.

The filled manifest is checked against Microsoft's schema bundled in node_modules (npm
`@microsoft/app-manifest`) and against Teams' stricter bot command limits. The bot's
`commandLists` are generated from `bot.commands.grammar.COMMANDS`: per scope, the available commands
offered there that have a place in the menu (`menu`, the ones people use most), in that order,
capped at 10, each with its short description.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

from bot.commands.grammar import COMMANDS, CommandSpec, Scope
from devtools.app_package.errors import TemplateError
from devtools.app_package.settings import ROOT, PackageSettings

SCHEMAS_DIR = ROOT / "node_modules" / "@microsoft" / "app-manifest" / "build" / "json-schemas"

# Teams' documented limits for bot commands; the schema itself allows more (128/4000/12).
MAX_COMMANDS_PER_LIST = 10
MAX_COMMAND_TITLE = 32
MAX_COMMAND_DESCRIPTION = 128

Manifest = dict[str, Any]

_PLACEHOLDER = re.compile(r"\$\{\{([A-Z][A-Z0-9_]*)\}\}")
_SCHEMA_URL = re.compile(r"/(teams/v[0-9]+\.[0-9]+/MicrosoftTeams\.schema\.json)$")


def commands_for(scope: Scope, commands: Iterable[CommandSpec] = COMMANDS) -> list[CommandSpec]:
    """The commands the manifest lists for `scope`: by their place in the menu, at most 10."""
    offered = [c for c in commands if scope in c.scopes and c.available and c.menu is not None]
    return sorted(offered, key=lambda c: c.menu or 0)[:MAX_COMMANDS_PER_LIST]


def command_lists(commands: Sequence[CommandSpec] = COMMANDS) -> list[dict[str, Any]]:
    """The bot's `commandLists`: one list per scope that offers any command."""
    lists: list[dict[str, Any]] = []
    for scope in Scope:
        chosen = commands_for(scope, commands)
        if chosen:
            entries = [
                {"title": c.name, "description": _clip(c.short, MAX_COMMAND_DESCRIPTION)}
                for c in chosen
            ]
            lists.append({"scopes": [scope.value], "commands": entries})
    return lists


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def fill_template(template: Manifest, settings: PackageSettings) -> Manifest:
    """The template with every placeholder filled and the command lists generated."""
    values = settings.placeholders()

    def fill(node: Any) -> Any:
        if isinstance(node, str):
            return _PLACEHOLDER.sub(lambda m: _placeholder_value(values, m.group(1)), node)
        if isinstance(node, list):
            return [fill(item) for item in node]
        if isinstance(node, dict):
            return {key: fill(item) for key, item in node.items()}
        return node

    manifest: Manifest = fill(template)
    bots = manifest.get("bots")
    if not isinstance(bots, list) or len(bots) != 1 or not isinstance(bots[0], dict):
        raise TemplateError("the template must declare exactly one bot")
    # The catalogue is the single source of truth; a hand-written list would drift from it.
    if bots[0].get("commandLists", []) != []:
        raise TemplateError("leave the bot's commandLists empty: the builder generates it")
    bots[0]["commandLists"] = command_lists()
    return manifest


def _placeholder_value(values: Mapping[str, str], name: str) -> str:
    if name not in values:
        raise TemplateError(f"unknown placeholder ${{{{{name}}}}} in the manifest template")
    return values[name]


def load_schema(manifest: Manifest, schemas_dir: Path = SCHEMAS_DIR) -> dict[str, Any]:
    """The bundled official schema named by the manifest's `$schema` URL."""
    match = _SCHEMA_URL.search(str(manifest.get("$schema", "")))
    if match is None:
        raise TemplateError("the manifest's $schema must name a released teams/v1.NN schema")
    path = schemas_dir / match.group(1)
    try:
        schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TemplateError(
            f"schema {path} not found: run `npm ci` in the repository root"
        ) from None
    return schema


def manifest_problems(manifest: Manifest, schema: Mapping[str, Any]) -> list[str]:
    """Every way `manifest` breaks the schema or Teams' command limits; empty when valid."""
    # The schemas declare draft-04, whose rules ignore `const` (e.g. manifestVersion); Draft 7
    # enforces it. Formats stay unchecked: one bundled pattern uses \p{L}, which Python's re
    # cannot compile, so the schema itself is not meta-validated either.
    validator = Draft7Validator(schema)
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path)))
    problems = [f"{e.json_path}: {e.message}" for e in errors]
    # Only a schema-valid manifest has the shape the limit checks walk through.
    if not problems:
        for bot in manifest.get("bots", []):
            for index, command_list in enumerate(bot.get("commandLists", [])):
                problems.extend(_command_list_problems(index, command_list))
    leftover = sorted(set(_PLACEHOLDER.findall(json.dumps(manifest))))
    problems.extend(f"placeholder ${{{{{name}}}}} is not filled" for name in leftover)
    return problems


def _command_list_problems(index: int, command_list: Mapping[str, Any]) -> list[str]:
    where = f"$.bots[0].commandLists[{index}]"
    commands = command_list["commands"]
    problems = []
    if len(commands) > MAX_COMMANDS_PER_LIST:
        problems.append(f"{where}: {len(commands)} commands, Teams shows at most 10")
    for command in commands:
        if len(command["title"]) > MAX_COMMAND_TITLE:
            problems.append(f"{where}: title {command['title']!r} is longer than 32 characters")
        if len(command.get("description", "")) > MAX_COMMAND_DESCRIPTION:
            problems.append(f"{where}: description of {command.get('title')!r} exceeds 128")
    return problems
