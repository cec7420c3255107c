"""Build Exhibit's Teams app package: fill the manifest template, validate it, zip it with icons.

    .venv/bin/python -m devtools.app_package [--out DIR] [--bot-app-id GUID] \
        [--public-host HOST] ...

Values come from `EXHIBIT_*` environment variables; each has an option that overrides it. The
filled manifest is checked against Microsoft's schema bundled in node_modules (npm
`@microsoft/app-manifest`) and against Teams' stricter bot command limits before any file is
written. The manifest's bot `commandLists` are generated from
`bot.commands.grammar.COMMANDS`: per scope, the commands offered there, available ones first,
then the rest, each group in catalogue order, capped at 10.

This module imports only the standard library, jsonschema, `bot.commands.grammar` and
`exhibit.settings` (whose `TeamsAppSettings` declares the variables), so it runs without the
bot's SDKs and without the service's own settings.

Errors (all carry fields, and their str is the message shown to the admin):

    AppPackageError      root
    ├── SettingError     a value is missing or invalid; `name` is the environment variable
    ├── TemplateError    the manifest template or the bundled schema cannot be used
    └── ManifestInvalid  the filled manifest breaks the schema or a Teams limit; `problems`
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import sys
import tomllib
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft7Validator

from bot.commands.grammar import COMMANDS, CommandSpec, Scope
from exhibit.settings import load_teams_app_settings

ROOT = Path(__file__).resolve().parents[2]
APP_PACKAGE_DIR = ROOT / "appPackage"
SCHEMAS_DIR = ROOT / "node_modules" / "@microsoft" / "app-manifest" / "build" / "json-schemas"
ICONS = {"color.png": (192, 192), "outline.png": (32, 32)}

# Teams' documented limits for bot commands; the schema itself allows more (128/4000/12).
MAX_COMMANDS_PER_LIST = 10
MAX_COMMAND_TITLE = 32
MAX_COMMAND_DESCRIPTION = 128

Manifest = dict[str, Any]

_PLACEHOLDER = re.compile(r"\$\{\{([A-Z][A-Z0-9_]*)\}\}")
_GUID = re.compile(r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})+$")
_SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
_SCHEMA_URL = re.compile(r"/(teams/v[0-9]+\.[0-9]+/MicrosoftTeams\.schema\.json)$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A fixed timestamp makes two builds of the same inputs byte-identical.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class AppPackageError(Exception):
    """The package cannot be built; the message says why."""


class SettingError(AppPackageError):
    """A value is missing or invalid; `name` is the environment variable that sets it."""

    def __init__(self, name: str, problem: str, option: str | None = None) -> None:
        where = f"{name} (or {option})" if option else name
        super().__init__(f"{where}: {problem}")
        self.name = name
        self.problem = problem


class TemplateError(AppPackageError):
    """The manifest template or the bundled schema cannot be used as it is."""


class ManifestInvalid(AppPackageError):
    """The filled manifest breaks the official schema or a Teams limit."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("the manifest is invalid:\n  " + "\n  ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class PackageSettings:
    """Everything the manifest template needs, already validated."""

    bot_app_id: str
    teams_app_id: str
    public_host: str
    developer_url: str
    privacy_url: str
    terms_url: str
    version: str

    def placeholders(self) -> dict[str, str]:
        """The values for the template's `${{NAME}}` placeholders."""
        return {
            "BOT_ID": self.bot_app_id,
            "TEAMS_APP_ID": self.teams_app_id,
            "PUBLIC_HOST": self.public_host,
            "DEVELOPER_URL": self.developer_url,
            "PRIVACY_URL": self.privacy_url,
            "TERMS_URL": self.terms_url,
            "VERSION": self.version,
        }


# Environment variable → command-line option that overrides it.
OPTIONS = {
    "EXHIBIT_BOT_APP_ID": "--bot-app-id",
    "EXHIBIT_TEAMS_APP_ID": "--teams-app-id",
    "EXHIBIT_PUBLIC_HOST": "--public-host",
    "EXHIBIT_APP_DEVELOPER_URL": "--developer-url",
    "EXHIBIT_APP_PRIVACY_URL": "--privacy-url",
    "EXHIBIT_APP_TERMS_URL": "--terms-url",
    "EXHIBIT_APP_VERSION": "--app-version",
}


def load_package_settings(env: Mapping[str, str]) -> PackageSettings:
    """Read and check the package values from `env` (environment variables, overrides applied)."""
    read = load_teams_app_settings(env)

    def guid(name: str, raw: str | None, what: str) -> str:
        if raw is None:
            raise SettingError(name, f"is required: {what}", OPTIONS[name])
        normal = raw.lower()
        if not _GUID.match(normal) or normal.strip("0-") == "":
            raise SettingError(name, f"{raw!r} is not a GUID: {what}", OPTIONS[name])
        return normal

    bot_app_id = guid(
        "EXHIBIT_BOT_APP_ID",
        read.bot_app_id,
        "the Application (client) ID of the bot's Entra app registration",
    )
    # Reusing the bot's id as the Teams app id keeps it stable across builds, so an upload of a
    # new version updates the installed app instead of adding a second one.
    teams_app_id = guid(
        "EXHIBIT_TEAMS_APP_ID",
        read.teams_app_id or bot_app_id,
        "the Teams app id (defaults to EXHIBIT_BOT_APP_ID)",
    )
    host = _public_host(read.public_host)
    return PackageSettings(
        bot_app_id=bot_app_id,
        teams_app_id=teams_app_id,
        public_host=host,
        developer_url=_https_url(
            "EXHIBIT_APP_DEVELOPER_URL", read.app_developer_url or f"https://{host}/"
        ),
        privacy_url=_https_url(
            "EXHIBIT_APP_PRIVACY_URL", read.app_privacy_url or f"https://{host}/privacy"
        ),
        terms_url=_https_url(
            "EXHIBIT_APP_TERMS_URL", read.app_terms_url or f"https://{host}/terms"
        ),
        version=_version(read.app_version or _project_version()),
    )


def _public_host(raw: str | None) -> str:
    name, option = "EXHIBIT_PUBLIC_HOST", OPTIONS["EXHIBIT_PUBLIC_HOST"]
    if raw is None:
        raise SettingError(name, "is required: the bot's public host name", option)
    host = raw.lower().rstrip(".")
    if "/" in host or ":" in host:
        raise SettingError(name, f"{raw!r}: give the host name only, no scheme/port/path", option)
    # An IP literal cannot carry the public TLS certificate Teams and Bot Service require.
    if not _HOST.match(host) or host.rsplit(".", 1)[-1].isdigit():
        raise SettingError(name, f"{raw!r} is not a DNS host name like exhibit.example", option)
    return host


def _https_url(name: str, raw: str) -> str:
    try:
        parts = urlsplit(raw)
    except ValueError:
        raise SettingError(name, f"{raw!r} is not an https URL", OPTIONS[name]) from None
    if (
        parts.scheme != "https"
        or not parts.hostname
        or parts.username is not None
        or any(c.isspace() for c in raw)
        or len(raw) > 2048
    ):
        raise SettingError(name, f"{raw!r} is not an https URL", OPTIONS[name])
    return raw


def _version(raw: str) -> str:
    if not _SEMVER.match(raw):
        raise SettingError(
            "EXHIBIT_APP_VERSION",
            f"{raw!r} is not a version like 1.2.3 (Teams needs MAJOR.MINOR.PATCH)",
            OPTIONS["EXHIBIT_APP_VERSION"],
        )
    return raw


def _project_version() -> str:
    try:
        with (ROOT / "pyproject.toml").open("rb") as file:
            version = tomllib.load(file)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "1.0.0"
    return str(version)


def commands_for(scope: Scope, commands: Iterable[CommandSpec] = COMMANDS) -> list[CommandSpec]:
    """The commands the manifest lists for `scope`: available first, catalogue order, at most 10."""
    offered = [c for c in commands if scope in c.scopes]
    # sorted() is stable, so each group keeps the catalogue's order.
    return sorted(offered, key=lambda c: not c.available)[:MAX_COMMANDS_PER_LIST]


def command_lists(commands: Sequence[CommandSpec] = COMMANDS) -> list[dict[str, Any]]:
    """The bot's `commandLists`: one list per scope that offers any command."""
    lists: list[dict[str, Any]] = []
    for scope in Scope:
        chosen = commands_for(scope, commands)
        if chosen:
            entries = [
                {"title": c.name, "description": _clip(c.description, MAX_COMMAND_DESCRIPTION)}
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


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, which the format requires to come first."""
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise TemplateError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def build_package(
    settings: PackageSettings,
    out_dir: Path,
    *,
    app_package_dir: Path = APP_PACKAGE_DIR,
    schemas_dir: Path = SCHEMAS_DIR,
) -> Path:
    """Validate the filled manifest, then write `exhibit-<version>.zip`; return its path."""
    template = json.loads((app_package_dir / "manifest.json").read_text(encoding="utf-8"))
    manifest = fill_template(template, settings)
    problems = manifest_problems(manifest, load_schema(manifest, schemas_dir))
    icons = {name: (app_package_dir / name).read_bytes() for name in ICONS}
    for name, data in icons.items():
        if png_size(data) != ICONS[name]:
            problems.append(f"{name}: is {png_size(data)}, Teams needs {ICONS[name]}")
    if problems:
        raise ManifestInvalid(problems)

    files = {"manifest.json": (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()}
    files.update(icons)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"exhibit-{settings.version}.zip"
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    # Replace in one step so an upload never picks up a half-written package.
    partial.replace(target)
    return target


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.app_package",
        description="Build the Teams app package (manifest.json, color.png, outline.png) "
        "as DIR/exhibit-<version>.zip. Each option overrides the environment variable named "
        "in its help.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("dist"), metavar="DIR", help="output folder (dist)"
    )
    helps = {
        "EXHIBIT_BOT_APP_ID": "the bot's Entra application (client) ID; required",
        "EXHIBIT_TEAMS_APP_ID": "the Teams app id (default: the bot's app id)",
        "EXHIBIT_PUBLIC_HOST": "the bot's public host name, e.g. exhibit.force.example; required",
        "EXHIBIT_APP_DEVELOPER_URL": "developer website (default: https://HOST/)",
        "EXHIBIT_APP_PRIVACY_URL": "privacy statement (default: https://HOST/privacy)",
        "EXHIBIT_APP_TERMS_URL": "terms of use (default: https://HOST/terms)",
        "EXHIBIT_APP_VERSION": "app version MAJOR.MINOR.PATCH (default: pyproject's)",
    }
    for variable, option in OPTIONS.items():
        parser.add_argument(
            option, dest=variable, metavar="VALUE", help=f"{helps[variable]} [{variable}]"
        )
    parser.add_argument(
        "--schemas",
        type=Path,
        default=SCHEMAS_DIR,
        metavar="DIR",
        help="folder holding teams/v1.NN/MicrosoftTeams.schema.json (default: node_modules)",
    )
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Command line entry point: build the package, print its path; exit 1 on any problem."""
    args = _parser().parse_args(argv)
    values = dict(os.environ if env is None else env)
    values.update({k: v for k, v in vars(args).items() if k in OPTIONS and v is not None})
    try:
        path = build_package(load_package_settings(values), args.out, schemas_dir=args.schemas)
    except AppPackageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
