"""Proactive sends keep within Teams' rate limits and survive its throttling answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from aiohttp import ClientResponseError
from microsoft_agents.activity import Activity

from bot.proactive import Proactive
from bot.throttle import PER_CONVERSATION, RetryPolicy, TeamsPacer, Windows, retry_delay
from exhibit.bot_auth import auth_configuration, build_adapter
from exhibit.settings import load_settings
from tests.conftest import StaticTokenProvider
from tests.support.connector import RecordingConnector

TENANT = "6d2c4a10-5b1e-4c8f-9a3e-0e5f1b7c2d41"


class FakeTime:
    """A clock that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def within(times: list[float], limits: tuple[tuple[int, float], ...]) -> bool:
    """Whether no window of any limit holds more operations than it allows."""
    for count, seconds in limits:
        for start in times:
            if len([t for t in times if start <= t < start + seconds]) > count:
                return False
    return True


async def test_a_burst_in_one_conversation_is_spread_over_the_documented_windows() -> None:
    time = FakeTime()
    pacer = TeamsPacer(clock=time.clock, sleep=time.sleep)
    taken: list[float] = []

    async def send() -> None:
        await pacer.turn("19:case@thread.tacv2", TENANT)
        taken.append(time.now)

    for _ in range(70):
        await send()
    assert len(taken) == 70
    assert within(taken, PER_CONVERSATION)
    # Not slower than it must be: the 61st operation waits for the 30 s window, no longer.
    assert taken[60] == pytest.approx(30.2, abs=0.01)


async def test_the_tenant_limit_spans_conversations() -> None:
    time = FakeTime()
    pacer = TeamsPacer(clock=time.clock, sleep=time.sleep)
    taken = []
    for n in range(120):
        await pacer.turn(f"a:personal-{n}", TENANT)
        taken.append(time.now)
    assert within(taken, ((50, 1.0),))
    assert taken[50] == pytest.approx(1.2, abs=0.01)


def test_windows_forget_old_operations() -> None:
    windows = Windows(((2, 1.0),))
    windows.take(0.0)
    windows.take(0.1)
    assert windows.wait_needed(0.2) == pytest.approx(1.0)  # 1 s window + 0.2 s margin
    assert windows.wait_needed(5000.0) == 0


def refusal(status: int, retry_after: str | None = None) -> ClientResponseError:
    from multidict import CIMultiDict, CIMultiDictProxy

    headers = CIMultiDict({"Retry-After": retry_after} if retry_after else {})
    return ClientResponseError(None, (), status=status, headers=CIMultiDictProxy(headers))  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [429, 412, 502, 504])
def test_throttling_statuses_are_retried_with_growing_jittered_backoff(status: int) -> None:
    policy = RetryPolicy(first_backoff=1.0, max_backoff=60.0)
    delays = [retry_delay(refusal(status), attempt, policy) for attempt in range(1, 10)]
    for attempt, delay in enumerate(delays, start=1):
        assert delay is not None
        ceiling = min(2 ** (attempt - 1), 60.0)
        assert ceiling / 2 <= delay <= ceiling


def test_retry_after_is_honoured_and_other_errors_are_not_retried() -> None:
    policy = RetryPolicy()
    assert retry_delay(refusal(429, "7"), 1, policy) == 7.0
    assert retry_delay(refusal(429, "100000"), 1, policy) == policy.max_backoff
    for status in (400, 401, 403, 404, 413):
        assert retry_delay(refusal(status), 1, policy) is None
    assert retry_delay(ValueError("bug"), 1, policy) is None


def proactive(url: str, **kw: object) -> tuple[Proactive, Callable[[int], str]]:
    settings = load_settings(
        {
            "EXHIBIT_ALLOWED_TENANTS": TENANT,
            "EXHIBIT_REGION_UKSOUTH_CONNECTION_STRING": "UseDevelopmentStorage=true",
            "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS": "true",
        }
    )
    adapter = build_adapter(settings, auth_configuration(settings), StaticTokenProvider)
    sender = Proactive(adapter, None, **kw)  # type: ignore[arg-type]

    def reference(n: int) -> str:
        return json.dumps(
            {
                "bot": {"id": "28:exhibit", "name": "Exhibit"},
                "user": {"id": "29:jane", "aadObjectId": "jane"},
                "conversation": {
                    "id": f"a:personal-{n}",
                    "conversationType": "personal",
                    "tenantId": TENANT,
                },
                "channelId": "msteams",
                "serviceUrl": url,
            }
        )

    return sender, reference


async def test_a_burst_of_proactive_cards_reaches_a_strict_connector_without_a_429(
    connector: tuple[RecordingConnector, str],
) -> None:
    recorder, url = connector
    recorder.rate_limits = ((7, 1.0), (8, 2.0))
    sender, reference = proactive(url)
    await asyncio.gather(
        *(sender.send(reference(1), Activity(type="message", text=f"card {n}")) for n in range(12))
    )
    texts = sorted(body["text"] for body in recorder.posted_to("a:personal-1"))
    assert texts == sorted(f"card {n}" for n in range(12))
    assert recorder.violations == 0


async def test_without_pacing_the_same_burst_is_throttled(
    connector: tuple[RecordingConnector, str],
) -> None:
    """The test above can fail: with limits far above Teams' own, the connector refuses."""
    recorder, url = connector
    recorder.rate_limits = ((7, 1.0), (8, 2.0))
    unpaced = TeamsPacer(per_conversation=((1000, 1.0),), per_tenant=((1000, 1.0),))
    sender, reference = proactive(url, pacer=unpaced, retry=RetryPolicy(give_up_after=0))
    results = await asyncio.gather(
        *(sender.send(reference(2), Activity(type="message", text=f"card {n}")) for n in range(12)),
        return_exceptions=True,
    )
    assert recorder.violations > 0
    assert any(isinstance(result, ClientResponseError) for result in results)


async def test_a_throttled_card_is_delivered_once_after_the_refusals(
    connector: tuple[RecordingConnector, str],
) -> None:
    recorder, url = connector
    recorder.refusals = [429, 502, 504, 412]
    sender, reference = proactive(url, retry=RetryPolicy(first_backoff=0.01))
    await sender.send(reference(3), Activity(type="message", text="the approved link"))
    assert [body["text"] for body in recorder.posted_to("a:personal-3")] == ["the approved link"]
    assert recorder.refusals == []


async def test_a_refusal_that_is_not_throttling_is_not_retried(
    connector: tuple[RecordingConnector, str],
) -> None:
    recorder, url = connector
    recorder.refusals = [403, 403]
    sender, reference = proactive(url, retry=RetryPolicy(first_backoff=0.01))
    # Left to the turn's error handler, as every other failure of a proactive turn is.
    assert await sender.send(reference(4), Activity(type="message", text="x")) is None
    assert recorder.refusals == [403]
    assert recorder.posted_to("a:personal-4") == []


async def test_throttling_that_outlasts_the_policy_is_raised_not_dropped_silently(
    connector: tuple[RecordingConnector, str],
) -> None:
    recorder, url = connector
    recorder.refusals = [429] * 5
    recorder.retry_after = None  # backoff 0.01, 0.02, 0.04 s...: past 0.05 s by the 4th try
    sender, reference = proactive(url, retry=RetryPolicy(first_backoff=0.01, give_up_after=0.05))
    with pytest.raises(ClientResponseError) as raised:
        await sender.send(reference(5), Activity(type="message", text="x"))
    assert raised.value.status == 429
