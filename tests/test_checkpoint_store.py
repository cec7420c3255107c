"""Signed checkpoints: the local key signs what openssl verifies; the Blob store is create-only."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.transport import HttpRequest
from azure.storage.blob.aio import BlobServiceClient

from evidence.checkpoints import Checkpoint, CheckpointSigner, CheckpointStore, SignedCheckpoint
from signing.local import LocalKeySigner, ensure_key_file
from storage.blobs import RegionalBlobServices
from storage.checkpoints import BlobCheckpointStore, checkpoint_blob_name
from tests.conftest import Azurite
from tests.test_evidence_store import services_for

AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def signer(tmp_path: Path) -> LocalKeySigner:
    return LocalKeySigner.from_file(ensure_key_file(tmp_path / "keys" / "checkpoint.pem"))


async def signed(signer: CheckpointSigner, chain: str, sequence: int) -> SignedCheckpoint:
    checkpoint = Checkpoint(chain, sequence, f"{sequence:064x}", AT, signer.key_id)
    payload = checkpoint.payload()
    return SignedCheckpoint(payload, await signer.sign(payload))


async def test_the_key_file_is_private_and_never_replaced(tmp_path: Path) -> None:
    path = ensure_key_file(tmp_path / "k" / "checkpoint.pem")
    first = path.read_bytes()
    assert path.stat().st_mode & 0o777 == 0o600
    assert ensure_key_file(path).read_bytes() == first


async def test_openssl_verifies_the_signature_and_the_key_id(
    signer: LocalKeySigner, tmp_path: Path
) -> None:
    checkpoint = await signed(signer, "case-1", 7)
    openssl = shutil.which("openssl")
    assert openssl is not None
    (tmp_path / "c.json").write_bytes(checkpoint.payload)
    (tmp_path / "c.sig").write_bytes(checkpoint.signature)
    (tmp_path / "public-key.pem").write_bytes(signer.public_key_pem())
    verified = subprocess.run(  # noqa: ASYNC221, S603 (a test: fixed program and arguments)
        [
            openssl,
            "dgst",
            "-sha256",
            "-verify",
            "public-key.pem",
            "-signature",
            "c.sig",
            "c.json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    der = subprocess.run(  # noqa: ASYNC221, S603
        [openssl, "pkey", "-pubin", "-in", "public-key.pem", "-outform", "DER"],
        cwd=tmp_path,
        capture_output=True,
        check=True,
    ).stdout
    assert hashlib.sha256(der).hexdigest() == signer.key_id == checkpoint.checkpoint.key_id


async def test_a_changed_payload_or_signature_does_not_verify(signer: LocalKeySigner) -> None:
    checkpoint = await signed(signer, "case-1", 7)
    assert signer.verify(checkpoint)
    forged = Checkpoint("case-1", 6, f"{6:064x}", AT, signer.key_id).payload()
    assert not signer.verify(SignedCheckpoint(forged, checkpoint.signature))
    flipped = (
        bytes([checkpoint.signature[0], checkpoint.signature[1] ^ 1]) + checkpoint.signature[2:]
    )
    assert not signer.verify(SignedCheckpoint(checkpoint.payload, flipped))
    assert not signer.verify(SignedCheckpoint(checkpoint.payload, b""))


@pytest.fixture
async def services(azurite: Azurite) -> AsyncIterator[RegionalBlobServices]:
    regional = services_for((r, azurite.connection_string(r)) for r in ("uksouth", "ukwest"))
    yield regional
    await regional.aclose()


async def test_checkpoints_are_create_only_and_listed_in_order(
    services: RegionalBlobServices, signer: LocalKeySigner
) -> None:
    store: CheckpointStore = BlobCheckpointStore(services, f"cp-{uuid.uuid4().hex[:12]}")
    chain = uuid.uuid4().hex
    first, later = await signed(signer, chain, 2), await signed(signer, chain, 10)
    assert await store.put("uksouth", later)
    assert await store.put("uksouth", first)
    replacement = await signed(signer, chain, 2)
    assert not await store.put("uksouth", replacement)
    assert await store.checkpoints("uksouth", chain) == [first, later]
    assert await store.checkpoints("ukwest", chain) == []


class BlobReads:
    """A `raw_request_hook`: counts the blob downloads (GETs of one blob, not listings) sent."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, request: PipelineRequest[HttpRequest]) -> None:
        http = request.http_request
        if http.method == "GET" and "comp=list" not in http.url:
            self.paths.append(urlsplit(http.url).path)


async def test_a_checkpoint_is_downloaded_again_only_when_its_blob_changed(
    azurite: Azurite, signer: LocalKeySigner
) -> None:
    reads = BlobReads()
    client = BlobServiceClient.from_connection_string(
        azurite.connection_string("uksouth"), raw_request_hook=reads
    )
    services = RegionalBlobServices({"uksouth": client})
    try:
        store = BlobCheckpointStore(services, f"cp-{uuid.uuid4().hex[:12]}")
        chain = uuid.uuid4().hex
        first, second = await signed(signer, chain, 1), await signed(signer, chain, 2)
        assert await store.put("uksouth", first)
        assert await store.put("uksouth", second)
        assert await store.checkpoints("uksouth", chain) == [first, second]
        assert len(reads.paths) == 2
        assert await store.checkpoints("uksouth", chain) == [first, second]
        assert len(reads.paths) == 2  # listed again, nothing downloaded again

        # Rewritten behind the store's back (possible on Azurite, not under WORM): read again.
        forged = SignedCheckpoint(second.payload, b"not a signature")
        blob = client.get_blob_client(store.container, checkpoint_blob_name(chain, 2))
        await blob.upload_blob(forged.encode(), overwrite=True)
        assert await store.checkpoints("uksouth", chain) == [first, forged]
        assert len(reads.paths) == 3

        await blob.delete_blob()  # and removed: gone from the next read
        assert await store.checkpoints("uksouth", chain) == [first]
        assert len(reads.paths) == 3
    finally:
        await services.aclose()
