"""Never a 5xx on `/api/messages`: bounded fields, bounded nesting, undeliverable replies.

Every test posts to the real app (anonymous mode, plain HTTP connectors on loopback). A refused
activity is answered 400 naming the field and processes nothing: no reply reaches the
connector, no case and no custody entry is written.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy import text as sql

from bot.edge import MAX_JSON_DEPTH
from cards.exhibits import FLAG, RECEIPT_REFRESH, REVIEW
from cards.sharing import APPROVE, REFRESH, REJECT, SHARE_FORM
from devtools.devstack import free_port
from exhibit.settings import Settings
from storage.database import create_engine
from storage.tables import cases, custody_entries
from tests.conftest import BotClientFactory
from tests.support.activities import load_activity
from tests.support.connector import RecordingConnector
from tests.support.people import JANE


def _case_open(url: str, **changes: Any) -> dict[str, Any]:
    """A channel message that would open a case (and so write records) if it got through."""
    activity = load_activity("channel_mention", url, id=f"m-{uuid.uuid4().hex[:8]}")
    activity["text"] = f"<at>Exhibit</at> case open MET-26-{uuid.uuid4().int % 10000:04d} Theft"
    activity["from"]["aadObjectId"] = JANE.object_id
    for path, value in changes.items():
        _set(activity, path, value)
    return activity


def _set(activity: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target = activity
    for name in parents:
        target = target[name]
    target[last] = value


async def _written(settings: Settings) -> tuple[int, int]:
    """How many cases and custody entries exist."""
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        async with engine.connect() as connection:
            n_cases = (await connection.execute(select(func.count()).select_from(cases))).scalar()
            n_custody = (
                await connection.execute(select(func.count()).select_from(custody_entries))
            ).scalar()
    finally:
        await engine.dispose()
    return int(n_cases or 0), int(n_custody or 0)


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


LONG = 100_000


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("id", "1" * 513, "activity.id"),
        ("replyToId", "1" * 513, "activity.replyToId"),
        ("conversation.id", "19:" + "c" * 600, "activity.conversation.id"),
        ("from.id", "29:" + "u" * 600, "activity.from.id"),
        ("from.aadObjectId", JANE.object_id + "0" * 40, "activity.from.aadObjectId"),
        ("from.name", "Jane " * 100, "activity.from.name"),
        ("recipient.id", "28:" + "b" * 600, "activity.recipient.id"),
        ("serviceUrl", "https://smba.trafficmanager.net/" + "uk/" * 200, "activity.serviceUrl"),
        ("text", "<at>Exhibit</at> case open MET-26-0001 " + "x" * 40_000, "activity.text"),
        ("name", "n" * 300, "activity.name"),
        ("locale", "en-" + "x" * 300, "activity.locale"),
        ("value", {"reason": "r" * LONG}, "activity.value"),
        ("channelData.padding", "p" * LONG, "activity.channelData"),
        (
            "attachments",
            [{"contentType": "text/plain", "content": "a"}] * 21,
            "activity.attachments",
        ),
        ("entities", [{"type": "clientInfo"}] * 101, "activity.entities"),
        ("value", _nested(MAX_JSON_DEPTH), "nested deeper"),
        ("conversation.tenantId", "6d2c4a10-5b1e-4c8f-9a3e-0e5f1b7c2d42", "tenant"),
    ],
)
async def test_out_of_bounds_fields_are_400_naming_the_field_and_process_nothing(
    settings: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    path: str,
    value: Any,
    field: str,
) -> None:
    recorder, url = connector
    client = await bot_client(settings)
    before = await _written(settings)
    response = await client.post("/api/messages", json=_case_open(url, **{path: value}))
    assert response.status in {400, 403}
    assert field in (await response.json())["error"]
    assert recorder.received == []
    assert await _written(settings) == before


async def test_fields_at_their_bounds_are_served(
    settings: Settings, bot_client: BotClientFactory, connector: tuple[RecordingConnector, str]
) -> None:
    recorder, url = connector
    client = await bot_client(settings)
    activity = _case_open(url, id="1" * 512, value=_nested(MAX_JSON_DEPTH - 1))
    assert (await client.post("/api/messages", json=activity)).status == 202
    assert len(await recorder.wait_for(1)) == 1


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 200_000])
async def test_deeply_nested_json_is_400(
    settings: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    depth: int,
) -> None:
    recorder, url = connector
    client = await bot_client(settings)
    activity = json.dumps(_case_open(url))
    body = activity[:-1] + ', "value": ' + "[" * depth + "]" * depth + "}"
    response = await client.post(
        "/api/messages", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert "nested deeper" in (await response.json())["error"]
    assert recorder.received == []


@pytest.fixture
async def failing_connector(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A serviceUrl whose connector answers every call with the status given, or never answers."""
    status: int | None = request.param
    if status is None:  # a closed port
        yield f"http://127.0.0.1:{free_port()}"
        return

    async def fail(_request: web.Request) -> web.Response:
        return web.json_response({"error": {"code": "Failure"}}, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fail)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/")).rstrip("/")
    finally:
        await server.close()


@pytest.mark.parametrize("failing_connector", [404, 414, 500, 503, None], indirect=True)
@pytest.mark.parametrize("text", ["help", "case list", "whoami"])
async def test_an_undeliverable_reply_is_logged_with_a_reference_not_a_500(
    settings: Settings,
    bot_client: BotClientFactory,
    failing_connector: str,
    text: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = await bot_client(settings)
    activity = load_activity("personal_message", failing_connector, text=text, id="1" * 512)
    activity["from"]["aadObjectId"] = JANE.object_id
    with caplog.at_level(logging.WARNING):
        response = await client.post("/api/messages", json=activity)
    assert 200 <= response.status < 300
    failures = [r for r in caplog.records if "ref " in r.getMessage()]
    assert failures, "the failure is logged with its reference"


# -- generated input -------------------------------------------------------------------------

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=25,
)
TEXT = st.text(max_size=40) | st.sampled_from(["x" * 45_000, "\u202e\u0000\ud7ff" * 10, "é" * 600])
VERBS = (
    st.sampled_from([APPROVE, REJECT, REFRESH, REVIEW, FLAG, RECEIPT_REFRESH, SHARE_FORM]) | TEXT
)
DATA = st.dictionaries(
    st.sampled_from(["shareId", "exhibitId", "receipt", "reason", "caseId", "comment"])
    | st.text(max_size=8),
    JSON | TEXT,
    max_size=5,
)
CARD_ACTION = st.fixed_dictionaries(
    {
        "action": st.fixed_dictionaries(
            {"type": st.just("Action.Execute") | TEXT, "verb": VERBS, "data": DATA | JSON}
        )
    },
    optional={"trigger": st.sampled_from(["manual", "automatic"]) | TEXT},
)
COMMANDS = st.sampled_from(
    ["<at>Exhibit</at> share JS/1 with a@cps.gov.uk", "<at>Exhibit</at> case show MET-26-0001"]
)
CHANGES = st.dictionaries(
    st.sampled_from(
        [
            "id",
            "text",
            "from.aadObjectId",
            "from.id",
            "from.name",
            "conversation.id",
            "recipient.id",
            "replyToId",
            "locale",
            "value",
            "channelData.tenant",
            "entities",
            "attachments",
            "serviceUrl",
            "textFormat",
        ]
    ),
    JSON | TEXT,
    max_size=3,
)


@st.composite
def activities(draw: st.DrawFn) -> dict[str, Any]:
    """A Teams-shaped activity with random values where a caller controls them."""
    kind = draw(st.sampled_from(["message", "invoke", "conversationUpdate", "messageReaction"]))
    activity = _case_open(draw(st.sampled_from([RECORDING, RECORDING, RECORDING, CLOSED_PORT])))
    activity["type"] = kind
    if kind == "invoke":
        activity.update(name="adaptiveCard/action", text=None, replyToId="card-1")
        activity["value"] = draw(CARD_ACTION | JSON)
    else:
        activity["text"] = draw(TEXT | COMMANDS)
    for path, value in draw(CHANGES).items():
        _set(activity, path, value)
    if draw(st.integers(0, 9)) == 0:
        activity["value"] = DEEP
    return activity


RECORDING, CLOSED_PORT, DEEP = "SERVICE_URL", "CLOSED_PORT", "__DEEP__"


def _body(activity: dict[str, Any], urls: dict[str, str], depth: int) -> str:
    """The activity as JSON with its placeholders filled; DEEP becomes `depth` nested arrays."""
    service_url = activity.get("serviceUrl")
    if isinstance(service_url, str) and service_url in urls:
        activity = {**activity, "serviceUrl": urls[service_url]}
    return json.dumps(activity).replace(f'"{DEEP}"', "[" * depth + "]" * depth)


@hypothesis_settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(activity=activities(), depth=st.sampled_from([MAX_JSON_DEPTH, 100, 3_000, 100_000]))
async def test_generated_activities_never_get_a_5xx_and_refusals_process_nothing(
    settings: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    activity: dict[str, Any],
    depth: int,
) -> None:
    recorder, url = connector
    client = await _shared_client(settings, bot_client)
    body = _body(activity, {RECORDING: url, CLOSED_PORT: _CLOSED_PORT}, depth)
    before, sent = await _written(settings), len(recorder.received)
    response = await client.post(
        "/api/messages", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status < 500, await response.text()
    if response.status >= 400:
        assert len(recorder.received) == sent
        assert await _written(settings) == before


_CLIENTS: dict[str, Any] = {}
_CLOSED_PORT = f"http://127.0.0.1:{free_port()}"


async def _shared_client(settings: Settings, bot_client: BotClientFactory) -> Any:
    # One app for all of a run's examples: starting one per example would take minutes.
    key = settings.database_url.get_secret_value()
    if key not in _CLIENTS:
        _CLIENTS.clear()
        _CLIENTS[key] = await bot_client(settings)
    return _CLIENTS[key]


async def test_a_turn_that_fails_answers_an_invoke_with_the_error_and_a_message_with_an_apology(
    settings: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder, url = connector
    client = await bot_client(settings)
    engine = create_engine(settings.database_url.get_secret_value())
    async with engine.begin() as connection:  # the database breaks under the running bot
        await connection.execute(sql("DROP TABLE shares"))
    await engine.dispose()
    click = load_activity("channel_mention", url)
    click.update(type="invoke", name="adaptiveCard/action", text=None, replyToId="approval-card")
    click["value"] = {"action": {"type": "Action.Execute", "verb": APPROVE,
                                 "data": {"shareId": "S-0123456789"}}}  # fmt: skip
    click["from"]["aadObjectId"] = "1a7e2c3d-0003-4f00-8000-000000000003"  # an approver
    with caplog.at_level(logging.ERROR):
        response = await client.post("/api/messages", json=click)
    assert response.status == 200
    answer = await response.json()
    assert answer["statusCode"] == 500
    assert answer["type"] == "application/vnd.microsoft.error"
    reference = answer["value"]["message"].rpartition("Reference: ")[2].rstrip(".")
    assert any(reference in r.getMessage() for r in caplog.records)
    assert recorder.received == []
    message = _case_open(url, text="<at>Exhibit</at> share revoke S-0123456789")
    assert (await client.post("/api/messages", json=message)).status == 202
    sent = await recorder.wait_for(1)
    assert any("Reference: " in str(activity.get("text")) for activity in sent), sent
