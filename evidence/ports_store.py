"""The evidence store port: evidence bytes, committed once, in the case's region."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Protocol

from evidence.stored_blob import StoredBlob

Progress = Callable[[int], Awaitable[None]]


class EvidenceStore(Protocol):
    """Blob storage per region; every method raises `StoreUnavailable` if storage is down."""

    @property
    def regions(self) -> tuple[str, ...]:
        """The regions this store can write to."""
        ...

    async def put(
        self,
        region: str,
        blob_name: str,
        chunks: AsyncIterator[bytes],
        *,
        content_type: str,
        metadata: Mapping[str, str],
        tags: Mapping[str, str],
        quick_xor: bool = False,
        max_size: int | None = None,
        on_progress: Progress | None = None,
    ) -> StoredBlob:
        """Stream `chunks` into a new blob, hashing on the way; commit only if none exists.

        Raises `BlobExists` (nothing overwritten), `EvidenceTooLarge` or `EmptyEvidence` (nothing
        committed). `on_progress` gets the bytes stored so far, increasing.
        """
        ...

    async def describe(self, region: str, blob_name: str) -> StoredBlob | None:
        """What was recorded when the blob was committed, or None if there is no such blob.

        Raises `UnrecognisedBlob` when the blob lacks the store's metadata.
        """
        ...

    async def rehash(self, region: str, blob_name: str, *, quick_xor: bool = False) -> StoredBlob:
        """Read the stored bytes again and hash them now. Raises `BlobMissing`."""
        ...

    async def read_head(self, region: str, blob_name: str, length: int) -> bytes:
        """The first `length` bytes of a committed blob (to sniff its type); or `BlobMissing`."""
        ...

    async def add_tags(self, region: str, blob_name: str, tags: Mapping[str, str]) -> None:
        """Add index tags to a committed blob (tags may change after commit; metadata cannot)."""
        ...

    async def exists(self, region: str, blob_name: str) -> bool:
        """Whether a committed blob has this name in this region."""
        ...

    async def locate(self, blob_name: str) -> tuple[str, ...]:
        """Every region whose storage holds a committed blob of this name (residency proof)."""
        ...

    async def discard_uncommitted(self, region: str, blob_name: str) -> bool:
        """Free the staged blocks a refused or failed put left; never touches a committed blob."""
        ...
