"""`CheckpointStore` on Azure Blob Storage: one create-only blob per checkpoint, per region.

Checkpoints live in their own container (`custody-checkpoints`) of the case's regional account,
named `<chain>/<sequence, 12 digits>.json`. In production the container has version-level
immutability (WORM), so neither the database's role nor the service can rewrite one; locally
(Azurite) the create-only write is what we can show.
"""

from __future__ import annotations

import asyncio
import contextlib
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
        """Every checkpoint stored for the chain, in sequence order."""
        container = await self._container_client(region)
        found: list[SignedCheckpoint] = []
        prefix = f"{chain}/"
        with translated(region, prefix):
            names = sorted(
                [name async for name in container.list_blob_names(name_starts_with=prefix)]
            )
            for name in names:
                raw = await (await container.download_blob(name)).readall()
                try:
                    found.append(SignedCheckpoint.decode(raw))
                except ValueError:
                    found.append(SignedCheckpoint(raw, b""))
        return found

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
