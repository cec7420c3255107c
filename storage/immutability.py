"""Version-level immutability: time-based retention and legal hold on blobs, per region.

Where a region's storage account supports version-level immutability (versioning on, and
version-level immutability enabled on the account or container), every blob Exhibit commits
as evidence — and every checkpoint of the custody chain — gets a time-based retention policy:
until it expires, the version cannot be overwritten or deleted, by anyone. A legal hold does the
same for as long as it stands. Azurite supports neither; a region without the setting gets no
call at all.

`apply_retention` and `set_legal_hold` take any `BlobClient`, so the checkpoint store applies the
same retention to its own blobs: `await apply_retention(blob, days, now=now)` after each
create-only write, when `RegionImmutability.days(region)` is not None.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import BlobImmutabilityPolicyMode, ImmutabilityPolicy
from azure.storage.blob.aio import BlobClient

from evidence.holds import HoldOutcome
from storage.blob_errors import translated
from storage.blobs import RegionalBlobServices

logger = logging.getLogger(__name__)

# Unlocked: an account administrator can still shorten or remove it (while testing a
# deployment); locking is an admin's one-way step in the portal (README, "Immutable storage").
RETENTION_MODE = BlobImmutabilityPolicyMode.UNLOCKED
EVIDENCE_CONTAINER = "evidence"
CHECKPOINT_CONTAINER = "custody-checkpoints"
HOLDS_AT_ONCE = 8


async def apply_retention(blob: BlobClient, days: int, *, now: datetime) -> datetime:
    """Give the blob's current version a time-based retention policy of `days`; its expiry.

    Repeating it moves the expiry on, never back (a locked policy can only be extended).
    """
    until = now + timedelta(days=days)
    await blob.set_immutability_policy(
        ImmutabilityPolicy(expiry_time=until, policy_mode=RETENTION_MODE)
    )
    return until


async def set_legal_hold(blob: BlobClient, hold: bool) -> None:
    """Set (`True`) or clear (`False`) the blob's legal hold; repeating it changes nothing."""
    await blob.set_legal_hold(hold)


class RegionImmutability:
    """Which regions' accounts support version-level immutability, and their retention days."""

    def __init__(self, services: RegionalBlobServices, days: Mapping[str, int | None]) -> None:
        self._services = services
        self._days = {region: d for region, d in days.items() if d}

    def days(self, region: str) -> int | None:
        """The retention period of `region`'s blobs, or None where immutability is not set up."""
        return self._days.get(region)

    def supports(self, region: str) -> bool:
        """Whether `region`'s account supports retention and legal holds."""
        return region in self._days

    async def protect(
        self, region: str, container: str, blob_name: str, *, now: datetime, legal_hold: bool
    ) -> None:
        """Retention (and a legal hold if asked) on one committed blob; nothing unsupported.

        Raises `StoreUnavailable`/`StoreRejected` when storage fails: the caller tries again.
        """
        days = self.days(region)
        if days is None:
            return
        blob = self._services.client(region).get_blob_client(container, blob_name)
        with translated(region, blob_name):
            await apply_retention(blob, days, now=now)
            if legal_hold:
                await set_legal_hold(blob, True)

    async def hold_case(
        self,
        region: str,
        case_id: str,
        hold: bool,
        containers: Sequence[str] = (EVIDENCE_CONTAINER, CHECKPOINT_CONTAINER),
    ) -> HoldOutcome:
        """Set or clear the legal hold on every blob of the case (`<case id>/...`) in `region`.

        Goes on past a blob that fails, and says how many changed and how many did not; a
        listing that fails counts as unfinished (`complete` False). Safe to repeat.
        """
        if not self.supports(region):
            return HoldOutcome(supported=False, changed=0, failed=0)
        names: list[tuple[str, str]] = []
        listed = True
        client = self._services.client(region)
        for container in containers:
            try:
                async for item in client.get_container_client(container).list_blobs(
                    name_starts_with=f"{case_id}/"
                ):
                    names.append((container, str(item.name)))
            except ResourceNotFoundError:
                continue  # no such container (no checkpoints yet): nothing to hold there
            except AzureError as err:
                logger.warning("Listing %s in %s failed: %s", container, region, type(err).__name__)
                listed = False
        slots = asyncio.Semaphore(HOLDS_AT_ONCE)

        async def one(container: str, name: str) -> bool:
            async with slots:
                try:
                    await set_legal_hold(client.get_blob_client(container, name), hold)
                except AzureError as err:
                    logger.warning("Legal hold on %s failed: %s", name, type(err).__name__)
                    return False
                return True

        done = await asyncio.gather(*(one(container, name) for container, name in names))
        changed = sum(done)
        return HoldOutcome(
            supported=True, changed=changed, failed=len(done) - changed, listed=listed
        )
