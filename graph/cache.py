"""A TTL cache with single-flight loading, negative entries and stale-if-error.

- A fresh entry answers at once. Known values keep `ttl` seconds, "not found" `negative_ttl`.
- Keys not fresh and not already being loaded are loaded together by one `fetch` call, run as
  a task of its own: callers that ask for a key while it loads wait for that same load, and a
  caller that gives up (cancelled, timed out) does not cancel it for the others.
- When a load fails with `DirectoryUnavailable`, an entry that expired less than
  `stale_if_error` seconds ago is served instead; otherwise the error reaches the caller.
- A `fresh` read (for decisions) skips fresh entries and loads in flight, starts a load of its
  own and is never answered from a stale entry; what it loads is cached for everyone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from evidence.errors import DirectoryUnavailable

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Failed:
    """A key the load could not answer, and why."""

    error: DirectoryUnavailable


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V | None
    expires: float
    stale_until: float


@dataclass(frozen=True, slots=True)
class _Answer(Generic[V]):
    value: V | None


Fetch = Callable[[list[K]], Awaitable[Mapping[K, V | Failed | None]]]


class SingleFlightCache(Generic[K, V]):
    """Answers for keys, loaded at most once at a time per key. `None` means "not found"."""

    def __init__(
        self,
        *,
        ttl: float,
        negative_ttl: float,
        stale_if_error: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._stale_if_error = stale_if_error
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, _Entry[V]] = {}
        self._loading: dict[K, asyncio.Future[_Answer[V] | Failed]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def get_many(
        self, keys: Iterable[K], fetch: Fetch[K, V], *, fresh: bool = False
    ) -> dict[K, V | None]:
        """The answer for each key; raises the first `DirectoryUnavailable` of a failed key.

        `fresh`: loaded now for this caller, whatever is cached or already loading.
        """
        now = self._clock()
        answers: dict[K, V | None] = {}
        waiting: dict[K, asyncio.Future[_Answer[V] | Failed]] = {}
        missing: list[K] = []
        for key in dict.fromkeys(keys):
            entry = self._entries.get(key)
            if fresh:
                missing.append(key)
            elif entry is not None and now < entry.expires:
                answers[key] = entry.value
            elif key in self._loading:
                waiting[key] = self._loading[key]
            else:
                missing.append(key)
        if missing:
            waiting.update(self._start_load(missing, fetch, stale_ok=not fresh))
        failure: DirectoryUnavailable | None = None
        for key, future in waiting.items():
            outcome = await asyncio.shield(future)
            if isinstance(outcome, Failed):
                failure = failure or outcome.error
            else:
                answers[key] = outcome.value
        if failure is not None:
            raise failure
        return answers

    def __len__(self) -> int:
        return len(self._entries)

    async def aclose(self) -> None:
        """Cancel loads still running."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _start_load(
        self, keys: list[K], fetch: Fetch[K, V], *, stale_ok: bool
    ) -> dict[K, asyncio.Future[_Answer[V] | Failed]]:
        loop = asyncio.get_running_loop()
        futures: dict[K, asyncio.Future[_Answer[V] | Failed]] = {
            key: loop.create_future() for key in keys
        }
        self._loading.update(futures)
        task = loop.create_task(self._load(keys, fetch, futures, stale_ok))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return futures

    async def _load(
        self,
        keys: list[K],
        fetch: Fetch[K, V],
        futures: dict[K, asyncio.Future[_Answer[V] | Failed]],
        stale_ok: bool,
    ) -> None:
        try:
            results: Mapping[K, V | Failed | None]
            try:
                results = await fetch(keys)
            except DirectoryUnavailable as err:
                results = dict.fromkeys(keys, Failed(err))
            except Exception:
                logger.exception("directory load failed unexpectedly")
                results = dict.fromkeys(keys, Failed(DirectoryUnavailable("unexpected error")))
            now = self._clock()
            for key in keys:
                result = results.get(key, Failed(DirectoryUnavailable("no answer")))
                outcome: _Answer[V] | Failed
                if isinstance(result, Failed):
                    outcome = self._fallback(key, result, now) if stale_ok else result
                else:
                    self._store(key, result, now)
                    outcome = _Answer(result)
                futures[key].set_result(outcome)
        finally:
            for key, future in futures.items():
                if self._loading.get(key) is future:
                    del self._loading[key]
                if not future.done():
                    future.set_result(Failed(DirectoryUnavailable("lookup abandoned")))

    def _fallback(self, key: K, failed: Failed, now: float) -> _Answer[V] | Failed:
        entry = self._entries.get(key)
        if entry is not None and now < entry.stale_until:
            logger.warning("directory: serving stale entry for %s: %s", key, failed.error.reason)
            return _Answer(entry.value)
        return failed

    def _store(self, key: K, value: V | None, now: float) -> None:
        expires = now + (self._ttl if value is not None else self._negative_ttl)
        self._entries.pop(key, None)
        self._entries[key] = _Entry(value, expires, expires + self._stale_if_error)
        while len(self._entries) > self._max_entries:
            del self._entries[next(iter(self._entries))]
