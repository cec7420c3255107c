"""The share sweeper and the checkpoint round: periodic passes run by one instance at a time.

Every instance runs both loops, but a round runs only while its instance holds the round's
single-runner lease in the records (`service_leases`): the holder renews it each round, the
others find it taken and wait. A holder that dies stops renewing; once its lease expires (three
rounds) another instance takes over. A clean stop gives the lease up at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from evidence.anchoring import Anchoring
from evidence.records import Records, run_unit
from evidence.share_cases import expire_shares

logger = logging.getLogger(__name__)

SWEEP_SECONDS = 60.0
SHARE_SWEEP = "share-sweep"
CHECKPOINT_ROUND = "checkpoint-round"
ROUNDS_HELD = 3  # a lease lasts this many rounds unrenewed


@dataclass(frozen=True, slots=True)
class PassLease:
    """The single-runner lease of one periodic pass, held by `owner`."""

    records: Records
    name: str
    owner: str
    hold: timedelta
    now: Callable[[], datetime]

    async def held(self) -> bool:
        """Take or renew the lease; whether this owner holds it now."""
        now = self.now()
        until = now + self.hold
        return await run_unit(
            self.records, lambda unit: unit.claim_lease(self.name, self.owner, now, until)
        )

    async def release(self) -> None:
        """Give the lease up (if held), so another instance takes over at once."""
        await run_unit(self.records, lambda unit: unit.release_lease(self.name, self.owner))


async def sweep_shares(
    records: Records,
    now: Callable[[], datetime],
    stop: asyncio.Event,
    every: float = SWEEP_SECONDS,
    *,
    owner: str,
) -> None:
    """Mark expired shares every `every` seconds until `stop` is set, while holding the lease."""

    async def sweep() -> None:
        expired = await expire_shares(records, now())
        if expired:
            logger.info("Marked %d share(s) expired", expired)

    lease = PassLease(records, SHARE_SWEEP, owner, timedelta(seconds=every * ROUNDS_HELD), now)
    await _rounds(lease, sweep, stop, every, "Share sweep")


async def keep_anchored(
    anchoring: Anchoring,
    stop: asyncio.Event,
    every: float,
    *,
    records: Records,
    now: Callable[[], datetime],
    owner: str,
) -> None:
    """Checkpoint every case chain that grew since its last checkpoint, every `every` seconds,
    until `stop` is set, while holding the lease (this also catches up checkpoints a crash or a
    store outage missed). The first round is one period after start: decisions checkpoint their
    own chains at once, and an instance starting does not race the requests it answers."""

    async def checkpoint() -> None:
        taken = await anchoring.catch_up()
        if taken:
            logger.info("Checkpointed %d custody chain(s)", taken)

    hold = timedelta(seconds=every * ROUNDS_HELD)
    lease = PassLease(records, CHECKPOINT_ROUND, owner, hold, now)
    await _rounds(lease, checkpoint, stop, every, "Checkpoint round", first_after=every)


async def _rounds(
    lease: PassLease,
    work: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    every: float,
    what: str,
    *,
    first_after: float = 0.0,
) -> None:
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), first_after)
        while not stop.is_set():
            try:
                if await lease.held():
                    await work()
            except Exception:  # a round that fails is tried again next time
                logger.exception("%s failed", what)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
    finally:
        try:
            await lease.release()
        except Exception:  # the lease expires by itself
            logger.warning("%s: lease not released", what)
