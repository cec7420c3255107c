"""Token validation on `POST /api/messages`, with the SDK's validator and locally minted tokens."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from exhibit.bot_auth import auth_configuration
from exhibit.settings import Settings, load_settings
from signing.local import ensure_key_file
from tests.conftest import BOT_APP_ID, TENANT, BotClientFactory, StaticTokenProvider
from tests.fakes.tenant import Tls
from tests.support.activities import load_activity
from tests.support.connector import RecordingConnector
from tests.support.tls_connector import https_connector
from tests.support.tokens import LocalKeyValidator, SigningKey, bot_framework_claims

OTHER_TENANT = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
KEY = SigningKey()
STRANGER_KEY = SigningKey(kid=KEY.kid)  # same key id, different key: a forged signature


@pytest.fixture
def authenticated(base_env: dict[str, str]) -> Settings:
    """Settings with real bot credentials and the anonymous flag off."""
    env = {k: v for k, v in base_env.items() if k != "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS"}
    env |= {
        "EXHIBIT_BOT_APP_ID": BOT_APP_ID,
        "EXHIBIT_BOT_TENANT_ID": TENANT,
        "EXHIBIT_BOT_CLIENT_SECRET": "not-used-in-tests",
        # With credentials every reply host is checked, in development too.
        "EXHIBIT_ALLOWED_SERVICE_URL_HOSTS": "localhost",
    }
    return load_settings(env)


@pytest.fixture
async def connector(tls: Tls) -> AsyncIterator[tuple[RecordingConnector, str]]:
    """The recording connector at https://localhost (a bot with credentials replies only so)."""
    async with https_connector(tls) as running:
        yield running


async def _post(
    settings: Settings,
    bot_client: BotClientFactory,
    url: str,
    headers: dict[str, str],
) -> int:
    validator = LocalKeyValidator(auth_configuration(settings), [KEY])
    client = await bot_client(settings, token_validator=validator)
    activity = load_activity("personal_message", url)
    response = await client.post("/api/messages", json=activity, headers=headers)
    return response.status


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_valid_token_is_accepted_and_the_reply_carries_the_bots_token(
    authenticated: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
) -> None:
    recorder, url = connector
    token = KEY.mint(bot_framework_claims(BOT_APP_ID, url))
    assert await _post(authenticated, bot_client, url, _bearer(token)) == 202
    (reply,) = await recorder.wait_for(1)
    assert reply["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert recorder.received[0].authorization == f"Bearer {StaticTokenProvider.TOKEN}"


async def test_no_token_is_401(
    authenticated: Settings, bot_client: BotClientFactory, connector: tuple[RecordingConnector, str]
) -> None:
    recorder, url = connector
    assert await _post(authenticated, bot_client, url, {}) == 401
    assert recorder.received == []


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer junk", "Basic dXNlcjpwYXNz", "Bearer a b", "bearer " + "x" * 50],
)
async def test_junk_tokens_are_401(
    authenticated: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    header: str,
) -> None:
    recorder, url = connector
    assert await _post(authenticated, bot_client, url, {"Authorization": header}) == 401
    assert recorder.received == []


def _wrong_audience(url: str) -> str:
    return KEY.mint(bot_framework_claims("00000000-0000-4000-8000-000000000000", url))


def _expired(url: str) -> str:
    # The SDK allows 300 s of clock skew: expire well beyond it.
    claims = bot_framework_claims(BOT_APP_ID, url)
    claims["exp"] = int(time.time()) - 301 - 60
    return KEY.mint(claims)


def _wrong_key(url: str) -> str:
    return STRANGER_KEY.mint(bot_framework_claims(BOT_APP_ID, url))


def _unknown_key(url: str) -> str:
    return SigningKey().mint(bot_framework_claims(BOT_APP_ID, url))


def _wrong_issuer(url: str) -> str:
    return KEY.mint(bot_framework_claims(BOT_APP_ID, url, iss="https://sts.attacker.example/"))


def _another_tenant(url: str) -> str:
    claims: dict[str, Any] = bot_framework_claims(
        BOT_APP_ID,
        url,
        iss=f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0",
        tid=OTHER_TENANT,
    )
    return KEY.mint(claims)


def _unsigned(url: str) -> str:
    import jwt

    return jwt.encode(bot_framework_claims(BOT_APP_ID, url), key="", algorithm="none")


@pytest.mark.parametrize(
    "make_token",
    [
        _wrong_audience,
        _expired,
        _wrong_key,
        _unknown_key,
        _wrong_issuer,
        _another_tenant,
        _unsigned,
    ],
)
async def test_invalid_tokens_are_401(
    authenticated: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    make_token: Any,
) -> None:
    recorder, url = connector
    assert await _post(authenticated, bot_client, url, _bearer(make_token(url))) == 401
    assert recorder.received == []


async def test_token_within_clock_skew_is_accepted(
    authenticated: Settings, bot_client: BotClientFactory, connector: tuple[RecordingConnector, str]
) -> None:
    _recorder, url = connector
    claims = bot_framework_claims(BOT_APP_ID, url)
    claims["exp"] = int(time.time()) - 60
    assert await _post(authenticated, bot_client, url, _bearer(KEY.mint(claims))) == 202


async def test_anonymous_mode_rejects_a_junk_token(
    settings: Settings, bot_client: BotClientFactory, connector: tuple[RecordingConnector, str]
) -> None:
    recorder, url = connector
    assert await _post(settings, bot_client, url, _bearer("junk")) == 401
    assert recorder.received == []


async def test_production_refuses_service_urls_off_the_allow_list(
    authenticated: Settings,
    base_env: dict[str, str],
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
) -> None:
    recorder, url = connector
    env = {k: v for k, v in base_env.items() if k != "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS"}
    production = load_settings(
        env
        | {
            "EXHIBIT_ENV": "production",
            "EXHIBIT_PUBLIC_URL": "https://exhibit.force.example",
            "EXHIBIT_BOT_APP_ID": BOT_APP_ID,
            "EXHIBIT_BOT_TENANT_ID": TENANT,
            "EXHIBIT_BOT_CLIENT_SECRET": "not-used-in-tests",
            "EXHIBIT_DANGEROUSLY_ALLOW_CHECKPOINT_KEY_FILE": "true",
        }
    )
    ensure_key_file(production.checkpoint_key_file)  # production never creates one itself
    token = KEY.mint(bot_framework_claims(BOT_APP_ID, url))
    # The recording connector's host is not on production's list: exactly what it must refuse.
    assert await _post(production, bot_client, url, _bearer(token)) == 401
    assert recorder.received == []
