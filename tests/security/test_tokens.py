"""Who may speak for Teams: the token matrix at `POST /api/messages`.

Tokens are minted with a local key that the SDK's own validator (configured by the composition
root) trusts, so each refusal below is a token that is correctly signed and yet not Teams
traffic. Every refused request must process nothing: no reply, no case, no custody entry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from exhibit.__main__ import main
from exhibit.bot_auth import auth_configuration
from exhibit.settings import Settings, SettingsError, load_settings
from storage.database import create_engine
from storage.records import SqlRecords
from tests.conftest import BOT_APP_ID, TENANT, BotClientFactory
from tests.fakes.tenant import Tls
from tests.support.activities import load_activity
from tests.support.connector import RecordingConnector
from tests.support.people import JANE
from tests.support.tls_connector import https_connector
from tests.support.tokens import LocalKeyValidator, SigningKey, bot_framework_claims

KEY = SigningKey()
SECOND_TENANT = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"  # also allowed: a force with two tenants
SOME_APP = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"  # any app registration in the tenant
TEAMS_SERVICE_URL = "https://smba.trafficmanager.net/uk/"

TokenFor = Callable[[str], str]


@pytest.fixture
def authenticated(base_env: dict[str, str]) -> Settings:
    """A development bot with real credentials, serving two tenants."""
    env = {k: v for k, v in base_env.items() if k != "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS"}
    env |= {
        "EXHIBIT_BOT_APP_ID": BOT_APP_ID,
        "EXHIBIT_BOT_TENANT_ID": TENANT,
        "EXHIBIT_BOT_CLIENT_SECRET": "not-used-in-tests",
        "EXHIBIT_ALLOWED_TENANTS": f"{TENANT},{SECOND_TENANT}",
        "EXHIBIT_ALLOWED_SERVICE_URL_HOSTS": "localhost",
    }
    return load_settings(env)


@pytest.fixture
async def connector(tls: Tls) -> AsyncIterator[tuple[RecordingConnector, str]]:
    async with https_connector(tls) as running:
        yield running


def _now() -> int:
    return int(time.time())


def _entra(issuer: str, **claims: Any) -> dict[str, Any]:
    now = _now()
    return {"iss": issuer, "aud": BOT_APP_ID, "tid": TENANT, "nbf": now - 60, "iat": now - 60,
            "exp": now + 3600, **claims}  # fmt: skip


def entra_app_only_v1(_url: str) -> str:
    return KEY.mint(_entra(f"https://sts.windows.net/{TENANT}/", appid=SOME_APP, oid=SOME_APP,
                           idtyp="app", ver="1.0"))  # fmt: skip


def entra_app_only_v2(_url: str) -> str:
    issuer = f"https://login.microsoftonline.com/{TENANT}/v2.0"
    return KEY.mint(_entra(issuer, azp=SOME_APP, oid=SOME_APP, idtyp="app", ver="2.0"))


def entra_user(_url: str) -> str:
    return KEY.mint(_entra(f"https://sts.windows.net/{TENANT}/", oid=JANE.object_id,
                           upn="jane@force.example", scp="access_as_user", appid=SOME_APP,
                           ver="1.0"))  # fmt: skip


def entra_app_only_with_serviceurl(url: str) -> str:
    # Even carrying a matching serviceurl claim, an Entra token is not the Bot Framework's.
    return KEY.mint(_entra(f"https://sts.windows.net/{TENANT}/", appid=SOME_APP, serviceurl=url))


def wrong_audience(url: str) -> str:
    return KEY.mint(bot_framework_claims(SOME_APP, url))


def expired(url: str) -> str:
    return KEY.mint(bot_framework_claims(BOT_APP_ID, url) | {"exp": _now() - 3600})


def without_exp(url: str) -> str:
    claims = bot_framework_claims(BOT_APP_ID, url)
    del claims["exp"]
    return KEY.mint(claims)


def without_serviceurl(url: str) -> str:
    claims = bot_framework_claims(BOT_APP_ID, url)
    del claims["serviceurl"]
    return KEY.mint(claims)


def serviceurl_of_another_endpoint(_url: str) -> str:
    return KEY.mint(bot_framework_claims(BOT_APP_ID, TEAMS_SERVICE_URL))


def serviceurl_on_another_port(url: str) -> str:
    host, _, port = url.rpartition(":")
    return KEY.mint(bot_framework_claims(BOT_APP_ID, f"{host}:{int(port) + 1}"))


def serviceurl_with_another_path(url: str) -> str:
    return KEY.mint(bot_framework_claims(BOT_APP_ID, f"{url}/emea/"))


def tenant_mismatch(url: str) -> str:
    return KEY.mint(bot_framework_claims(BOT_APP_ID, url, tid=SECOND_TENANT))


def hs256_with_the_public_key(url: str) -> str:
    # The classic confusion: an HMAC "signed" with the RSA public key, which anyone can fetch.
    pem = KEY.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": KEY.kid}
    signing_input = f"{_b64(header)}.{_b64(bot_framework_claims(BOT_APP_ID, url))}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def alg_none(url: str) -> str:
    return jwt.encode(bot_framework_claims(BOT_APP_ID, url), key="", algorithm="none",
                      headers={"kid": KEY.kid})  # fmt: skip


def _b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


async def _post(
    settings: Settings, bot_client: BotClientFactory, url: str, token: str | None, reference: str
) -> int:
    client = await bot_client(settings, token_validator=LocalKeyValidator(
        auth_configuration(settings), [KEY]))  # fmt: skip
    activity = load_activity("channel_mention", url, id=f"m-{uuid.uuid4().hex[:8]}")
    activity["text"] = f"<at>Exhibit</at> case open {reference} Burglary"
    activity["from"]["aadObjectId"] = JANE.object_id
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    response = await client.post("/api/messages", json=activity, headers=headers)
    return response.status


async def _case_opened(settings: Settings, reference: str) -> bool:
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        async with SqlRecords(engine).unit() as unit:
            return await unit.case_by_reference(reference) is not None
    finally:
        await engine.dispose()


def _reference() -> str:
    return f"MET-26-{uuid.uuid4().int % 10000:04d}"


def bot_framework(url: str) -> str:
    return KEY.mint(bot_framework_claims(BOT_APP_ID, url))


def serviceurl_in_capitals_with_a_final_slash(url: str) -> str:
    return KEY.mint(bot_framework_claims(BOT_APP_ID, url.upper() + "/"))


def bot_framework_with_the_activity_tenant(url: str) -> str:
    return KEY.mint(bot_framework_claims(BOT_APP_ID, url, tid=TENANT))


@pytest.mark.parametrize(
    "token_for",
    [
        bot_framework,
        serviceurl_in_capitals_with_a_final_slash,
        bot_framework_with_the_activity_tenant,
    ],
)
async def test_a_bot_framework_token_is_teams_traffic(
    authenticated: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    token_for: TokenFor,
) -> None:
    recorder, url = connector
    reference = _reference()
    assert await _post(authenticated, bot_client, url, token_for(url), reference) == 202
    await recorder.wait_for(1)
    assert await _case_opened(authenticated, reference)


@pytest.mark.parametrize(
    "token_for",
    [
        entra_app_only_v1,
        entra_app_only_v2,
        entra_user,
        entra_app_only_with_serviceurl,
        wrong_audience,
        expired,
        without_exp,
        without_serviceurl,
        serviceurl_of_another_endpoint,
        serviceurl_on_another_port,
        serviceurl_with_another_path,
        tenant_mismatch,
        hs256_with_the_public_key,
        alg_none,
    ],
)
async def test_every_other_token_is_refused_and_processes_nothing(
    authenticated: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    token_for: TokenFor,
) -> None:
    recorder, url = connector
    reference = _reference()
    assert await _post(authenticated, bot_client, url, token_for(url), reference) == 401
    assert recorder.received == []
    assert not await _case_opened(authenticated, reference)


@pytest.mark.parametrize("token_for", [entra_app_only_v1, entra_app_only_v2, entra_user])
async def test_the_sdk_itself_trusts_only_the_bot_framework_issuer(
    authenticated: Settings, token_for: TokenFor
) -> None:
    """The second line: the SDK's validator as configured refuses Entra tokens on its own."""
    validator = LocalKeyValidator(auth_configuration(authenticated), [KEY])
    with pytest.raises(ValueError, match="issuer"):
        await validator.validate_token(token_for("https://localhost"))


async def test_development_with_credentials_never_sends_its_token_to_an_unchecked_host(
    authenticated: Settings, bot_client: BotClientFactory
) -> None:
    plain = RecordingConnector()
    from aiohttp.test_utils import TestServer

    server = TestServer(plain.app, host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url("/")).rstrip("/")
        token = KEY.mint(bot_framework_claims(BOT_APP_ID, url))
        assert await _post(authenticated, bot_client, url, token, _reference()) == 401
        assert plain.received == []
    finally:
        await server.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "exhibit.force.example"])  # noqa: S104
def test_anonymous_mode_refuses_a_non_loopback_bind_address(
    base_env: dict[str, str], host: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(base_env | {"EXHIBIT_HOST": host})
    assert refused.value.name == "EXHIBIT_HOST"


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_anonymous_mode_on_loopback_still_starts(base_env: dict[str, str], host: str) -> None:
    assert load_settings(base_env | {"EXHIBIT_HOST": host}).host == host


def test_python_m_bot_will_not_serve_anonymously_on_all_interfaces(
    base_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in (base_env | {"EXHIBIT_HOST": "0.0.0.0"}).items():  # noqa: S104
        monkeypatch.setenv(name, value)
    assert main(["--env-file", "/nonexistent/.env"]) == 2
    assert "EXHIBIT_HOST" in capsys.readouterr().err
