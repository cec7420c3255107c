"""Continuity bundles waiting to be handed over, in a container of the case's region.

A bundle is written create-only under a random name, with what it discloses as metadata, and
deleted once delivered or declined; whatever is left is deleted after a day (`purge`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, unquote

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import ContainerClient

from evidence.errors import BlobMissing
from storage.blob_errors import translated
from storage.blobs import RegionalBlobServices

BUNDLE_CONTAINER = "custody-exports"


@dataclass(frozen=True, slots=True)
class StoredBundle:
    """A stored bundle's size and what was kept with it."""

    name: str
    size: int
    metadata: dict[str, str]


class BlobBundleStore:
    """Bundles in `custody-exports` of each region's account."""

    def __init__(self, services: RegionalBlobServices, container: str = BUNDLE_CONTAINER) -> None:
        self._services = services
        self._container = container
        self._ready: set[str] = set()
        self._lock = asyncio.Lock()

    async def put(self, region: str, name: str, path: Path, metadata: dict[str, str]) -> None:
        """Upload the file at `path` as `name`, create-only; metadata values may be any text."""
        container = await self._client(region)
        with translated(region, name), path.open("rb") as file:
            await container.upload_blob(
                name,
                file,
                overwrite=True,  # with IfMissing: create-only
                match_condition=MatchConditions.IfMissing,
                metadata={key: quote(value, safe="") for key, value in metadata.items()},
                content_settings=ContentSettings(content_type="application/zip"),
                max_concurrency=2,
            )

    async def describe(self, region: str, name: str) -> StoredBundle | None:
        """The bundle's size and metadata; None when there is none of that name."""
        container = await self._client(region)
        with translated(region, name):
            try:
                properties = await container.get_blob_client(name).get_blob_properties()
            except ResourceNotFoundError:
                return None
        metadata = {key: unquote(value) for key, value in (properties.metadata or {}).items()}
        return StoredBundle(name, int(properties.size), metadata)

    async def read(self, region: str, name: str) -> AsyncIterator[bytes]:
        """The bundle's bytes, chunk by chunk."""
        container = await self._client(region)
        with translated(region, name):
            try:
                download = await container.get_blob_client(name).download_blob(max_concurrency=1)
            except ResourceNotFoundError as err:
                raise BlobMissing(region, name) from err
            async for chunk in download.chunks():
                yield chunk

    async def delete(self, region: str, name: str) -> None:
        """Remove the bundle (nothing if it is gone already)."""
        container = await self._client(region)
        with translated(region, name), contextlib.suppress(ResourceNotFoundError):
            await container.delete_blob(name)

    async def purge(self, region: str, older_than: datetime) -> int:
        """Delete every bundle written before `older_than`; how many."""
        container = await self._client(region)
        removed = 0
        with translated(region, self._container):
            async for blob in container.list_blobs():
                if blob.last_modified is not None and blob.last_modified < older_than:
                    with contextlib.suppress(ResourceNotFoundError):
                        await container.delete_blob(blob.name)
                        removed += 1
        return removed

    async def _client(self, region: str) -> ContainerClient:
        if region not in self._services.regions:
            raise ValueError(f"region {region!r} is not configured")
        container = self._services.client(region).get_container_client(self._container)
        if region not in self._ready:
            async with self._lock:
                if region not in self._ready:
                    with (
                        translated(region, self._container),
                        contextlib.suppress(ResourceExistsError),
                    ):
                        await container.create_container()
                    self._ready.add(region)
        return container
