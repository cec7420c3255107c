"""Directory settings: who officers are, from a local file or Microsoft Graph."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr

from evidence.officers import Role
from exhibit.settings.base import GUID, Concern, Seconds, SettingsError, Words, choice, lower
from exhibit.settings.bot import BotCredentials


class GraphCredential(StrEnum):
    """How Exhibit proves itself to Microsoft Graph."""

    CLIENT_SECRET = "client_secret"  # noqa: S105 (a kind of credential, not one)
    CERTIFICATE = "certificate"
    MANAGED_IDENTITY = "managed_identity"
    WORKLOAD_IDENTITY = "workload_identity"


ROLES = tuple(role.value for role in Role)

GraphCredentialChoice = Annotated[GraphCredential, choice(GraphCredential)]


class GraphSettings(BaseModel):
    """Microsoft Graph, for the directory (officers, roles, channel members)."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    client_id: str
    credential: GraphCredential
    client_secret: SecretStr | None
    certificate_path: Path | None
    base_url: str
    authority_host: str | None
    ca_bundle: Path | None
    role_groups: tuple[tuple[str, str], ...]  # (group object id, role)
    cache_seconds: int


class DirectorySettings(Concern):
    """Who officers are: a local file for development, or Microsoft Graph."""

    directory: Annotated[str, BeforeValidator(lower)] = "local"
    local_directory_file: Path = Path("dev/directory.yaml")
    graph_tenant_id: str | None = None
    graph_client_id: str | None = None
    graph_credential: GraphCredentialChoice = GraphCredential.CLIENT_SECRET
    graph_client_secret: SecretStr | None = None
    graph_certificate_path: Path | None = None
    graph_base_url: str = "https://graph.microsoft.com/v1.0"
    graph_authority_host: str | None = None
    graph_ca_bundle: Path | None = None
    role_groups: Words = ()
    directory_cache_seconds: Seconds = 300

    def _graph_settings(self, bot: BotCredentials | None) -> GraphSettings | None:
        """Graph settings; the bot's own app registration is the default identity."""
        if self.directory != "graph":
            return None
        tenant = self.graph_tenant_id or (bot.tenant_id if bot else None)
        client = self.graph_client_id or (bot.app_id if bot else None)
        if tenant is None or not GUID.match(tenant):
            raise SettingsError("EXHIBIT_GRAPH_TENANT_ID", "must be the tenant GUID")
        if client is None or not GUID.match(client):
            raise SettingsError("EXHIBIT_GRAPH_CLIENT_ID", "must be the app (client) GUID")
        secret = self.graph_client_secret or (bot.client_secret if bot else None)
        if self.graph_credential is GraphCredential.CLIENT_SECRET and secret is None:
            raise SettingsError("EXHIBIT_GRAPH_CLIENT_SECRET", "is required with client_secret")
        if (
            self.graph_credential is GraphCredential.CERTIFICATE
            and self.graph_certificate_path is None
        ):
            raise SettingsError("EXHIBIT_GRAPH_CERTIFICATE_PATH", "is required with certificate")
        if urlsplit(self.graph_base_url).scheme not in {"https", "http"}:
            raise SettingsError("EXHIBIT_GRAPH_BASE_URL", "must be a URL")
        groups = []
        for pair in self.role_groups:
            group, _, role = pair.partition("=")
            if not GUID.match(group.strip()) or role.strip().lower() not in ROLES:
                raise SettingsError(
                    "EXHIBIT_ROLE_GROUPS", f"{pair!r} is not <group object id>=<{'|'.join(ROLES)}>"
                )
            groups.append((group.strip().lower(), role.strip().lower()))
        if not groups:
            raise SettingsError("EXHIBIT_ROLE_GROUPS", "is required with the Graph directory")
        return GraphSettings(
            tenant_id=tenant.lower(),
            client_id=client.lower(),
            credential=self.graph_credential,
            client_secret=secret,
            certificate_path=self.graph_certificate_path,
            base_url=self.graph_base_url.rstrip("/"),
            authority_host=self.graph_authority_host,
            ca_bundle=self.graph_ca_bundle,
            role_groups=tuple(groups),
            cache_seconds=self.directory_cache_seconds,
        )
