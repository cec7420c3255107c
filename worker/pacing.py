"""Keeping a long-running reader under a bytes-per-second budget by sleeping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Clock:
    """Time as the sweep sees it: wall time for records, a monotonic clock and sleep to pace.

    Tests give a fake one, and read the sleeps it was asked for.
    """

    now: Callable[[], datetime] = utc_now
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)


class Pacer:
    """Sleeps after reads so that the bytes read never run ahead of the budget.

    After `read(n)`, at most `burst` bytes plus the budget times the time since the pacer
    started (or since it was last idle) have been read: over a pass the read rate stays under
    `bytes_per_second`. Idle time banks at most `burst` bytes (one second of budget), so a
    pause is not followed by a long full-speed burst.
    """

    def __init__(self, bytes_per_second: int, clock: Clock) -> None:
        if bytes_per_second <= 0:
            raise ValueError("the budget must be positive")
        self._rate = float(bytes_per_second)
        self._clock = clock
        self._due: float | None = None  # when the bytes read so far are paid for
        self.read_bytes = 0  # every byte reported, for the record and the tests

    @property
    def bytes_per_second(self) -> int:
        """The budget."""
        return int(self._rate)

    async def read(self, size: int) -> None:
        """`size` bytes were just read: sleep as long as the budget needs."""
        if size <= 0:
            return
        self.read_bytes += size
        now = self._clock.monotonic()
        due = now if self._due is None else max(self._due, now - 1.0)
        due += size / self._rate
        self._due = due
        if due > now:
            await self._clock.sleep(due - now)
