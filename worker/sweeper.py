"""The share sweeper: marks shares whose links have expired (links check expiry themselves;
this records it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

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
