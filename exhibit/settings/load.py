"""Exhibit's settings: one frozen object, built once at start-up from the environment.

Every setting is an `EXHIBIT_*` environment variable (plus `PORT`), optionally read from a `.env`
file. They are declared with pydantic-settings, one model per concern (the service and its
edge, the bot's identity, storage, the directory, cases, intake, sharing), composed into one
`Settings`. A missing or invalid value stops start-up with a `SettingsError` naming the variable.
Secrets are `SecretStr`, whose repr never shows the value. `.env.example` documents each one.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from evidence.officers import Role
from graph.ids import canonical_mailbox

PREFIX = "EXHIBIT_"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_REGION = re.compile(r"^[a-z][a-z0-9]{1,31}$")
_QUEUE = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")


class SettingsError(Exception):
    """A setting is missing or invalid; `name` is the environment variable."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


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


class GraphCredential(StrEnum):
    """How Exhibit proves itself to Microsoft Graph."""

    CLIENT_SECRET = "client_secret"  # noqa: S105 (a kind of credential, not one)
    CERTIFICATE = "certificate"
    MANAGED_IDENTITY = "managed_identity"
    WORKLOAD_IDENTITY = "workload_identity"


ROLES = tuple(role.value for role in Role)
DEFAULT_CASE_PATTERN = r"[A-Z]{2,6}-[0-9]{2}-[0-9]{4,6}"


# -- value types: how one variable's text becomes a value ------------------------------------


def _flag(raw: object) -> object:
    # Strict: only these words, so a typo never silently means false.
    if isinstance(raw, str):
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ValueError(f"must be true or false, not {raw!r}")
    return raw


def _words(raw: object) -> object:
    if isinstance(raw, str):
        return tuple(part.strip() for part in raw.replace(";", ",").split(",") if part.strip())
    return raw


def _lower(raw: object) -> object:
    return raw.strip().lower() if isinstance(raw, str) else raw


def _guid(value: str) -> str:
    if not _GUID.match(value):
        raise ValueError("must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
    return value.lower()


def _between(minimum: int, maximum: int) -> AfterValidator:
    def check(value: int) -> int:
        if not minimum <= value <= maximum:
            raise ValueError(f"must be between {minimum} and {maximum}")
        return value

    return AfterValidator(check)


Flag = Annotated[bool, BeforeValidator(_flag)]
Words = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_words)]
Guid = Annotated[str, AfterValidator(_guid)]
Seconds = Annotated[int, _between(0, 86400)]


def _word_set(raw: object) -> object:
    words = _words(raw)
    if isinstance(words, tuple):
        return frozenset(str(word).lower() for word in words)
    return words


def _upper(raw: object) -> object:
    return raw.strip().upper() if isinstance(raw, str) else raw


def _choice(kind: type[StrEnum]) -> BeforeValidator:
    def parse(raw: object) -> object:
        if isinstance(raw, str):
            try:
                return kind(raw.strip().lower())
            except ValueError:
                allowed = ", ".join(member.value for member in kind)
                raise ValueError(f"must be one of {allowed}, not {raw.strip()!r}") from None
        return raw

    return BeforeValidator(parse)


WordSet = Annotated[frozenset[str], NoDecode, BeforeValidator(_word_set)]
EnvironmentChoice = Annotated[Environment, _choice(Environment)]
BotAuthTypeChoice = Annotated[BotAuthType, _choice(BotAuthType)]
BotCloudChoice = Annotated[BotCloud, _choice(BotCloud)]
GraphCredentialChoice = Annotated[GraphCredential, _choice(GraphCredential)]


# -- where the values come from ---------------------------------------------------------------

_ENVIRONMENT: ContextVar[Mapping[str, str]] = ContextVar("settings environment")


@contextmanager
def _reading(env: Mapping[str, str]) -> Iterator[None]:
    token = _ENVIRONMENT.set(env)
    try:
        yield
    finally:
        _ENVIRONMENT.reset(token)


class _Concern(BaseSettings):
    """One concern's settings: `EXHIBIT_<FIELD>` variables of the environment being read.

    The environment is the mapping `load_settings` was given (the process environment over the
    `.env` file at start-up, a plain dict in tests), never the process environment behind it.
    An empty (or blank) variable counts as unset, as it always has.
    """

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_ignore_empty=True,
        case_sensitive=False,
        frozen=True,
        extra="ignore",
        str_strip_whitespace=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the mapping being read (and the regions drawn from it)."""
        assert isinstance(env_settings, EnvSettingsSource)  # noqa: S101 (pydantic-settings' own)
        env = _ENVIRONMENT.get()
        env_settings.env_vars = {k.lower(): v for k, v in env.items() if v.strip()}
        return init_settings, _RegionsSource(settings_cls), env_settings


class Region(BaseModel):
    """A storage region and the Blob account that holds its evidence."""

    model_config = ConfigDict(frozen=True)

    name: str
    connection_string: SecretStr | None = None
    account_url: str | None = None


class _RegionsSource(PydanticBaseSettingsSource):
    """`regions` from EXHIBIT_REGIONS and each region's EXHIBIT_REGION_<NAME>_* variables."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: `__call__` reads the variables directly."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if "regions" not in self.settings_cls.model_fields:
            return {}
        env = _ENVIRONMENT.get()

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
            regions.append({"name": name, "connection_string": connection, "account_url": url})
        return {"regions": tuple(regions)}


# -- the concerns --------------------------------------------------------------------------------


class ServiceSettings(_Concern):
    """The HTTP service: where it listens, who may call it, what it is called in public."""

    environment: EnvironmentChoice = Field(Environment.DEVELOPMENT, validation_alias="EXHIBIT_ENV")
    host: str = "127.0.0.1"
    port: Annotated[int, _between(1, 65535)] = Field(3978, validation_alias="PORT")
    allowed_tenants: WordSet = frozenset()
    allowed_service_url_hosts: Words = ("smba.trafficmanager.net",)
    max_request_bytes: Annotated[int, _between(4096, 64 << 20)] = 1 << 20
    trusted_proxy_hops: Annotated[int, _between(0, 5)] = 0
    public_url_setting: str | None = Field(None, validation_alias="EXHIBIT_PUBLIC_URL")
    classification: str = "OFFICIAL-SENSITIVE"
    log_level: Annotated[str, BeforeValidator(_upper)] = "INFO"

    @property
    def production(self) -> bool:
        """Whether this is a production deployment."""
        return self.environment is Environment.PRODUCTION

    @property
    def public_url(self) -> str:
        """The service's public base URL, without a trailing slash."""
        return (self.public_url_setting or f"http://127.0.0.1:{self.port}").rstrip("/")


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


class BotSettings(_Concern):
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


class StorageSettings(_Concern):
    """The database, the Blob account of each region, and the intake queue."""

    database_url: SecretStr = SecretStr("sqlite+aiosqlite:///var/exhibit.db")
    regions: Annotated[tuple[Region, ...], NoDecode]  # read by _RegionsSource
    default_region_setting: str | None = Field(None, validation_alias="EXHIBIT_DEFAULT_REGION")
    queue_connection_string_setting: SecretStr | None = Field(
        None, validation_alias="EXHIBIT_QUEUE_CONNECTION_STRING"
    )
    queue_name: str = "exhibit-intake"

    @property
    def default_region(self) -> str:
        """The region of new cases unless one is named."""
        return self.default_region_setting or self.regions[0].name

    @property
    def queue_connection_string(self) -> SecretStr:
        """The ingest queue's storage account: its own, or the first region's."""
        queue = self.queue_connection_string_setting or self.regions[0].connection_string
        assert queue is not None  # noqa: S101 (checked at start-up)
        return queue

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
        if self.queue_connection_string_setting is None and not self.regions[0].connection_string:
            raise SettingsError(
                "EXHIBIT_QUEUE_CONNECTION_STRING", "is required: the ingest queue's storage account"
            )
        if not _QUEUE.fullmatch(self.queue_name):
            raise SettingsError("EXHIBIT_QUEUE_NAME", "must be 3-63 lower-case letters, digits, -")


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


class DirectorySettings(_Concern):
    """Who officers are: a local file for development, or Microsoft Graph."""

    directory: Annotated[str, BeforeValidator(_lower)] = "local"
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
        if tenant is None or not _GUID.match(tenant):
            raise SettingsError("EXHIBIT_GRAPH_TENANT_ID", "must be the tenant GUID")
        if client is None or not _GUID.match(client):
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
            credential=self.graph_credential,
            client_secret=secret,
            certificate_path=self.graph_certificate_path,
            base_url=self.graph_base_url.rstrip("/"),
            authority_host=self.graph_authority_host,
            ca_bundle=self.graph_ca_bundle,
            role_groups=tuple(groups),
            cache_seconds=self.directory_cache_seconds,
        )


class CaseSettings(_Concern):
    """Case references, titles and case teams."""

    case_reference_pattern: re.Pattern[str] = Field(
        re.compile(DEFAULT_CASE_PATTERN), validation_alias="EXHIBIT_CASE_REF_PATTERN"
    )
    case_title_max: Annotated[int, _between(10, 500)] = 120
    case_team_seconds: Seconds = 300
    create_case_channels: Flag = False


class IntakeLimits(BaseModel):
    """How slowly a source may send, and how many jobs a worker runs (at most, per officer)."""

    model_config = ConfigDict(frozen=True)

    download_timeout_seconds: int = 600  # a file may always take this long, larger ones longer
    download_min_bytes_per_second: int = 64 * 1024
    download_rate_window_seconds: int = 30
    concurrency: int = 2
    slots_per_officer: int = 0  # 0: half the worker's slots, rounded up


class IntakeSettings(_Concern):
    """The intake worker: what it accepts, from where, how hard it retries, how fast."""

    run_worker: Flag = True
    max_file_bytes: Annotated[int, _between(1, 250 << 30)] = 10 << 30
    intake_max_attempts: Annotated[int, _between(1, 50)] = 5
    intake_hold_seconds: Annotated[int, _between(3, 3600)] = 60
    download_hosts: Words = (
        "*.sharepoint.com",
        "*.sharepoint.us",
        "smba.trafficmanager.net",
        "*.botframework.com",
    )
    download_timeout_seconds: Annotated[int, _between(1, 7 * 86400)] = 600
    download_min_bytes_per_second: Annotated[int, _between(1, 1 << 30)] = 64 * 1024
    download_rate_window_seconds: Annotated[int, _between(1, 3600)] = 30
    intake_concurrency: Annotated[int, _between(1, 64)] = 2
    intake_slots_per_officer: Annotated[int, _between(0, 64)] = 0

    @property
    def intake_limits(self) -> IntakeLimits:
        """The worker's pace and concurrency, as one value."""
        return IntakeLimits(
            download_timeout_seconds=self.download_timeout_seconds,
            download_min_bytes_per_second=self.download_min_bytes_per_second,
            download_rate_window_seconds=self.download_rate_window_seconds,
            concurrency=self.intake_concurrency,
            slots_per_officer=self.intake_slots_per_officer,
        )

    def _check_intake(self) -> None:
        if self.intake_slots_per_officer > self.intake_concurrency:
            raise SettingsError(
                "EXHIBIT_INTAKE_SLOTS_PER_OFFICER",
                f"must be between 0 and {self.intake_concurrency}",
            )


class SharingSettings(_Concern):
    """Shares with external recipients: to whom, for how long, how the link is sent."""

    share_domains: WordSet = frozenset()
    share_organisation_types: Words = ("prosecutor", "court", "local-authority", "other-force")
    share_min_days: Annotated[int, _between(1, 365)] = 1
    share_default_days: Annotated[int, _between(1, 365)] = 14
    share_max_days: Annotated[int, _between(1, 365)] = 30
    share_mail_from_setting: str | None = Field(None, validation_alias="EXHIBIT_SHARE_MAIL_FROM")
    verify_inline_bytes: Annotated[int, _between(0, 1 << 40)] = 64 << 20

    @property
    def share_days(self) -> tuple[int, int, int]:
        """The days a link may work: minimum, default, maximum."""
        return self.share_min_days, self.share_default_days, self.share_max_days

    @property
    def share_mail_from(self) -> str | None:
        """The mailbox links are e-mailed from (address or object id), if any."""
        if self.share_mail_from_setting is None:
            return None
        return canonical_mailbox(self.share_mail_from_setting)

    def _check_sharing(self) -> None:
        low, default, high = self.share_days
        if not low <= default <= high:
            raise SettingsError("EXHIBIT_SHARE_DEFAULT_DAYS", f"must be between {low} and {high}")
        if self.share_mail_from_setting is not None and self.share_mail_from is None:
            raise SettingsError(
                "EXHIBIT_SHARE_MAIL_FROM", "must be the sender mailbox's address or object id"
            )


class Settings(
    ServiceSettings,
    BotSettings,
    StorageSettings,
    DirectorySettings,
    CaseSettings,
    IntakeSettings,
    SharingSettings,
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
            if not _GUID.match(tenant):
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


class TeamsAppSettings(_Concern):
    """The Teams app package: read apart from `Settings`, as a package is built elsewhere.

    Plain text here; the package builder checks each value against Teams' own rules and names
    the command-line option that can override it.
    """

    bot_app_id: str | None = None
    teams_app_id: str | None = None
    public_host: str | None = None
    app_developer_url: str | None = None
    app_privacy_url: str | None = None
    app_terms_url: str | None = None
    app_version: str | None = None


def load_teams_app_settings(env: Mapping[str, str]) -> TeamsAppSettings:
    """The Teams app package's values in `env` (none is required here)."""
    with _reading(env):
        return TeamsAppSettings()


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build and check the settings from `env`; raise `SettingsError` on the first problem."""
    try:
        with _reading(env):
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
