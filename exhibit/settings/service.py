"""The HTTP service's settings: where it listens, who may call it, its public name."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator, Field

from exhibit.settings.base import Concern, Words, WordSet, between, choice, upper


class Environment(StrEnum):
    """Where Exhibit runs; production turns on every outbound host check."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


EnvironmentChoice = Annotated[Environment, choice(Environment)]


class ServiceSettings(Concern):
    """The HTTP service: where it listens, who may call it, what it is called in public."""

    environment: EnvironmentChoice = Field(Environment.DEVELOPMENT, validation_alias="EXHIBIT_ENV")
    host: str = "127.0.0.1"
    port: Annotated[int, between(1, 65535)] = Field(3978, validation_alias="PORT")
    allowed_tenants: WordSet = frozenset()
    allowed_service_url_hosts: Words = ("smba.trafficmanager.net",)
    max_request_bytes: Annotated[int, between(4096, 64 << 20)] = 1 << 20
    trusted_proxy_hops: Annotated[int, between(0, 5)] = 0
    public_url_setting: str | None = Field(None, validation_alias="EXHIBIT_PUBLIC_URL")
    classification: str = "OFFICIAL-SENSITIVE"
    log_level: Annotated[str, BeforeValidator(upper)] = "INFO"

    @property
    def production(self) -> bool:
        """Whether this is a production deployment."""
        return self.environment is Environment.PRODUCTION

    @property
    def public_url(self) -> str:
        """The service's public base URL, without a trailing slash."""
        return (self.public_url_setting or f"http://127.0.0.1:{self.port}").rstrip("/")
