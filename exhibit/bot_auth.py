"""The bot's identity in the Agents SDK: its auth configuration, its adapter, its token issuers."""

from __future__ import annotations

from collections.abc import Callable

from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import (
    AccessTokenProviderBase,
    AgentAuthConfiguration,
    ConnectionManager,
    OutboundHostValidator,
)
from microsoft_agents.hosting.core.authorization import AuthTypes

from bot.agent import on_turn_error
from exhibit.settings import BotAuthType, Settings

ProviderFactory = Callable[[AgentAuthConfiguration], AccessTokenProviderBase]

_AUTH_TYPES = {
    BotAuthType.CLIENT_SECRET: AuthTypes.client_secret,
    BotAuthType.CERTIFICATE: AuthTypes.certificate,
    BotAuthType.USER_MANAGED_IDENTITY: AuthTypes.user_managed_identity,
    BotAuthType.SYSTEM_MANAGED_IDENTITY: AuthTypes.system_managed_identity,
    BotAuthType.WORKLOAD_IDENTITY: AuthTypes.workload_identity,
}


def auth_configuration(settings: Settings) -> AgentAuthConfiguration:
    """The Agents SDK's view of the bot's identity: only the Bot Framework issues its tokens."""
    credentials = settings.credentials
    if credentials is None:
        return AgentAuthConfiguration(anonymous_allowed=True)
    return AgentAuthConfiguration(
        auth_type=_AUTH_TYPES[credentials.auth_type],
        client_id=credentials.app_id,
        tenant_id=credentials.tenant_id,
        client_secret=credentials.client_secret.get_secret_value()
        if credentials.client_secret
        else None,
        cert_pfx_file=str(credentials.certificate_path) if credentials.certificate_path else None,
        authority=credentials.authority,
        # Off by default in the SDK: a correctly signed token from another issuer would pass.
        validate_issuer=True,
        # Without an explicit list the SDK also trusts the tenant's own Entra issuers, so any
        # app-only or user token of the tenant for the bot's audience would be Teams traffic.
        issuers=[credentials.issuer],
    )


def token_issuers(settings: Settings) -> frozenset[str]:
    """Issuers whose tokens the edge accepts (none in anonymous mode, which has no audience)."""
    if settings.credentials is None:
        return frozenset()
    return frozenset({settings.credentials.issuer.lower()})


def build_adapter(
    settings: Settings, config: AgentAuthConfiguration, provider_factory: ProviderFactory
) -> CloudAdapter:
    """The Agents SDK adapter: outbound tokens, and outbound host checks whenever it has any."""
    connections = ConnectionManager(provider_factory, {"SERVICE_CONNECTION": config})
    # Real credentials mean a real token on every reply: it must never go to an unchecked host,
    # whatever the environment. Only anonymous mode (no token to leak) talks to any host.
    validator = (
        OutboundHostValidator(list(settings.allowed_service_url_hosts), enabled=True)
        if settings.production or settings.credentials is not None
        else None
    )
    adapter = CloudAdapter(connection_manager=connections, host_validator=validator)
    adapter.on_turn_error = on_turn_error
    return adapter
