"""The link site's rate limit: a token bucket per client address."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket per client IP: `per_minute` refill, up to `burst` requests at once."""

    per_minute: int = 30
    burst: int = 30
    max_clients: int = 10_000  # buckets kept; beyond it, full (idle) ones are dropped

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst <= 0 or self.max_clients <= 0:
            raise ValueError("rate limits must be positive")


class TokenBuckets:
    """Per-key token buckets (requests per minute with a burst)."""

    def __init__(self, limit: RateLimit, monotonic: Callable[[], float]) -> None:
        self._limit = limit
        self._monotonic = monotonic
        self._rate = limit.per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str) -> float:
        """Take one token for `key`: 0 if granted, else seconds until one is available."""
        now = self._monotonic()
        tokens, at = self._buckets.get(key, (float(self._limit.burst), now))
        tokens = min(float(self._limit.burst), tokens + (now - at) * self._rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self._rate
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > self._limit.max_clients:
            self._forget_idle(now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        full = float(self._limit.burst)
        for key, (tokens, at) in list(self._buckets.items()):
            if tokens + (now - at) * self._rate >= full:
                del self._buckets[key]
        while len(self._buckets) > self._limit.max_clients:  # all busy: drop the oldest
            del self._buckets[next(iter(self._buckets))]
