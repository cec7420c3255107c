"""Storage settings: the database, each region's Blob account, and the intake queue."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource

from exhibit.settings.base import Concern, SettingsError, environment_read

_REGION = re.compile(r"^[a-z][a-z0-9]{1,31}$")
MAX_RETENTION_DAYS = 146_000  # Azure's limit for a time-based retention policy
_QUEUE = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")


class Region(BaseModel):
    """A storage region and the Blob account that holds its evidence."""

    model_config = ConfigDict(frozen=True)

    name: str
    connection_string: SecretStr | None = None
    account_url: str | None = None
    # Set when the account supports version-level immutability: how long each evidence and
    # checkpoint blob is retained (time-based retention policy). None: not supported.
    immutability_days: int | None = None


class _RegionsSource(PydanticBaseSettingsSource):
    """`regions` from EXHIBIT_REGIONS and each region's EXHIBIT_REGION_<NAME>_* variables."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: `__call__` reads the variables directly."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if "regions" not in self.settings_cls.model_fields:
            return {}
        env = environment_read()

        def read(name: str) -> str | None:
            return (env.get(name) or "").strip() or None

        regions = []
        names = (read("EXHIBIT_REGIONS") or "uksouth").replace(";", ",").split(",")
        for name in (part.strip() for part in names if part.strip()):
            if not _REGION.match(name):
                problem = f"{name!r} is not a region name like uksouth"
                raise SettingsError("EXHIBIT_REGIONS", problem)
            key = f"EXHIBIT_REGION_{name.upper()}"
            connection, url = read(f"{key}_CONNECTION_STRING"), read(f"{key}_ACCOUNT_URL")
            if connection is None and url is None:
                raise SettingsError(
                    f"{key}_CONNECTION_STRING",
                    f"region {name} needs a connection string or {key}_ACCOUNT_URL",
                )
            if url is not None and urlsplit(url).scheme not in {"https", "http"}:
                raise SettingsError(f"{key}_ACCOUNT_URL", "must be a URL")
            days = read(f"{key}_IMMUTABILITY_DAYS")
            if days is not None and not (days.isdigit() and 1 <= int(days) <= MAX_RETENTION_DAYS):
                raise SettingsError(
                    f"{key}_IMMUTABILITY_DAYS",
                    f"must be a whole number of days from 1 to {MAX_RETENTION_DAYS}",
                )
            regions.append(
                {
                    "name": name,
                    "connection_string": connection,
                    "account_url": url,
                    "immutability_days": int(days) if days is not None else None,
                }
            )
        return {"regions": tuple(regions)}


class StorageSettings(Concern):
    """The database, the Blob account of each region, and the intake queue."""

    database_url: SecretStr = SecretStr("sqlite+aiosqlite:///var/exhibit.db")
    database_entra_auth: bool = Field(False, validation_alias="EXHIBIT_DATABASE_ENTRA_AUTH")
    regions: Annotated[tuple[Region, ...], NoDecode]  # read by _RegionsSource
    default_region_setting: str | None = Field(None, validation_alias="EXHIBIT_DEFAULT_REGION")
    queue_connection_string_setting: SecretStr | None = Field(
        None, validation_alias="EXHIBIT_QUEUE_CONNECTION_STRING"
    )
    queue_account_url: str | None = Field(None, validation_alias="EXHIBIT_QUEUE_ACCOUNT_URL")
    queue_name: str = "exhibit-intake"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The mapping being read, and the regions drawn from it."""
        init, *rest = super().settings_customise_sources(
            settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
        )
        return init, _RegionsSource(settings_cls), *rest

    @property
    def default_region(self) -> str:
        """The region of new cases unless one is named."""
        return self.default_region_setting or self.regions[0].name

    @property
    def queue_connection_string(self) -> SecretStr | None:
        """The ingest queue's account by connection string: its own, or the first region's.

        None when the queue is reached by URL with the service's identity
        (`EXHIBIT_QUEUE_ACCOUNT_URL`, production without account keys).
        """
        if self.queue_connection_string_setting is not None:
            return self.queue_connection_string_setting
        if self.queue_account_url is not None:
            return None
        return self.regions[0].connection_string

    def region(self, name: str) -> Region:
        """The configured region called `name`."""
        for region in self.regions:
            if region.name == name:
                return region
        raise KeyError(name)

    def _check_storage(self) -> None:
        if self.default_region not in {r.name for r in self.regions}:
            raise SettingsError(
                "EXHIBIT_DEFAULT_REGION", f"{self.default_region!r} is not in EXHIBIT_REGIONS"
            )
        if (
            self.queue_connection_string_setting is None
            and self.queue_account_url is None
            and not self.regions[0].connection_string
        ):
            raise SettingsError(
                "EXHIBIT_QUEUE_CONNECTION_STRING",
                "is required (or EXHIBIT_QUEUE_ACCOUNT_URL): the ingest queue's storage account",
            )
        if self.queue_account_url is not None and not self.queue_account_url.startswith(
            ("https://", "http://127.0.0.1", "http://localhost")
        ):
            raise SettingsError("EXHIBIT_QUEUE_ACCOUNT_URL", "must be an https URL")
        if self.database_entra_auth and not self.database_url.get_secret_value().startswith(
            "postgresql"
        ):
            raise SettingsError(
                "EXHIBIT_DATABASE_ENTRA_AUTH", "needs a PostgreSQL EXHIBIT_DATABASE_URL"
            )
        if not _QUEUE.fullmatch(self.queue_name):
            raise SettingsError("EXHIBIT_QUEUE_NAME", "must be 3-63 lower-case letters, digits, -")
