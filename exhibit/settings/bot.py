"""The bot's identity settings: its Entra app registration, or anonymous mode for local use."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from exhibit.settings.base import Concern, Flag, Guid, SettingsError, choice


class BotAuthType(StrEnum):
    """How the bot proves its own identity to the Bot Framework (Entra)."""

    CLIENT_SECRET = "client_secret"  # noqa: S105 (a kind of credential, not one)
    CERTIFICATE = "certificate"
    USER_MANAGED_IDENTITY = "user_managed_identity"
    SYSTEM_MANAGED_IDENTITY = "system_managed_identity"
    WORKLOAD_IDENTITY = "workload_identity"


class BotCloud(StrEnum):
    """The Azure cloud of the Azure Bot resource: it decides which Bot Framework signs for Teams."""

    PUBLIC = "public"
    USGOV = "usgov"


BOT_FRAMEWORK_ISSUERS = {
    BotCloud.PUBLIC: "https://api.botframework.com",
    BotCloud.USGOV: "https://api.botframework.us",
}


BotAuthTypeChoice = Annotated[BotAuthType, choice(BotAuthType)]
BotCloudChoice = Annotated[BotCloud, choice(BotCloud)]


class BotCredentials(BaseModel):
    """The Entra app registration behind the Azure Bot resource."""

    model_config = ConfigDict(frozen=True)

    app_id: str
    tenant_id: str
    auth_type: BotAuthType
    client_secret: SecretStr | None = None
    certificate_path: Path | None = None
    authority: str | None = None
    cloud: BotCloud = BotCloud.PUBLIC

    @property
    def issuer(self) -> str:
        """The only token issuer whose tokens are Teams traffic for this bot."""
        return BOT_FRAMEWORK_ISSUERS[self.cloud]


class BotSettings(Concern):
    """The bot's own identity, or the dangerous anonymous mode for local use."""

    allow_anonymous: Flag = Field(False, validation_alias="EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS")
    bot_app_id: Guid | None = None
    bot_tenant_id: Guid | None = None
    bot_auth_type: BotAuthTypeChoice = BotAuthType.CLIENT_SECRET
    bot_client_secret: SecretStr | None = None
    bot_certificate_path: Path | None = None
    bot_authority: str | None = None
    bot_cloud: BotCloudChoice = BotCloud.PUBLIC

    @property
    def credentials(self) -> BotCredentials | None:
        """The bot's app registration, None in anonymous mode."""
        if self.bot_app_id is None or self.bot_tenant_id is None:
            return None
        return BotCredentials(
            app_id=self.bot_app_id,
            tenant_id=self.bot_tenant_id,
            auth_type=self.bot_auth_type,
            client_secret=self.bot_client_secret,
            certificate_path=self.bot_certificate_path,
            authority=self.bot_authority,
            cloud=self.bot_cloud,
        )

    def _check_credentials(self) -> None:
        if self.bot_app_id is None:
            return
        kind = self.bot_auth_type
        if kind is BotAuthType.CLIENT_SECRET and self.bot_client_secret is None:
            raise SettingsError("EXHIBIT_BOT_CLIENT_SECRET", "is required with client_secret auth")
        if kind is BotAuthType.CERTIFICATE and self.bot_certificate_path is None:
            raise SettingsError("EXHIBIT_BOT_CERTIFICATE_PATH", "is required with certificate auth")
        if self.bot_authority is not None and urlsplit(self.bot_authority).scheme != "https":
            raise SettingsError("EXHIBIT_BOT_AUTHORITY", "must be an https URL")
        if self.bot_tenant_id is None:
            raise SettingsError("EXHIBIT_BOT_TENANT_ID", "is required")
