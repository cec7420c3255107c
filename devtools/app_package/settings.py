"""The package values: `EXHIBIT_*` environment variables (or their options), checked."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from devtools.app_package.errors import SettingError
from exhibit.settings import load_teams_app_settings

ROOT = Path(__file__).resolve().parents[2]

_GUID = re.compile(r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})+$")
_SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")


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
