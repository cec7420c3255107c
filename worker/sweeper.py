"""The share sweeper: marks shares whose links have expired (links check expiry themselves;
this records it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from evidence.anchoring import Anchoring
from evidence.records import Records
from evidence.share_cases import expire_shares

logger = logging.getLogger(__name__)

SWEEP_SECONDS = 60.0


async def sweep_shares(
    records: Records,
    now: Callable[[], datetime],
    stop: asyncio.Event,
    every: float = SWEEP_SECONDS,
) -> None:
    """Mark expired shares every `every` seconds until `stop` is set."""
    while not stop.is_set():
        try:
            expired = await expire_shares(records, now())
            if expired:
                logger.info("Marked %d share(s) expired", expired)
        except Exception:  # a sweep that fails is tried again next time
            logger.exception("Share sweep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def keep_anchored(anchoring: Anchoring, stop: asyncio.Event, every: float) -> None:
    """Checkpoint every case chain that grew since its last checkpoint, every `every` seconds,
    until `stop` is set (this also catches up checkpoints a crash or a store outage missed)."""
    while not stop.is_set():
        try:
            taken = await anchoring.catch_up()
            if taken:
                logger.info("Checkpointed %d custody chain(s)", taken)
        except Exception:  # a round that fails is tried again next time
            logger.exception("Checkpoint round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
