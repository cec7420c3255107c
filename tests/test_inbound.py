"""The messaging endpoint's edge: bad input gets a 4xx with a reason, never a 500."""

from __future__ import annotations

import json

import pytest

from exhibit.settings import Settings, load_settings
from tests.conftest import BotClientFactory
from tests.support.activities import load_activity, with_tenant
from tests.support.connector import RecordingConnector

OTHER_TENANT = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"


async def test_non_json_content_type_is_415(
    settings: Settings, bot_client: BotClientFactory
) -> None:
    client = await bot_client(settings)
    response = await client.post(
        "/api/messages", data="help", headers={"Content-Type": "text/plain"}
    )
    assert response.status == 415


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"\xff\xfe", b"null", b"[]", b'"help"', b"42", b"{}"],
)
async def test_malformed_bodies_are_400(
    settings: Settings, bot_client: BotClientFactory, body: bytes
) -> None:
    client = await bot_client(settings)
    response = await client.post(
        "/api/messages", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert "error" in await response.json()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"from": None}, "activity.from.id"),
        ({"conversation": {"tenantId": "x"}}, "activity.conversation.id"),
        ({"serviceUrl": "/relative"}, "activity.serviceUrl"),
        ({"serviceUrl": "file:///etc/passwd"}, "activity.serviceUrl"),
        ({"type": 7}, "activity.type"),
        ({"timestamp": "yesterday"}, "invalid fields: timestamp"),
        ({"entities": "mention"}, "invalid fields: entities"),
    ],
)
async def test_wrongly_shaped_activities_are_400(
    settings: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    change: dict[str, object],
    expected: str,
) -> None:
    recorder, url = connector
    client = await bot_client(settings)
    activity = load_activity("personal_message", url, **change)
    response = await client.post("/api/messages", json=activity)
    assert response.status == 400
    assert expected in (await response.json())["error"]
    assert recorder.received == []


async def test_oversized_body_is_413(
    base_env: dict[str, str], bot_client: BotClientFactory
) -> None:
    client = await bot_client(load_settings({**base_env, "EXHIBIT_MAX_REQUEST_BYTES": "8192"}))
    body = json.dumps({"type": "message", "text": "x" * 10_000})
    response = await client.post(
        "/api/messages", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 413


async def test_get_is_405(settings: Settings, bot_client: BotClientFactory) -> None:
    client = await bot_client(settings)
    assert (await client.get("/api/messages")).status == 405


async def test_other_tenants_get_nothing_back_and_are_logged(
    settings: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder, url = connector
    client = await bot_client(settings)
    activity = with_tenant(load_activity("personal_message", url), OTHER_TENANT)
    response = await client.post("/api/messages", json=activity)
    assert response.status == 403
    assert recorder.received == []
    assert any(OTHER_TENANT in r.getMessage() for r in caplog.records)


async def test_activity_without_tenant_is_refused(
    settings: Settings, bot_client: BotClientFactory, connector: tuple[RecordingConnector, str]
) -> None:
    recorder, url = connector
    client = await bot_client(settings)
    activity = load_activity("personal_message", url, channelData={})
    del activity["conversation"]["tenantId"]
    assert (await client.post("/api/messages", json=activity)).status == 403
    assert recorder.received == []


async def test_healthz(settings: Settings, bot_client: BotClientFactory) -> None:
    client = await bot_client(settings)
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_when_everything_answers(
    settings: Settings, bot_client: BotClientFactory
) -> None:
    client = await bot_client(settings)
    response = await client.get("/readyz")
    assert response.status == 200
    body = await response.json()
    assert body["checks"] == {"database": "ok", "storage:uksouth": "ok", "storage:ukwest": "ok"}


async def test_readyz_names_what_is_down(
    base_env: dict[str, str], bot_client: BotClientFactory
) -> None:
    from devtools.devstack import free_port

    closed = free_port()
    env = {
        **base_env,
        "EXHIBIT_REGION_UKWEST_CONNECTION_STRING": (
            "DefaultEndpointsProtocol=http;AccountName=exhibitukwest;AccountKey=a2V5;"
            f"BlobEndpoint=http://127.0.0.1:{closed}/exhibitukwest;"
        ),
    }
    client = await bot_client(load_settings(env))
    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert set(body["down"]) == {"storage:ukwest"}
    assert body["checks"]["storage:uksouth"] == "ok"


async def test_start_up_fails_fast_when_the_database_is_down(
    base_env: dict[str, str], bot_client: BotClientFactory
) -> None:
    from devtools.devstack import free_port

    url = f"postgresql+asyncpg://exhibit@127.0.0.1:{free_port()}/exhibit"
    with pytest.raises(ConnectionRefusedError):
        await bot_client(load_settings({**base_env, "EXHIBIT_DATABASE_URL": url}))
