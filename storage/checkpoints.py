"""`CheckpointStore` on Azure Blob Storage: one create-only blob per checkpoint, per region.

Checkpoints live in their own container (`custody-checkpoints`) of the case's regional account,
named `<chain>/<sequence, 12 digits>.json`. In production the container has version-level
immutability (WORM), so neither the database's role nor the service can rewrite one; locally
(Azurite) the create-only write is what we can show.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from datetime import UTC, datetime

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import ContainerClient

from evidence.checkpoints import SignedCheckpoint, file_stem
from storage.blob_errors import translated
from storage.blobs import RegionalBlobServices
from storage.immutability import RegionImmutability

CHECKPOINT_CONTAINER = "custody-checkpoints"
# Checkpoints remembered per process (a few hundred bytes each): one a chain's change every
# `EXHIBIT_CHECKPOINT_MINUTES`, so a busy case gains hundreds a day.
KNOWN_CHECKPOINTS = 50_000


def checkpoint_blob_name(chain: str, sequence: int) -> str:
    """Where the checkpoint of `chain` at `sequence` is stored."""
    return f"{chain}/{file_stem(sequence)}.json"


class BlobCheckpointStore:
    """Signed checkpoints in a container of each region's account, written create-only."""

    def __init__(
        self,
        services: RegionalBlobServices,
        container: str = CHECKPOINT_CONTAINER,
        *,
        immutability: RegionImmutability | None = None,
    ) -> None:
        self._services = services
        self._container = container
        self._immutability = immutability
        self._ready_regions: set[str] = set()
        self._lock = asyncio.Lock()
        # (region, blob name) → (its ETag when read, what it held), least recently used first.
        self._known: OrderedDict[tuple[str, str], tuple[str, SignedCheckpoint]] = OrderedDict()

    @property
    def container(self) -> str:
        """The container that holds checkpoints in every region."""
        return self._container

    async def put(self, region: str, signed: SignedCheckpoint) -> bool:
        """Write a new checkpoint; False (nothing changed) if one exists for that sequence."""
        checkpoint = signed.checkpoint
        name = checkpoint_blob_name(checkpoint.chain, checkpoint.sequence)
        container = await self._container_client(region)
        with translated(region, name):
            try:
                await container.upload_blob(
                    name,
                    signed.encode(),
                    overwrite=True,  # with IfMissing: create-only, atomically
                    match_condition=MatchConditions.IfMissing,
                    content_settings=ContentSettings(content_type="application/json"),
                )
            except (ResourceExistsError, ResourceModifiedError):
                return False
        if self._immutability is not None:
            # Where the account supports it, the checkpoint is WORM for the retention period.
            await self._immutability.protect(
                region, self._container, name, now=datetime.now(UTC), legal_hold=False
            )
        return True

    async def checkpoints(self, region: str, chain: str) -> list[SignedCheckpoint]:
        """Every checkpoint stored for the chain now, in sequence order.

        The chain's blobs are listed each time; only those not read before, or whose ETag has
        changed since (any write to a blob changes it), are downloaded again. So a removed or
        rewritten checkpoint is seen as at the first read, while a long-lived case's view costs
        a listing rather than one download per checkpoint.
        """
        container = await self._container_client(region)
        prefix = f"{chain}/"
        with translated(region, prefix):
            listed = sorted(
                [
                    (blob.name, _tag(blob.etag))
                    async for blob in container.list_blobs(name_starts_with=prefix)
                ]
            )
            return [await self._read(container, region, name, etag) for name, etag in listed]

    async def _read(
        self, container: ContainerClient, region: str, name: str, etag: str
    ) -> SignedCheckpoint:
        key = (region, name)
        known = self._known.get(key)
        if known is not None and etag and known[0] == etag:  # no ETag: always read
            self._known.move_to_end(key)
            return known[1]
        downloaded = await container.download_blob(name)
        raw = await downloaded.readall()
        try:
            signed = SignedCheckpoint.decode(raw)
        except ValueError:
            signed = SignedCheckpoint(raw, b"")
        # Kept under the ETag of the bytes read, not the listed one: if the blob changed in
        # between, the next listing differs from this and it is read again.
        self._known[key] = (_tag(downloaded.properties.etag), signed)
        self._known.move_to_end(key)
        while len(self._known) > KNOWN_CHECKPOINTS:
            self._known.popitem(last=False)
        return signed

    async def _container_client(self, region: str) -> ContainerClient:
        if region not in self._services.regions:
            raise ValueError(f"region {region!r} is not configured")
        container = self._services.client(region).get_container_client(self._container)
        if region not in self._ready_regions:
            async with self._lock:
                if region not in self._ready_regions:
                    with (
                        translated(region, self._container),
                        contextlib.suppress(ResourceExistsError),
                    ):
                        await container.create_container()
                    self._ready_regions.add(region)
        return container


def _tag(etag: str | None) -> str:
    # A listing and a download may quote the same ETag differently.
    return (etag or "").strip('"')
