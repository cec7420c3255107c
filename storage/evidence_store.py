"""Evidence bytes in regional Blob storage: streamed, hashed in the same pass, committed once.

A put re-chunks the source into fixed-size blocks, hashes each block (SHA-256, QuickXorHash
when asked) and stages up to `concurrency` blocks at a time; memory stays near
`(concurrency + 1) * block_size` however large the file. The block list is committed
create-only (`If-None-Match: *`) with the hashes as metadata and index tags, so a committed
blob always carries the hashes of exactly its bytes, and an existing blob is never replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from datetime import UTC, datetime

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobBlock, ContentSettings
from azure.storage.blob.aio import BlobClient, ContainerClient

from evidence.errors import (
    BlobExists,
    BlobMissing,
    EmptyEvidence,
    EvidenceTooLarge,
    UnrecognisedBlob,
)
from evidence.hashing import Digests
from evidence.ports import Progress
from evidence.stored_blob import StoredBlob
from storage.blob_errors import error_code, translated
from storage.blobs import RegionalBlobServices
from storage.immutability import RegionImmutability

logger = logging.getLogger(__name__)

BLOCK_SIZE = 8 * 1024 * 1024
CONCURRENCY = 4
MAX_BLOCKS = 50_000  # Azure's limit per blob: 8 MiB blocks allow ~390 GiB (Teams allows 250 GB)

# Metadata the store writes on commit; callers may not set these keys.
META_SHA256 = "sha256"
META_SIZE = "size"
META_QUICK_XOR = "quickxorhash"
RESERVED_METADATA = frozenset({META_SHA256, META_SIZE, META_QUICK_XOR})
TAG_SHA256 = "sha256"  # the only index tag the store adds itself

# Azure's rules: https://learn.microsoft.com/azure/storage/blobs/storage-manage-find-blobs
MAX_TAGS = 10
_TAG_TEXT = re.compile(r"[A-Za-z0-9 +\-./:=_]*")
_METADATA_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a C# identifier
_METADATA_VALUE = re.compile(r"[\x20-\x7e]*")  # sent as an HTTP header: printable ASCII


class BlobEvidenceStore:
    """`EvidenceStore` on Azure Blob Storage: one container per regional account."""

    def __init__(
        self,
        services: RegionalBlobServices,
        container: str = "evidence",
        *,
        block_size: int = BLOCK_SIZE,
        concurrency: int = CONCURRENCY,
        immutability: RegionImmutability | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if block_size <= 0 or concurrency <= 0:
            raise ValueError("block_size and concurrency must be positive")
        self._services = services
        self._container = container
        self._block_size = block_size
        self._concurrency = concurrency
        self._ready_regions: set[str] = set()
        self._container_lock = asyncio.Lock()
        self._immutability = immutability
        self._now = now

    @property
    def regions(self) -> tuple[str, ...]:
        """The regions this store can write to."""
        return self._services.regions

    @property
    def container(self) -> str:
        """The container that holds evidence in every region."""
        return self._container

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

        Raises `BlobExists` (nothing overwritten), `EvidenceTooLarge` or `EmptyEvidence`
        (nothing committed), `StoreUnavailable`/`StoreRejected` when storage fails, and
        `ValueError` for metadata or tags that break Azure's rules. Errors raised by `chunks`
        propagate unchanged, and nothing is committed then either.
        """
        _check_metadata(metadata)
        _check_tags(tags)
        blob = self._blob(region, blob_name)
        with translated(region, blob_name):
            await self._ensure_container(region)
            if await blob.exists():  # fail before reading a byte; the commit checks again
                raise BlobExists(region, blob_name, attempted=None)
        staged = await self._stage_all(region, blob, chunks, quick_xor, max_size, on_progress)
        stored = StoredBlob(region, blob_name, staged.size, staged.sha256, staged.quick_xor_hash)
        with translated(region, blob_name):
            try:
                await blob.commit_block_list(
                    [BlobBlock(block_id) for block_id in staged.block_ids],
                    content_settings=ContentSettings(content_type=content_type),
                    metadata={**metadata, **_recorded_metadata(stored)},
                    tags={**tags, TAG_SHA256: stored.sha256},
                    match_condition=MatchConditions.IfMissing,
                )
            except (ResourceExistsError, ResourceModifiedError) as err:
                raise BlobExists(region, blob_name, attempted=stored) from err
            except HttpResponseError as err:
                # A blob committed meanwhile drops our uncommitted blocks; the service may then
                # report the block list rather than the condition.
                if error_code(err) == "InvalidBlockList" and await blob.exists():
                    raise BlobExists(region, blob_name, attempted=stored) from err
                raise
        logger.info("committed blob %s in %s: %d bytes", blob_name, region, stored.size)
        return stored

    async def describe(self, region: str, blob_name: str) -> StoredBlob | None:
        """What was recorded when the blob was committed, or None if there is no such blob.

        Size and hashes come from the metadata written on commit; `rehash` measures them anew.
        """
        with translated(region, blob_name):
            try:
                properties = await self._blob(region, blob_name).get_blob_properties()
            except ResourceNotFoundError:
                return None
        recorded = {key.lower(): value for key, value in (properties.metadata or {}).items()}
        for key in (META_SHA256, META_SIZE):
            if not recorded.get(key):
                raise UnrecognisedBlob(region, blob_name, missing=key)
        if not recorded[META_SIZE].isdigit():
            raise UnrecognisedBlob(region, blob_name, missing=META_SIZE)
        return StoredBlob(
            region,
            blob_name,
            int(recorded[META_SIZE]),
            recorded[META_SHA256],
            recorded.get(META_QUICK_XOR),
        )

    async def rehash(
        self,
        region: str,
        blob_name: str,
        *,
        quick_xor: bool = False,
        on_progress: Progress | None = None,
    ) -> StoredBlob:
        """Read the stored bytes again, chunk by chunk, and hash them now."""
        digests = Digests(quick_xor=quick_xor)
        with translated(region, blob_name):
            try:
                # the downloader pins the blob's ETag: a change mid-read fails, never mixes
                download = await self._blob(region, blob_name).download_blob(max_concurrency=1)
            except ResourceNotFoundError as err:
                raise BlobMissing(region, blob_name) from err
            async for chunk in download.chunks():
                digests.update(chunk)
                if on_progress is not None:
                    await on_progress(digests.size)
        return StoredBlob(region, blob_name, digests.size, digests.sha256, digests.quick_xor_hash)

    async def read(self, region: str, blob_name: str) -> AsyncIterator[bytes]:
        """The committed blob's bytes, chunk by chunk, as one consistent version."""
        with translated(region, blob_name):
            try:
                download = await self._blob(region, blob_name).download_blob(max_concurrency=1)
            except ResourceNotFoundError as err:
                raise BlobMissing(region, blob_name) from err
            async for chunk in download.chunks():
                yield chunk

    async def read_head(self, region: str, blob_name: str, length: int) -> bytes:
        """The first `length` bytes of a committed blob (to sniff its type)."""
        with translated(region, blob_name):
            try:
                download = await self._blob(region, blob_name).download_blob(
                    offset=0, length=length
                )
            except ResourceNotFoundError as err:
                raise BlobMissing(region, blob_name) from err
            return bytes(await download.readall())

    async def add_tags(self, region: str, blob_name: str, tags: Mapping[str, str]) -> None:
        """Add index tags to a committed blob (tags may change after commit; metadata cannot)."""
        _check_tags(tags)
        blob = self._blob(region, blob_name)
        with translated(region, blob_name):
            merged = {**await blob.get_blob_tags(), **tags}
            if len(merged) > MAX_TAGS:
                raise ValueError(f"{blob_name} would have more than {MAX_TAGS} index tags")
            await blob.set_blob_tags(merged)

    async def exists(self, region: str, blob_name: str) -> bool:
        """Whether a committed blob has this name in this region."""
        with translated(region, blob_name):
            return bool(await self._blob(region, blob_name).exists())

    async def locate(self, blob_name: str) -> tuple[str, ...]:
        """Every region whose storage holds a committed blob of this name (residency proof)."""
        found = await asyncio.gather(*(self.exists(region, blob_name) for region in self.regions))
        return tuple(region for region, present in zip(self.regions, found, strict=True) if present)

    async def discard_uncommitted(self, region: str, blob_name: str) -> bool:
        """Free the staged blocks a refused or failed put left; never touches a committed blob.

        Blob storage has no call for this: an empty block list is committed create-only (which
        drops every uncommitted block) and that empty blob deleted at once. Returns whether
        anything was done. Do not call it while another put of the same name may be running.
        """
        blob = self._blob(region, blob_name)
        with translated(region, blob_name):
            try:
                created = await blob.commit_block_list(
                    [], match_condition=MatchConditions.IfMissing
                )
            except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                return False  # a committed blob (left alone), or no container at all
            await blob.delete_blob(
                etag=str(created["etag"]), match_condition=MatchConditions.IfNotModified
            )
        logger.info("discarded uncommitted blocks of %s in %s", blob_name, region)
        return True

    async def protect(self, region: str, blob_name: str, *, legal_hold: bool) -> None:
        """Retention (and a legal hold if asked) where the region's account supports them."""
        if self._immutability is None or region not in self._services.regions:
            return
        await self._immutability.protect(
            region, self._container, blob_name, now=self._now(), legal_hold=legal_hold
        )

    def _blob(self, region: str, blob_name: str) -> BlobClient:
        if region not in self._services.regions:
            raise ValueError(f"region {region!r} is not configured")
        return self._services.client(region).get_blob_client(self._container, blob_name)

    async def _ensure_container(self, region: str) -> None:
        if region in self._ready_regions:
            return
        async with self._container_lock:
            if region in self._ready_regions:
                return
            container: ContainerClient = self._services.client(region).get_container_client(
                self._container
            )
            with contextlib.suppress(ResourceExistsError):
                await container.create_container()
            self._ready_regions.add(region)

    async def _stage_all(
        self,
        region: str,
        blob: BlobClient,
        chunks: AsyncIterator[bytes],
        quick_xor: bool,
        max_size: int | None,
        on_progress: Progress | None,
    ) -> _Staged:
        """Hash and stage every block, `concurrency` at a time; return the digests and block ids."""
        staged = _Staged(quick_xor=quick_xor)
        # A random prefix per attempt: two puts of one name never stage over each other's blocks.
        attempt = secrets.token_hex(8)
        in_flight: set[asyncio.Task[int]] = set()
        stored = reported = 0

        async def collect(*, until: int) -> None:
            """Wait until at most `until` blocks are in flight; raise the first failure."""
            nonlocal stored, reported
            while len(in_flight) > until:
                done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    in_flight.discard(task)
                    stored += task.result()
            if on_progress is not None and stored > reported:
                reported = stored
                await on_progress(stored)

        try:
            async with contextlib.aclosing(_blocks(chunks, self._block_size)) as blocks:
                while True:
                    # Free a slot before reading on: at most `concurrency` blocks in memory.
                    await collect(until=self._concurrency - 1)
                    block = await anext(blocks, None)
                    if block is None:
                        break
                    staged.update(block)
                    if max_size is not None and staged.size > max_size:
                        raise EvidenceTooLarge(
                            region, blob.blob_name, limit=max_size, received=staged.size
                        )
                    if len(staged.block_ids) == MAX_BLOCKS:
                        limit = MAX_BLOCKS * self._block_size
                        raise EvidenceTooLarge(
                            region, blob.blob_name, limit=limit, received=staged.size
                        )
                    block_id = f"{attempt}{len(staged.block_ids):08d}"  # all of equal length
                    staged.block_ids.append(block_id)
                    # aiohttp unshares a BytesIO's buffer (one copy); with no other reference
                    # left to the block, that copy replaces it rather than doubling it.
                    body, size = io.BytesIO(block), len(block)
                    del block
                    in_flight.add(
                        asyncio.create_task(
                            _stage_block(region, blob, block_id, body, size), name=block_id
                        )
                    )
                    del body
            await collect(until=0)
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
        if staged.size == 0:
            raise EmptyEvidence(region, blob.blob_name)
        return staged


class _Staged(Digests):
    """Digests of the stream so far, and the ids of the blocks staged for it, in order."""

    __slots__ = ("block_ids",)

    def __init__(self, *, quick_xor: bool) -> None:
        super().__init__(quick_xor=quick_xor)
        self.block_ids: list[str] = []


async def _stage_block(
    region: str, blob: BlobClient, block_id: str, body: io.BytesIO, size: int
) -> int:
    # As a stream, aiohttp sends the block 64 KiB at a time; as bytes, the event loop's transport
    # would copy the unsent part of every block in flight (and aiohttp warns about it).
    with translated(region, blob.blob_name):
        await blob.stage_block(block_id, body, length=size)
    return size


async def _blocks(chunks: AsyncIterator[bytes], block_size: int) -> AsyncGenerator[bytes, None]:
    """Re-cut a stream of any-sized chunks into `block_size` blocks (the last may be shorter)."""
    pieces: list[memoryview] = []
    filled = 0
    async for chunk in chunks:
        view = memoryview(chunk)
        while view:
            take = min(len(view), block_size - filled)
            pieces.append(view[:take])
            filled += take
            view = view[take:]
            if filled == block_size:
                filled = 0
                yield _joined(pieces)  # no local name: this frame must not outlive the block
    if filled:
        yield _joined(pieces)


def _joined(pieces: list[memoryview]) -> bytes:
    """The pieces as one block; the list is emptied so the source's chunks can go."""
    block = b"".join(pieces)
    pieces.clear()
    return block


def _recorded_metadata(stored: StoredBlob) -> dict[str, str]:
    recorded = {META_SHA256: stored.sha256, META_SIZE: str(stored.size)}
    if stored.quick_xor_hash is not None:
        recorded[META_QUICK_XOR] = stored.quick_xor_hash
    return recorded


def _check_metadata(metadata: Mapping[str, str]) -> None:
    for key, value in metadata.items():
        if not _METADATA_KEY.fullmatch(key):
            raise ValueError(f"metadata key {key!r} is not an identifier")
        if key.lower() in RESERVED_METADATA:
            raise ValueError(f"metadata key {key!r} is the store's own")
        if not _METADATA_VALUE.fullmatch(value):
            raise ValueError(f"metadata {key!r}: only printable ASCII can be stored")


def _check_tags(tags: Mapping[str, str]) -> None:
    if len(tags) + 1 > MAX_TAGS:  # the store adds its sha256 tag
        raise ValueError(f"at most {MAX_TAGS - 1} index tags (the store adds {TAG_SHA256!r})")
    for key, value in tags.items():
        if key == TAG_SHA256:
            raise ValueError(f"index tag {key!r} is the store's own")
        if not 1 <= len(key) <= 128 or not _TAG_TEXT.fullmatch(key):
            raise ValueError(f"index tag key {key!r}: 1-128 of A-Z a-z 0-9 space + - . / : = _")
        if len(value) > 256 or not _TAG_TEXT.fullmatch(value):
            raise ValueError(
                f"index tag {key!r}: value of 0-256 of A-Z a-z 0-9 space + - . / : = _"
            )
