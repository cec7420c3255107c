"""Waiting in tests for something another process does: poll, and say where to look on failure."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(
    what: str,
    check: Callable[[], Awaitable[T | None]],
    seconds: float,
    explain: Callable[[], str],
    *,
    every: float = 0.1,
) -> T:
    """Poll `check` every `every` seconds until it returns something; fail after `seconds`,
    saying what was awaited and, from `explain`, where to look."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        result = await check()
        if result is not None:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {seconds:.0f} s; {explain()}")
        await asyncio.sleep(every)
