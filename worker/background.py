"""Work that outlives the request that started it: keyed, logged, and finished on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


class Background:
    """At most one task per key; on `aclose` tasks get `grace` seconds, then are cancelled.

    A task that fails is logged and forgotten: callers design their work so that nothing is
    recorded until it succeeds, and a person can simply try again.
    """

    def __init__(self, *, grace: float = 30.0) -> None:
        self._grace = grace
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def running(self, key: str) -> bool:
        """Whether work for `key` is under way."""
        return key in self._tasks

    def start(self, key: str, work: Callable[[], Awaitable[None]]) -> bool:
        """Start `work` for `key`; False (and nothing started) if `key` is already running."""
        if key in self._tasks:
            return False
        self._tasks[key] = asyncio.get_running_loop().create_task(self._run(key, work))
        return True

    async def _run(self, key: str, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except Exception:
            logger.exception("Background work %s failed", key)
        finally:
            self._tasks.pop(key, None)

    async def wait(self) -> None:
        """Until every task started so far has ended (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def aclose(self) -> None:
        """Let running work finish within the grace period, then cancel what is left."""
        if not self._tasks:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.wait()), self._grace)
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
