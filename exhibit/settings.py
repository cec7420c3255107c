"""Exhibit's settings: one frozen object, built once at start-up from the environment.

Every setting is an `EXHIBIT_*` environment variable (plus `PORT`), optionally read from a `.env`
file. A missing or invalid value stops start-up with a `SettingsError` naming the variable.
Secrets are held in `Secret`, whose repr never shows the value. `.env.example` documents each one.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from graph.ids import canonical_mailbox

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_REGION = re.compile(r"^[a-z][a-z0-9]{1,31}$")
_E = TypeVar("_E", bound=StrEnum)


class SettingsError(Exception):
    """A setting is missing or invalid; `name` is the environment variable."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret value that never appears in a repr, str or log line."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__


class Environment(StrEnum):
    """Where Exhibit runs; production turns on every outbound host check."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


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


@dataclass(frozen=True, slots=True)
class BotCredentials:
    """The Entra app registration behind the Azure Bot resource."""

    app_id: str
    tenant_id: str
    auth_type: BotAuthType
    client_secret: Secret | None = None
    certificate_path: Path | None = None
    authority: str | None = None
    cloud: BotCloud = BotCloud.PUBLIC

    @property
    def issuer(self) -> str:
        """The only token issuer whose tokens are Teams traffic for this bot."""
        return BOT_FRAMEWORK_ISSUERS[self.cloud]


@dataclass(frozen=True, slots=True)
class Region:
    """A storage region and the Blob account that holds its evidence."""

    name: str
    connection_string: Secret | None = None
    account_url: str | None = None


class GraphCredential(StrEnum):
    """How Exhibit proves itself to Microsoft Graph."""

    CLIENT_SECRET = "client_secret"  # noqa: S105 (a kind of credential, not one)
    CERTIFICATE = "certificate"
    MANAGED_IDENTITY = "managed_identity"
    WORKLOAD_IDENTITY = "workload_identity"


ROLES = ("officer", "approver", "auditor", "admin")


@dataclass(frozen=True, slots=True)
class GraphSettings:
    """Microsoft Graph, for the directory (officers, roles, channel members)."""

    tenant_id: str
    client_id: str
    credential: GraphCredential
    client_secret: Secret | None
    certificate_path: Path | None
    base_url: str
    authority_host: str | None
    ca_bundle: Path | None
    role_groups: tuple[tuple[str, str], ...]  # (group object id, role)
    cache_seconds: int


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    """How slowly a source may send, and how many jobs a worker runs (at most, per officer)."""

    download_timeout_seconds: int = 600  # a file may always take this long, larger ones longer
    download_min_bytes_per_second: int = 64 * 1024
    download_rate_window_seconds: int = 30
    concurrency: int = 2
    slots_per_officer: int = 0  # 0: half the worker's slots, rounded up


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything Exhibit reads from its environment."""

    environment: Environment
    host: str
    port: int
    allow_anonymous: bool
    credentials: BotCredentials | None
    allowed_tenants: frozenset[str]
    allowed_service_url_hosts: tuple[str, ...]
    max_request_bytes: int
    trusted_proxy_hops: int
    database_url: Secret
    regions: tuple[Region, ...]
    default_region: str
    queue_connection_string: Secret
    directory: str
    local_directory_file: Path
    graph: GraphSettings | None
    case_reference_pattern: re.Pattern[str]
    case_title_max: int
    case_team_seconds: int
    create_case_channels: bool
    queue_name: str
    run_worker: bool
    max_file_bytes: int
    intake_max_attempts: int
    intake_hold_seconds: int
    download_hosts: tuple[str, ...]
    share_domains: frozenset[str]
    share_organisation_types: tuple[str, ...]
    share_days: tuple[int, int, int]  # minimum, default, maximum
    share_mail_from: str | None
    verify_inline_bytes: int
    public_url: str
    classification: str
    log_level: str
    intake_limits: IntakeLimits = field(default_factory=IntakeLimits)

    @property
    def production(self) -> bool:
        """Whether this is a production deployment."""
        return self.environment is Environment.PRODUCTION

    def region(self, name: str) -> Region:
        """The configured region called `name`."""
        for region in self.regions:
            if region.name == name:
                return region
        raise KeyError(name)


class _Reader:
    """Typed access to an environment mapping, raising `SettingsError` with the name."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str, default: str | None = None) -> str:
        value = self._env.get(name, "").strip()
        if value:
            return value
        if default is None:
            raise SettingsError(name, "is required")
        return default

    def optional(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def flag(self, name: str, default: bool = False) -> bool:
        raw = self._env.get(name)
        if raw is None:
            return default
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise SettingsError(name, f"must be true or false, not {raw!r}")

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(name, f"must be a whole number, not {raw!r}") from None
        if not minimum <= value <= maximum:
            raise SettingsError(name, f"must be between {minimum} and {maximum}")
        return value

    def choice(self, name: str, kind: type[_E], default: _E) -> _E:
        raw = self._env.get(name, "").strip().lower()
        if not raw:
            return default
        try:
            return kind(raw)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise SettingsError(name, f"must be one of {allowed}, not {raw!r}") from None

    def guid(self, name: str) -> str:
        value = self.text(name)
        if not _GUID.match(value):
            raise SettingsError(name, "must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
        return value.lower()

    def words(self, name: str, default: str = "") -> tuple[str, ...]:
        raw = self._env.get(name, default)
        return tuple(part.strip() for part in raw.replace(";", ",").split(",") if part.strip())


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build and check the settings from `env`; raise `SettingsError` on the first problem."""
    read = _Reader(env)
    environment = read.choice("EXHIBIT_ENV", Environment, Environment.DEVELOPMENT)
    allow_anonymous = read.flag("EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS")
    credentials = _credentials(read)
    if allow_anonymous and credentials is not None:
        raise SettingsError(
            "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS",
            "cannot be true while bot credentials (EXHIBIT_BOT_APP_ID) are set",
        )
    if allow_anonymous and environment is Environment.PRODUCTION:
        raise SettingsError("EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS", "is refused in production")
    if not allow_anonymous and credentials is None:
        raise SettingsError(
            "EXHIBIT_BOT_APP_ID",
            "is required (or set EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS=true for local use)",
        )

    host = read.text("EXHIBIT_HOST", "127.0.0.1")
    if allow_anonymous and not _is_loopback(host):
        raise SettingsError(
            "EXHIBIT_HOST",
            f"must be a loopback address (127.0.0.1, ::1, localhost) in anonymous mode: {host!r}",
        )

    tenants = frozenset(t.lower() for t in read.words("EXHIBIT_ALLOWED_TENANTS"))
    for tenant in tenants:
        if not _GUID.match(tenant):
            raise SettingsError("EXHIBIT_ALLOWED_TENANTS", f"{tenant!r} is not a tenant GUID")
    if not tenants:
        raise SettingsError("EXHIBIT_ALLOWED_TENANTS", "is required: the force's tenant id(s)")

    service_hosts = read.words("EXHIBIT_ALLOWED_SERVICE_URL_HOSTS", "smba.trafficmanager.net")
    regions = _regions(read)
    default_region = read.text("EXHIBIT_DEFAULT_REGION", regions[0].name)
    if default_region not in {r.name for r in regions}:
        raise SettingsError(
            "EXHIBIT_DEFAULT_REGION", f"{default_region!r} is not in EXHIBIT_REGIONS"
        )

    directory = read.text("EXHIBIT_DIRECTORY", "local").lower()
    if directory not in {"local", "graph"}:
        raise SettingsError("EXHIBIT_DIRECTORY", f"must be local or graph, not {directory!r}")

    level = read.text("EXHIBIT_LOG_LEVEL", "INFO").upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingsError("EXHIBIT_LOG_LEVEL", "must be DEBUG, INFO, WARNING or ERROR")

    graph = _graph(read, credentials) if directory == "graph" else None
    create_channels = read.flag("EXHIBIT_CREATE_CASE_CHANNELS")
    if create_channels and graph is None:
        raise SettingsError("EXHIBIT_CREATE_CASE_CHANNELS", "needs EXHIBIT_DIRECTORY=graph")
    mail_from = _mail_from(read, graph)
    queue = read.optional("EXHIBIT_QUEUE_CONNECTION_STRING") or (
        regions[0].connection_string.value if regions[0].connection_string else None
    )
    if queue is None:
        raise SettingsError(
            "EXHIBIT_QUEUE_CONNECTION_STRING", "is required: the ingest queue's storage account"
        )
    queue_name = read.text("EXHIBIT_QUEUE_NAME", "exhibit-intake")
    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}", queue_name):
        raise SettingsError("EXHIBIT_QUEUE_NAME", "must be 3-63 lower-case letters, digits, -")
    return Settings(
        environment=environment,
        host=host,
        port=read.integer("PORT", 3978, minimum=1, maximum=65535),
        allow_anonymous=allow_anonymous,
        credentials=credentials,
        allowed_tenants=tenants,
        allowed_service_url_hosts=service_hosts,
        max_request_bytes=read.integer(
            "EXHIBIT_MAX_REQUEST_BYTES", 1 << 20, minimum=4096, maximum=64 << 20
        ),
        trusted_proxy_hops=read.integer("EXHIBIT_TRUSTED_PROXY_HOPS", 0, minimum=0, maximum=5),
        database_url=Secret(
            read.text("EXHIBIT_DATABASE_URL", "sqlite+aiosqlite:///var/exhibit.db")
        ),
        regions=regions,
        default_region=default_region,
        queue_connection_string=Secret(queue),
        directory=directory,
        local_directory_file=Path(read.text("EXHIBIT_LOCAL_DIRECTORY_FILE", "dev/directory.yaml")),
        graph=graph,
        case_reference_pattern=_pattern(read),
        case_title_max=read.integer("EXHIBIT_CASE_TITLE_MAX", 120, minimum=10, maximum=500),
        create_case_channels=create_channels,
        queue_name=queue_name,
        run_worker=read.flag("EXHIBIT_RUN_WORKER", default=True),
        max_file_bytes=read.integer(
            "EXHIBIT_MAX_FILE_BYTES", 10 << 30, minimum=1, maximum=250 << 30
        ),
        intake_max_attempts=read.integer("EXHIBIT_INTAKE_MAX_ATTEMPTS", 5, minimum=1, maximum=50),
        intake_hold_seconds=read.integer(
            "EXHIBIT_INTAKE_HOLD_SECONDS", 60, minimum=3, maximum=3600
        ),
        share_domains=frozenset(d.lower() for d in read.words("EXHIBIT_SHARE_DOMAINS")),
        share_organisation_types=read.words(
            "EXHIBIT_SHARE_ORGANISATION_TYPES", "prosecutor,court,local-authority,other-force"
        ),
        share_days=_share_days(read),
        share_mail_from=mail_from,
        verify_inline_bytes=read.integer(
            "EXHIBIT_VERIFY_INLINE_BYTES", 64 << 20, minimum=0, maximum=1 << 40
        ),
        public_url=_public_url(read, port=read.integer("PORT", 3978, minimum=1, maximum=65535)),
        classification=read.text("EXHIBIT_CLASSIFICATION", "OFFICIAL-SENSITIVE"),
        download_hosts=read.words(
            "EXHIBIT_DOWNLOAD_HOSTS",
            "*.sharepoint.com,*.sharepoint.us,smba.trafficmanager.net,*.botframework.com",
        ),
        case_team_seconds=read.integer("EXHIBIT_CASE_TEAM_SECONDS", 300, minimum=0, maximum=86400),
        log_level=level,
        intake_limits=_intake_limits(read),
    )


def _credentials(read: _Reader) -> BotCredentials | None:
    if read.optional("EXHIBIT_BOT_APP_ID") is None:
        return None
    auth_type = read.choice("EXHIBIT_BOT_AUTH_TYPE", BotAuthType, BotAuthType.CLIENT_SECRET)
    secret = read.optional("EXHIBIT_BOT_CLIENT_SECRET")
    certificate = read.optional("EXHIBIT_BOT_CERTIFICATE_PATH")
    if auth_type is BotAuthType.CLIENT_SECRET and secret is None:
        raise SettingsError("EXHIBIT_BOT_CLIENT_SECRET", "is required with client_secret auth")
    if auth_type is BotAuthType.CERTIFICATE and certificate is None:
        raise SettingsError("EXHIBIT_BOT_CERTIFICATE_PATH", "is required with certificate auth")
    authority = read.optional("EXHIBIT_BOT_AUTHORITY")
    if authority is not None and urlsplit(authority).scheme != "https":
        raise SettingsError("EXHIBIT_BOT_AUTHORITY", "must be an https URL")
    return BotCredentials(
        app_id=read.guid("EXHIBIT_BOT_APP_ID"),
        tenant_id=read.guid("EXHIBIT_BOT_TENANT_ID"),
        auth_type=auth_type,
        client_secret=Secret(secret) if secret else None,
        certificate_path=Path(certificate) if certificate else None,
        authority=authority,
        cloud=read.choice("EXHIBIT_BOT_CLOUD", BotCloud, BotCloud.PUBLIC),
    )


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _regions(read: _Reader) -> tuple[Region, ...]:
    names = read.words("EXHIBIT_REGIONS", "uksouth")
    regions = []
    for name in names:
        if not _REGION.match(name):
            raise SettingsError("EXHIBIT_REGIONS", f"{name!r} is not a region name like uksouth")
        key = name.upper()
        connection = read.optional(f"EXHIBIT_REGION_{key}_CONNECTION_STRING")
        url = read.optional(f"EXHIBIT_REGION_{key}_ACCOUNT_URL")
        if connection is None and url is None:
            raise SettingsError(
                f"EXHIBIT_REGION_{key}_CONNECTION_STRING",
                f"region {name} needs a connection string or EXHIBIT_REGION_{key}_ACCOUNT_URL",
            )
        if url is not None and urlsplit(url).scheme not in {"https", "http"}:
            raise SettingsError(f"EXHIBIT_REGION_{key}_ACCOUNT_URL", "must be a URL")
        regions.append(
            Region(name, Secret(connection) if connection else None, url),
        )
    return tuple(regions)


def _graph(read: _Reader, bot: BotCredentials | None) -> GraphSettings:
    """Graph settings; the bot's own app registration is the default identity."""
    tenant = read.optional("EXHIBIT_GRAPH_TENANT_ID") or (bot.tenant_id if bot else None)
    client = read.optional("EXHIBIT_GRAPH_CLIENT_ID") or (bot.app_id if bot else None)
    if tenant is None or not _GUID.match(tenant):
        raise SettingsError("EXHIBIT_GRAPH_TENANT_ID", "must be the tenant GUID")
    if client is None or not _GUID.match(client):
        raise SettingsError("EXHIBIT_GRAPH_CLIENT_ID", "must be the app (client) GUID")
    credential = read.choice(
        "EXHIBIT_GRAPH_CREDENTIAL", GraphCredential, GraphCredential.CLIENT_SECRET
    )
    secret = read.optional("EXHIBIT_GRAPH_CLIENT_SECRET") or (
        bot.client_secret.value if bot and bot.client_secret else None
    )
    certificate = read.optional("EXHIBIT_GRAPH_CERTIFICATE_PATH")
    if credential is GraphCredential.CLIENT_SECRET and secret is None:
        raise SettingsError("EXHIBIT_GRAPH_CLIENT_SECRET", "is required with client_secret")
    if credential is GraphCredential.CERTIFICATE and certificate is None:
        raise SettingsError("EXHIBIT_GRAPH_CERTIFICATE_PATH", "is required with certificate")
    base_url = read.text("EXHIBIT_GRAPH_BASE_URL", "https://graph.microsoft.com/v1.0")
    if urlsplit(base_url).scheme not in {"https", "http"}:
        raise SettingsError("EXHIBIT_GRAPH_BASE_URL", "must be a URL")
    groups = []
    for pair in read.words("EXHIBIT_ROLE_GROUPS"):
        group, _, role = pair.partition("=")
        if not _GUID.match(group.strip()) or role.strip().lower() not in ROLES:
            raise SettingsError(
                "EXHIBIT_ROLE_GROUPS", f"{pair!r} is not <group object id>=<{'|'.join(ROLES)}>"
            )
        groups.append((group.strip().lower(), role.strip().lower()))
    if not groups:
        raise SettingsError("EXHIBIT_ROLE_GROUPS", "is required with the Graph directory")
    return GraphSettings(
        tenant_id=tenant.lower(),
        client_id=client.lower(),
        credential=credential,
        client_secret=Secret(secret) if secret else None,
        certificate_path=Path(certificate) if certificate else None,
        base_url=base_url.rstrip("/"),
        authority_host=read.optional("EXHIBIT_GRAPH_AUTHORITY_HOST"),
        ca_bundle=Path(ca) if (ca := read.optional("EXHIBIT_GRAPH_CA_BUNDLE")) else None,
        role_groups=tuple(groups),
        cache_seconds=read.integer(
            "EXHIBIT_DIRECTORY_CACHE_SECONDS", 300, minimum=0, maximum=86400
        ),
    )


DEFAULT_CASE_PATTERN = r"[A-Z]{2,6}-[0-9]{2}-[0-9]{4,6}"


def _pattern(read: _Reader) -> re.Pattern[str]:
    raw = read.text("EXHIBIT_CASE_REF_PATTERN", DEFAULT_CASE_PATTERN)
    try:
        return re.compile(raw)
    except re.error as err:
        raise SettingsError("EXHIBIT_CASE_REF_PATTERN", f"is not a valid pattern: {err}") from None


def _share_days(read: _Reader) -> tuple[int, int, int]:
    low = read.integer("EXHIBIT_SHARE_MIN_DAYS", 1, minimum=1, maximum=365)
    high = read.integer("EXHIBIT_SHARE_MAX_DAYS", 30, minimum=1, maximum=365)
    default = read.integer("EXHIBIT_SHARE_DEFAULT_DAYS", 14, minimum=1, maximum=365)
    if not low <= default <= high:
        raise SettingsError("EXHIBIT_SHARE_DEFAULT_DAYS", f"must be between {low} and {high}")
    return low, default, high


def _mail_from(read: _Reader, graph: GraphSettings | None) -> str | None:
    value = read.optional("EXHIBIT_SHARE_MAIL_FROM")
    if value is None:
        return None
    if graph is None:
        raise SettingsError("EXHIBIT_SHARE_MAIL_FROM", "needs EXHIBIT_DIRECTORY=graph")
    mailbox = canonical_mailbox(value)
    if mailbox is None:
        raise SettingsError(
            "EXHIBIT_SHARE_MAIL_FROM", "must be the sender mailbox's address or object id"
        )
    return mailbox


def _public_url(read: _Reader, *, port: int) -> str:
    url = read.text("EXHIBIT_PUBLIC_URL", f"http://127.0.0.1:{port}").rstrip("/")
    if urlsplit(url).scheme not in {"https", "http"} or not urlsplit(url).hostname:
        raise SettingsError("EXHIBIT_PUBLIC_URL", "must be the service's public base URL")
    production = read.text("EXHIBIT_ENV", "development").lower() == "production"
    if production and urlsplit(url).scheme != "https":
        raise SettingsError("EXHIBIT_PUBLIC_URL", "must be https in production")
    return url


def _intake_limits(read: _Reader) -> IntakeLimits:
    concurrency = read.integer("EXHIBIT_INTAKE_CONCURRENCY", 2, minimum=1, maximum=64)
    return IntakeLimits(
        download_timeout_seconds=read.integer(
            "EXHIBIT_DOWNLOAD_TIMEOUT_SECONDS", 600, minimum=1, maximum=7 * 86400
        ),
        download_min_bytes_per_second=read.integer(
            "EXHIBIT_DOWNLOAD_MIN_BYTES_PER_SECOND", 64 * 1024, minimum=1, maximum=1 << 30
        ),
        download_rate_window_seconds=read.integer(
            "EXHIBIT_DOWNLOAD_RATE_WINDOW_SECONDS", 30, minimum=1, maximum=3600
        ),
        concurrency=concurrency,
        slots_per_officer=read.integer(
            "EXHIBIT_INTAKE_SLOTS_PER_OFFICER", 0, minimum=0, maximum=concurrency
        ),
    )
