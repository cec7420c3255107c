"""Settings of the Graph directory: who we are in Entra, where Graph is, how long answers keep."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from evidence.officers import Role
from graph.ids import canonical_id
from storage.host_allow_list import is_loopback

GRAPH_V1 = "https://graph.microsoft.com/v1.0"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class CredentialKind(StrEnum):
    """How Exhibit proves who it is to Entra ID."""

    CLIENT_SECRET = "client_secret"  # noqa: S105 - a kind of credential, not a secret
    CERTIFICATE = "certificate"
    MANAGED_IDENTITY = "managed_identity"
    WORKLOAD_IDENTITY = "workload_identity"


class GraphConfigError(ValueError):
    """A Graph directory setting is missing or makes no sense; `field` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphDirectoryConfig:
    """Everything `open_graph_directory` needs. Durations are seconds.

    `role_groups` maps Entra group object ids to the Exhibit role that membership (direct or
    nested) grants. `stale_if_error` is how long past its TTL a cached answer may still be served
    while Graph is failing. `ca_bundle` adds trust for the token endpoint (private PKI, tests).
    """

    credential_kind: CredentialKind
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    certificate_path: Path | None = None
    certificate_password: str | None = field(default=None, repr=False)
    federated_token_file: Path | None = None
    authority_host: str | None = None
    ca_bundle: Path | None = None
    base_url: str = GRAPH_V1
    scope: str = GRAPH_SCOPE
    allowed_hosts: tuple[str, ...] = ()
    role_groups: Mapping[str, Role] = field(default_factory=dict)
    cache_ttl: float = 300.0
    negative_ttl: float = 60.0
    stale_if_error: float = 900.0
    timeout: float = 10.0
    max_retries: int = 3
    retry_delay: float = 1.0
    max_cache_entries: int = 10_000

    def __post_init__(self) -> None:
        self._check_credential()
        self._check_base_url()
        groups: dict[str, Role] = {}
        for group_id, role in self.role_groups.items():
            canonical = canonical_id(group_id)
            if canonical is None:
                raise GraphConfigError("role_groups", f"{group_id!r} is not a group object id")
            try:
                groups[canonical] = Role(role)
            except ValueError:
                raise GraphConfigError("role_groups", f"{role!r} is not a role") from None
        object.__setattr__(self, "role_groups", MappingProxyType(groups))
        if not self.allowed_hosts:
            object.__setattr__(self, "allowed_hosts", (self.graph_host,))
        for name in ("cache_ttl", "negative_ttl", "stale_if_error", "retry_delay"):
            if getattr(self, name) < 0:
                raise GraphConfigError(name, "must not be negative")
        if self.timeout <= 0:
            raise GraphConfigError("timeout", "must be positive")
        if not 0 <= self.max_retries <= 10:
            raise GraphConfigError("max_retries", "must be between 0 and 10")
        if self.retry_delay > 180:
            raise GraphConfigError("retry_delay", "must be at most 180")
        if self.max_cache_entries < 1:
            raise GraphConfigError("max_cache_entries", "must be at least 1")

    @property
    def graph_host(self) -> str:
        """The host part of `base_url`."""
        return urlsplit(self.base_url).hostname or ""

    def _check_credential(self) -> None:
        kind = self.credential_kind
        if kind is not CredentialKind.MANAGED_IDENTITY:
            if not self.tenant_id:
                raise GraphConfigError("tenant_id", f"required for {kind}")
            if not self.client_id:
                raise GraphConfigError("client_id", f"required for {kind}")
        if kind is CredentialKind.CLIENT_SECRET and not self.client_secret:
            raise GraphConfigError("client_secret", "required for client_secret")
        if kind is CredentialKind.CERTIFICATE and self.certificate_path is None:
            raise GraphConfigError("certificate_path", "required for certificate")

    def _check_base_url(self) -> None:
        parts = urlsplit(self.base_url)
        if not parts.hostname or parts.query or parts.fragment:
            raise GraphConfigError("base_url", "must be an absolute URL without query")
        if parts.scheme == "https":
            return
        if parts.scheme == "http" and is_loopback(parts.hostname):
            return
        raise GraphConfigError("base_url", "must use https (plain http only for loopback)")
