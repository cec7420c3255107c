"""BlobEvidenceStore against Azurite: hashes, create-only commits, limits, regions, outages."""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob.aio import BlobClient

from devtools.devstack import Children, Ports, make_accounts, start_azurite
from evidence.errors import (
    BlobExists,
    BlobMissing,
    EmptyEvidence,
    EvidenceTooLarge,
    StoreUnavailable,
    UnrecognisedBlob,
)
from evidence.hashing import QuickXorHash
from evidence.ports import EvidenceStore
from evidence.stored_blob import StoredBlob
from storage.blobs import ClientPolicy, RegionAccount, RegionalBlobServices, blob_service
from storage.evidence_store import BlobEvidenceStore
from tests.conftest import Azurite

BLOCK = 256 * 1024  # small blocks: many of them, quickly
RANDOM = random.Random(7)
TAGS = {"case": "MET-24-0001", "exhibit": "JS/1"}
META = {"case_id": "c-1", "original_name": "interview%20notes.pdf"}


async def stream(data: bytes, chunk_size: int = 65_537) -> AsyncIterator[bytes]:
    """`data` in chunks of an awkward size, as a download would yield it."""
    for at in range(0, len(data), chunk_size):
        yield data[at : at + chunk_size]
        await asyncio.sleep(0)


def services_for(
    connection_strings: Iterable[tuple[str, str]], policy: ClientPolicy | None = None
) -> RegionalBlobServices:
    return RegionalBlobServices(
        {
            region: blob_service(
                RegionAccount(region, connection_string=conn), policy=policy or ClientPolicy()
            )
            for region, conn in connection_strings
        }
    )


@pytest.fixture
async def services(azurite: Azurite) -> AsyncIterator[RegionalBlobServices]:
    regional = services_for((r, azurite.connection_string(r)) for r in ("uksouth", "ukwest"))
    yield regional
    await regional.aclose()


@pytest.fixture
def container() -> str:
    """A container of its own for each test."""
    return f"evidence-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(services: RegionalBlobServices, container: str) -> BlobEvidenceStore:
    return BlobEvidenceStore(services, container, block_size=BLOCK, concurrency=3)


async def put(
    store: BlobEvidenceStore, data: bytes, name: str = "case-1/JS-1", region: str = "uksouth"
) -> StoredBlob:
    """Put `data` with the usual attributes."""
    return await store.put(
        region, name, stream(data), content_type="application/pdf", metadata=META, tags=TAGS
    )


async def read_back(
    services: RegionalBlobServices, region: str, container: str, name: str
) -> bytes:
    blob = services.client(region).get_blob_client(container, name)
    return await (await blob.download_blob()).readall()


async def staged_bytes(blob: BlobClient) -> int:
    """Bytes in the blob's uncommitted blocks."""
    try:
        _, uncommitted = await blob.get_block_list("uncommitted")
    except ResourceNotFoundError:
        return 0
    return sum(block.size for block in uncommitted)


def test_blob_store_satisfies_the_port(store: BlobEvidenceStore) -> None:
    port: EvidenceStore = store
    assert port.regions == ("uksouth", "ukwest")


@pytest.mark.parametrize(
    "size", [1, BLOCK - 1, BLOCK, BLOCK + 1, 5 * BLOCK + 17], ids=lambda s: f"{s}B"
)
async def test_round_trip_hashes_like_hashlib(
    store: BlobEvidenceStore, services: RegionalBlobServices, container: str, size: int
) -> None:
    data = RANDOM.randbytes(size)
    stored = await store.put(
        "uksouth", "case-1/JS-1", stream(data), content_type="image/jpeg", metadata={}, tags={}
    )
    assert (stored.size, stored.sha256) == (size, hashlib.sha256(data).hexdigest())
    assert stored.quick_xor_hash is None
    assert await read_back(services, "uksouth", container, "case-1/JS-1") == data
    assert await store.describe("uksouth", "case-1/JS-1") == stored
    assert await store.rehash("uksouth", "case-1/JS-1") == stored


async def test_default_blocks_of_8_mib(services: RegionalBlobServices, container: str) -> None:
    store = BlobEvidenceStore(services, container)
    data = RANDOM.randbytes(2 * 8 * 1024 * 1024 + 1)
    stored = await put(store, data)
    assert stored == await store.rehash("uksouth", "case-1/JS-1")
    assert stored.sha256 == hashlib.sha256(data).hexdigest()


async def test_quick_xor_in_the_same_pass(store: BlobEvidenceStore) -> None:
    data = RANDOM.randbytes(3 * BLOCK + 5)
    one_shot = QuickXorHash()
    one_shot.update(data)
    stored = await store.put(
        "uksouth", "sp/1", stream(data, 1_000), content_type="video/mp4",
        metadata={}, tags={}, quick_xor=True,
    )  # fmt: skip
    assert stored.quick_xor_hash == one_shot.digest_base64()
    assert await store.describe("uksouth", "sp/1") == stored
    assert await store.rehash("uksouth", "sp/1", quick_xor=True) == stored


async def test_an_existing_blob_is_never_replaced(
    store: BlobEvidenceStore, services: RegionalBlobServices, container: str
) -> None:
    first, second = RANDOM.randbytes(BLOCK + 3), RANDOM.randbytes(BLOCK + 3)
    stored = await put(store, first)
    consumed: list[bytes] = []

    async def watched() -> AsyncIterator[bytes]:
        async for chunk in stream(second):
            consumed.append(chunk)
            yield chunk

    with pytest.raises(BlobExists) as caught:
        await store.put(
            "uksouth", "case-1/JS-1", watched(), content_type="x/y", metadata={}, tags={}
        )
    assert caught.value.attempted is None
    assert consumed == []  # refused before reading the source
    assert await read_back(services, "uksouth", container, "case-1/JS-1") == first
    assert await store.describe("uksouth", "case-1/JS-1") == stored


async def test_a_blob_committed_meanwhile_wins_and_the_put_says_what_it_measured(
    store: BlobEvidenceStore, services: RegionalBlobServices, container: str
) -> None:
    ours, theirs = RANDOM.randbytes(2 * BLOCK), b"committed by someone else"
    blob = services.client("uksouth").get_blob_client(container, "race/1")

    async def racing() -> AsyncIterator[bytes]:
        yield ours[:BLOCK]
        # lands between our pre-check and our commit (overwrite: Azurite counts staged blocks
        # as an existing blob for Put Blob's create-only condition)
        await blob.upload_blob(theirs, overwrite=True)
        yield ours[BLOCK:]

    with pytest.raises(BlobExists) as caught:
        await store.put("uksouth", "race/1", racing(), content_type="x/y", metadata={}, tags={})
    attempted = caught.value.attempted
    assert attempted is not None
    assert attempted.sha256 == hashlib.sha256(ours).hexdigest()
    assert await read_back(services, "uksouth", container, "race/1") == theirs


async def test_concurrent_puts_of_one_name_never_mix_blocks(
    store: BlobEvidenceStore, services: RegionalBlobServices, container: str
) -> None:
    a, b = RANDOM.randbytes(4 * BLOCK), RANDOM.randbytes(4 * BLOCK)
    results = await asyncio.gather(
        put(store, a, "same"), put(store, b, "same"), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["BlobExists", "StoredBlob"]
    assert await read_back(services, "uksouth", container, "same") in (a, b)


async def test_size_limit_aborts_before_commit(
    store: BlobEvidenceStore, services: RegionalBlobServices, container: str
) -> None:
    data = RANDOM.randbytes(6 * BLOCK)
    with pytest.raises(EvidenceTooLarge) as caught:
        await store.put(
            "uksouth", "big/1", stream(data), content_type="x/y", metadata={}, tags={},
            max_size=3 * BLOCK + 1,
        )  # fmt: skip
    assert caught.value.limit == 3 * BLOCK + 1
    assert caught.value.received <= 4 * BLOCK  # stopped within a block of the limit
    assert not await store.exists("uksouth", "big/1")
    assert await store.describe("uksouth", "big/1") is None
    listed = services.client("uksouth").get_container_client(container).list_blobs()
    assert [b.name async for b in listed] == []
    blob = services.client("uksouth").get_blob_client(container, "big/1")
    assert await staged_bytes(blob) <= 3 * BLOCK + 1  # no block past the limit was staged
    assert await store.discard_uncommitted("uksouth", "big/1")
    assert await staged_bytes(blob) == 0
    assert not await store.exists("uksouth", "big/1")
    exact = await store.put(
        "uksouth", "big/1", stream(data), content_type="x/y", metadata={}, tags={},
        max_size=len(data),
    )  # fmt: skip
    assert exact.size == len(data)
    assert not await store.discard_uncommitted("uksouth", "big/1")  # committed: left alone
    assert await store.rehash("uksouth", "big/1") == exact


@pytest.mark.parametrize("chunks", [[], [b"", b""]], ids=["nothing", "empty-chunks"])
async def test_zero_bytes_are_refused(store: BlobEvidenceStore, chunks: list[bytes]) -> None:
    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    with pytest.raises(EmptyEvidence):
        await store.put("uksouth", "empty", source(), content_type="x/y", metadata={}, tags={})
    assert not await store.exists("uksouth", "empty")


async def test_metadata_content_type_and_index_tags(
    store: BlobEvidenceStore, services: RegionalBlobServices, container: str
) -> None:
    data = RANDOM.randbytes(1234)
    case = f"MET-24-{uuid.uuid4().hex[:6]}"
    stored = await store.put(
        "uksouth", "case-1/JS-2", stream(data), content_type="application/pdf",
        metadata=META, tags={"case": case, "exhibit": "JS/2"},
    )  # fmt: skip
    blob = services.client("uksouth").get_blob_client(container, "case-1/JS-2")
    properties = await blob.get_blob_properties()
    assert properties.content_settings.content_type == "application/pdf"
    assert properties.metadata == {**META, "sha256": stored.sha256, "size": "1234"}
    assert await blob.get_blob_tags() == {"case": case, "exhibit": "JS/2", "sha256": stored.sha256}
    query = f"\"case\" = '{case}' AND \"exhibit\" = 'JS/2'"
    found = [b async for b in services.client("uksouth").find_blobs_by_tags(query)]
    assert [(b.container_name, b.name) for b in found] == [(container, "case-1/JS-2")]


@pytest.mark.parametrize(
    ("metadata", "tags"),
    [
        ({}, {f"t{i}": "v" for i in range(10)}),  # 10 + the store's sha256 tag
        ({}, {"case": "MET/24#1"}),
        ({}, {"officer": "Zoë"}),
        ({}, {"": "empty key"}),
        ({}, {"sha256": "0" * 64}),
        ({}, {"long": "x" * 257}),
        ({"sha256": "forged"}, {}),
        ({"Size": "1"}, {}),
        ({"original-name": "a"}, {}),
        ({"original_name": "Zoë.pdf"}, {}),
    ],
)
async def test_attributes_breaking_azure_rules_are_refused_before_reading(
    store: BlobEvidenceStore, metadata: dict[str, str], tags: dict[str, str]
) -> None:
    consumed: list[bytes] = []

    async def source() -> AsyncIterator[bytes]:
        consumed.append(b"x")
        yield b"x"

    with pytest.raises(ValueError, match=r"tag|metadata"):
        await store.put(
            "uksouth", "bad", source(), content_type="x/y", metadata=metadata, tags=tags
        )
    assert consumed == []


async def test_evidence_stays_in_its_region(
    store: BlobEvidenceStore, services: RegionalBlobServices
) -> None:
    name = f"west/{uuid.uuid4().hex}"
    await put(store, RANDOM.randbytes(BLOCK + 1), name, region="ukwest")

    async def names_in(region: str) -> set[str]:
        client = services.client(region)
        return {
            f"{c.name}/{b.name}"
            async for c in client.list_containers()
            async for b in client.get_container_client(c.name).list_blobs()
        }

    west, south = await names_in("ukwest"), await names_in("uksouth")
    assert f"{store.container}/{name}" in west
    assert not any(n.endswith(name) for n in south)
    assert await store.locate(name) == ("ukwest",)
    assert not await store.exists("uksouth", name)


async def test_head_and_added_tags(
    store: BlobEvidenceStore, services: RegionalBlobServices, container: str
) -> None:
    data = RANDOM.randbytes(BLOCK + 10)
    stored = await put(store, data)
    assert await store.read_head("uksouth", "case-1/JS-1", 16) == data[:16]
    await store.add_tags("uksouth", "case-1/JS-1", {"exhibit": "JS/9", "unit": "CID"})
    tags = {**TAGS, "exhibit": "JS/9", "unit": "CID", "sha256": stored.sha256}
    blob = services.client("uksouth").get_blob_client(container, "case-1/JS-1")
    assert await blob.get_blob_tags() == tags
    with pytest.raises(ValueError, match="more than 10"):
        await store.add_tags("uksouth", "case-1/JS-1", {f"t{i}": "v" for i in range(7)})
    with pytest.raises(BlobMissing):
        await store.read_head("uksouth", "nowhere", 16)


async def test_rehash_detects_bytes_altered_behind_the_store(
    store: BlobEvidenceStore, services: RegionalBlobServices, container: str
) -> None:
    stored = await put(store, RANDOM.randbytes(3 * BLOCK))
    blob = services.client("uksouth").get_blob_client(container, "case-1/JS-1")
    properties = await blob.get_blob_properties()
    forged = RANDOM.randbytes(3 * BLOCK)
    await blob.upload_blob(forged, overwrite=True, metadata=properties.metadata)  # a careful forger
    assert await store.describe("uksouth", "case-1/JS-1") == stored  # the record still claims...
    now = await store.rehash("uksouth", "case-1/JS-1")  # ...but the bytes say otherwise
    assert now.sha256 == hashlib.sha256(forged).hexdigest() != stored.sha256


async def test_progress_reports_stored_bytes_increasing(store: BlobEvidenceStore) -> None:
    data = RANDOM.randbytes(7 * BLOCK + 99)
    seen: list[int] = []

    async def progress(stored: int) -> None:
        seen.append(stored)

    await store.put(
        "uksouth", "p/1", stream(data), content_type="x/y", metadata={}, tags={},
        on_progress=progress,
    )  # fmt: skip
    assert len(seen) >= 3
    assert seen == sorted(set(seen))
    assert seen[-1] == len(data)


async def test_a_failing_source_commits_nothing(store: BlobEvidenceStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield RANDOM.randbytes(2 * BLOCK)
        raise ConnectionResetError("source went away")

    with pytest.raises(ConnectionResetError):
        await store.put("uksouth", "broken", broken(), content_type="x/y", metadata={}, tags={})
    assert not await store.exists("uksouth", "broken")


async def test_missing_and_foreign_blobs(
    store: BlobEvidenceStore, services: RegionalBlobServices, container: str
) -> None:
    assert await store.describe("ukwest", "nowhere") is None  # container not even created
    assert not await store.exists("ukwest", "nowhere")
    with pytest.raises(BlobMissing):
        await store.rehash("ukwest", "nowhere")
    await put(store, b"x", "mine")  # creates the container
    foreign = services.client("uksouth").get_blob_client(container, "foreign")
    await foreign.upload_blob(b"not through the store")
    with pytest.raises(UnrecognisedBlob) as caught:
        await store.describe("uksouth", "foreign")
    assert caught.value.missing == "sha256"
    with pytest.raises(ValueError, match="not configured"):
        await store.exists("eastus", "mine")


async def test_storage_stopping_mid_stream_is_unavailable(tmp_path: Path) -> None:
    children = Children(tmp_path / "logs")
    ports, accounts = Ports.free(), make_accounts()
    await asyncio.to_thread(start_azurite, children, ports, accounts, None)
    quick = ClientPolicy(connect_timeout=2, read_timeout=5, retries=0, first_backoff=0)
    services = services_for(((a.region, a.connection_string(ports)) for a in accounts), quick)
    store = BlobEvidenceStore(services, block_size=BLOCK, concurrency=2)
    try:
        await put(store, b"before the outage", "ok")

        async def outage() -> AsyncIterator[bytes]:
            yield RANDOM.randbytes(2 * BLOCK)
            await asyncio.to_thread(children.stop)
            for _ in range(4):
                yield RANDOM.randbytes(BLOCK)

        with pytest.raises(StoreUnavailable) as caught:
            await store.put("uksouth", "cut", outage(), content_type="x/y", metadata={}, tags={})
        assert (caught.value.region, caught.value.blob_name) == ("uksouth", "cut")
        with pytest.raises(StoreUnavailable):
            await store.exists("uksouth", "ok")
    finally:
        await services.aclose()
        await asyncio.to_thread(children.stop)
