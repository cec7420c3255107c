"""`Settings`: every concern's settings composed into one object, and how it is loaded.

Every setting is an `EXHIBIT_*` environment variable (plus `PORT`), optionally read from a `.env`
file. They are declared with pydantic-settings, one model per concern (the service and its
edge, the bot's identity, storage, the directory, cases, intake, sharing), composed into one
`Settings`. A missing or invalid value stops start-up with a `SettingsError` naming the variable.
Secrets are `SecretStr`, whose repr never shows the value. `.env.example` documents each one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

from pydantic import ValidationError, model_validator

from exhibit.settings.base import GUID, PREFIX, SettingsError, reading
from exhibit.settings.bot import BotSettings
from exhibit.settings.cases import CaseSettings
from exhibit.settings.directory import DirectorySettings, GraphSettings
from exhibit.settings.exports import ExportSettings
from exhibit.settings.intake import IntakeSettings
from exhibit.settings.service import ServiceSettings
from exhibit.settings.sharing import SharingSettings
from exhibit.settings.storage import StorageSettings
from exhibit.settings.teams_app import TeamsAppSettings


class Settings(
    ServiceSettings,
    BotSettings,
    StorageSettings,
    DirectorySettings,
    CaseSettings,
    IntakeSettings,
    SharingSettings,
    ExportSettings,
):
    """Everything Exhibit reads from its environment: every concern's settings in one object."""

    @property
    def graph(self) -> GraphSettings | None:
        """Microsoft Graph's settings when the directory is Graph."""
        return self._graph_settings(self.credentials)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        """The checks that span concerns, in the order start-up has always reported them."""
        self._check_credentials()
        if self.allow_anonymous and self.bot_app_id is not None:
            raise SettingsError(
                "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS",
                "cannot be true while bot credentials (EXHIBIT_BOT_APP_ID) are set",
            )
        if self.allow_anonymous and self.production:
            raise SettingsError("EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS", "is refused in production")
        if not self.allow_anonymous and self.bot_app_id is None:
            raise SettingsError(
                "EXHIBIT_BOT_APP_ID",
                "is required (or set EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS=true for local use)",
            )
        if self.allow_anonymous and not _is_loopback(self.host):
            raise SettingsError(
                "EXHIBIT_HOST",
                "must be a loopback address (127.0.0.1, ::1, localhost) in anonymous mode: "
                f"{self.host!r}",
            )
        for tenant in self.allowed_tenants:
            if not GUID.match(tenant):
                raise SettingsError("EXHIBIT_ALLOWED_TENANTS", f"{tenant!r} is not a tenant GUID")
        if not self.allowed_tenants:
            raise SettingsError("EXHIBIT_ALLOWED_TENANTS", "is required: the force's tenant id(s)")
        self._check_storage()
        if self.directory not in {"local", "graph"}:
            raise SettingsError(
                "EXHIBIT_DIRECTORY", f"must be local or graph, not {self.directory!r}"
            )
        if self.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise SettingsError("EXHIBIT_LOG_LEVEL", "must be DEBUG, INFO, WARNING or ERROR")
        graph = self.graph
        if self.create_case_channels and graph is None:
            raise SettingsError("EXHIBIT_CREATE_CASE_CHANNELS", "needs EXHIBIT_DIRECTORY=graph")
        if self.share_mail_from_setting is not None and graph is None:
            raise SettingsError("EXHIBIT_SHARE_MAIL_FROM", "needs EXHIBIT_DIRECTORY=graph")
        self._check_sharing()
        url = urlsplit(self.public_url)
        if url.scheme not in {"https", "http"} or not url.hostname:
            raise SettingsError("EXHIBIT_PUBLIC_URL", "must be the service's public base URL")
        if self.production and url.scheme != "https":
            raise SettingsError("EXHIBIT_PUBLIC_URL", "must be https in production")
        self._check_intake()
        return self


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build and check the settings from `env`; raise `SettingsError` on the first problem."""
    try:
        with reading(env):
            return Settings()
    except ValidationError as err:
        first = err.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        name = field if field.isupper() else f"{PREFIX}{field.upper()}"
        problem = first["msg"].removeprefix("Value error, ")
        raise SettingsError(name, problem) from None


def variable_names() -> frozenset[str]:
    """Every variable read by name (of the per-region ones, only EXHIBIT_REGIONS)."""
    names = {"EXHIBIT_REGIONS"}
    fields = {**Settings.model_fields, **TeamsAppSettings.model_fields}
    for name, field in fields.items():
        if name != "regions":
            names.add(str(field.validation_alias or f"{PREFIX}{name.upper()}"))
    return frozenset(names)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
