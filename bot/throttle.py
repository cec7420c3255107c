"""Teams' bot rate limits, kept on our side, and retries when Teams still says "slow down".

Teams limits each bot per conversation (7 operations a second, 8 in 2 s, 60 in 30 s, 1,800 an
hour) and per tenant (50 a second), and answers 429 past them; 412, 502 and 504 are transient
too. Proactive work (approval cards, links, receipts, alerts) comes in bursts — a pass of the
integrity sweep, a batch of intake jobs — so every proactive operation waits for a free slot in
its conversation's and tenant's windows first, and an operation Teams refuses with one of those
statuses is tried again after `Retry-After` (when given) or an exponential backoff with jitter,
for up to `RetryPolicy.give_up_after` seconds: a message is delayed, not dropped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import ClientConnectionError, ClientResponseError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# (operations, seconds): Microsoft's documented per-bot limits.
PER_CONVERSATION: tuple[tuple[int, float], ...] = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
PER_TENANT: tuple[tuple[int, float], ...] = ((50, 1.0),)
RETRYABLE = frozenset({412, 429, 502, 504})

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


# Added to every window: an operation released at the edge of a window reaches Teams a little
# later than the one it replaces left it, and Teams counts arrivals, not releases.
MARGIN_SECONDS = 0.2


class Windows:
    """Sliding windows of past operation times for one key (a conversation, a tenant)."""

    def __init__(
        self, limits: tuple[tuple[int, float], ...], margin: float = MARGIN_SECONDS
    ) -> None:
        self._limits = tuple((count, seconds + margin) for count, seconds in limits)
        self._times: deque[float] = deque()
        self._longest = max(seconds for _, seconds in self._limits)

    def wait_needed(self, now: float) -> float:
        """Seconds until one more operation fits every window (0: it fits now)."""
        while self._times and self._times[0] <= now - self._longest:
            self._times.popleft()
        wait = 0.0
        for count, seconds in self._limits:
            inside = [t for t in self._times if t > now - seconds]
            if len(inside) >= count:
                # The oldest operation that keeps the window full has to leave it first.
                wait = max(wait, inside[len(inside) - count] + seconds - now)
        return wait

    def take(self, now: float) -> None:
        """Count one operation at `now`."""
        self._times.append(now)


class TeamsPacer:
    """Waits until an operation fits the conversation's and the tenant's windows, then counts it.

    One pacer per process: several instances each keep their own count, so the per-tenant
    limit is shared only as far as Teams' 429s (and the retries below) enforce it.
    """

    def __init__(
        self,
        *,
        per_conversation: tuple[tuple[int, float], ...] = PER_CONVERSATION,
        per_tenant: tuple[tuple[int, float], ...] = PER_TENANT,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._conversations: defaultdict[str, Windows] = defaultdict(
            lambda: Windows(per_conversation)
        )
        self._tenants: defaultdict[str, Windows] = defaultdict(lambda: Windows(per_tenant))
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()

    async def turn(self, conversation_id: str, tenant_id: str | None) -> None:
        """Return once one more operation in the conversation is within every limit."""
        conversation = self._conversations[conversation_id]
        tenant = self._tenants[tenant_id or ""]
        while True:
            async with self._lock:
                now = self._clock()
                wait = max(conversation.wait_needed(now), tenant.wait_needed(now))
                if wait <= 0:
                    conversation.take(now)
                    tenant.take(now)
                    return
            await self._sleep(wait)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to keep trying an operation Teams refuses for now."""

    first_backoff: float = 1.0
    max_backoff: float = 60.0
    give_up_after: float = 900.0


DEFAULT_RETRY = RetryPolicy()


def retry_delay(error: BaseException, attempt: int, policy: RetryPolicy) -> float | None:
    """Seconds to wait before trying again after `error` (attempt 1, 2, ...); None: do not."""
    if isinstance(error, ClientResponseError):
        if error.status not in RETRYABLE:
            return None
        after = error.headers.get("Retry-After") if error.headers is not None else None
        if after is not None:
            try:
                return min(max(float(after), 0.0), policy.max_backoff)
            except ValueError:
                pass  # an HTTP date: fall back to the backoff
    elif not isinstance(error, ClientConnectionError | TimeoutError):
        return None
    backoff = min(policy.first_backoff * 2 ** (attempt - 1), policy.max_backoff)
    return random.uniform(backoff / 2, backoff)  # noqa: S311 (jitter, not a secret)


async def with_retries(
    operation: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy = DEFAULT_RETRY,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    what: str = "operation",
) -> T:
    """Run `operation`, again after each refusal worth retrying, until `give_up_after`."""
    started = clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await operation()
        except (ClientResponseError, ClientConnectionError, TimeoutError) as error:
            delay = retry_delay(error, attempt, policy)
            if delay is None or clock() + delay - started > policy.give_up_after:
                raise
            status = getattr(error, "status", None)
            logger.warning(
                "Teams refused a %s (%s), attempt %d; again in %.1f s",
                what, status or type(error).__name__, attempt, delay,
            )  # fmt: skip
            await sleep(delay)
