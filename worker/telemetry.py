"""What the worker tells OpenTelemetry (API only; a no-op unless telemetry is set up).

Intake jobs: a span each (`exhibit.intake.job`: attempt, bytes, outcome code), the bytes
ingested (a counter: rate it for bytes/s) and how long jobs take. The queue's depth and the age
of its oldest message: observable gauges, read from a value `watch_backlog` refreshes every
minute (two cheap queue calls), never from the queue inside the export.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation

from storage.queue import Backlog, QueueUnavailable

logger = logging.getLogger(__name__)

tracer = trace.get_tracer("exhibit.worker")
meter = metrics.get_meter("exhibit.worker")

ingest_bytes = meter.create_counter(
    "exhibit.ingest.bytes", unit="By", description="Bytes of evidence stored by intake jobs"
)
job_duration = meter.create_histogram(
    "exhibit.intake.job.duration", unit="s", description="How long one attempt of a job took"
)

BACKLOG_SECONDS = 60.0
_latest: dict[str, Backlog] = {}


class BacklogSource(Protocol):
    """The queue, as far as the gauges read it."""

    async def backlog(self, now: datetime) -> Backlog: ...


def _depth(_options: CallbackOptions) -> Iterable[Observation]:
    backlog = _latest.get("queue")
    return [] if backlog is None else [Observation(backlog.depth)]


def _oldest(_options: CallbackOptions) -> Iterable[Observation]:
    backlog = _latest.get("queue")
    return [] if backlog is None else [Observation(backlog.oldest_seconds)]


meter.create_observable_gauge(
    "exhibit.intake.queue.depth",
    callbacks=[_depth],
    unit="{message}",
    description="Intake messages waiting (approximate)",
)
meter.create_observable_gauge(
    "exhibit.intake.queue.oldest_age",
    callbacks=[_oldest],
    unit="s",
    description="How long the oldest visible intake message has waited",
)


async def read_backlog(queue: BacklogSource, now: datetime) -> Backlog | None:
    """Read the queue once and keep the figures for the gauges; None if it did not answer."""
    try:
        backlog = await queue.backlog(now)
    except QueueUnavailable as err:
        logger.warning("Queue backlog not read: %s", type(err).__name__)
        return None
    _latest["queue"] = backlog
    return backlog


async def watch_backlog(
    queue: BacklogSource,
    now: Callable[[], datetime],
    stop: asyncio.Event,
    every: float = BACKLOG_SECONDS,
) -> None:
    """`read_backlog` every `every` seconds until `stop` is set."""
    while not stop.is_set():
        await read_backlog(queue, now())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
