"""What every concern's settings share: the error, the value types, and where values come from.

Every setting is an `EXHIBIT_*` environment variable (plus `PORT`), read from the mapping
`load_settings` is given. A missing or invalid value is a `SettingsError` naming the variable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

PREFIX = "EXHIBIT_"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class SettingsError(Exception):
    """A setting is missing or invalid; `name` is the environment variable."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


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


def lower(raw: object) -> object:
    return raw.strip().lower() if isinstance(raw, str) else raw


def _guid(value: str) -> str:
    if not GUID.match(value):
        raise ValueError("must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
    return value.lower()


def between(minimum: int, maximum: int) -> AfterValidator:
    def check(value: int) -> int:
        if not minimum <= value <= maximum:
            raise ValueError(f"must be between {minimum} and {maximum}")
        return value

    return AfterValidator(check)


Flag = Annotated[bool, BeforeValidator(_flag)]
Words = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_words)]
Guid = Annotated[str, AfterValidator(_guid)]
Seconds = Annotated[int, between(0, 86400)]


def _word_set(raw: object) -> object:
    words = _words(raw)
    if isinstance(words, tuple):
        return frozenset(str(word).lower() for word in words)
    return words


def upper(raw: object) -> object:
    return raw.strip().upper() if isinstance(raw, str) else raw


def choice(kind: type[StrEnum]) -> BeforeValidator:
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


# -- where the values come from ---------------------------------------------------------------

_ENVIRONMENT: ContextVar[Mapping[str, str]] = ContextVar("settings environment")


@contextmanager
def reading(env: Mapping[str, str]) -> Iterator[None]:
    """Settings built inside read `env`, and nothing else."""
    token = _ENVIRONMENT.set(env)
    try:
        yield
    finally:
        _ENVIRONMENT.reset(token)


class Concern(BaseSettings):
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
        """Only the mapping being read."""
        assert isinstance(env_settings, EnvSettingsSource)  # noqa: S101 (pydantic-settings' own)
        env = _ENVIRONMENT.get()
        env_settings.env_vars = {k.lower(): v for k, v in env.items() if v.strip()}
        return init_settings, env_settings


def environment_read() -> Mapping[str, str]:
    """The mapping being read (inside `reading`)."""
    return _ENVIRONMENT.get()
