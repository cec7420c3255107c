"""The continuity bundle written as a ZIP file on disk, exhibit files streamed into it.

The ZIP is built in a file the caller names (a temporary file): exhibit files go in chunk by
chunk as the evidence store reads them, never whole in memory, and are hashed on the way so the
statement can say whether the copy matches the intake hash. `manifest.sha256` is written last
and covers every other file.
"""

from __future__ import annotations

import asyncio
import hashlib
import zipfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from evidence.checkpoints import SignedCheckpoint, file_stem
from evidence.continuity import (
    CUSTODY_CSV,
    CUSTODY_JSONL,
    MANIFEST,
    PUBLIC_KEY,
    README,
    STATEMENT,
    VERIFIER,
    ExportScope,
    bundle_file_name,
    check_checkpoints,
    continuity_statement,
    custody_csv,
    custody_jsonl,
    manifest_text,
    readme_text,
)
from evidence.model import Exhibit

VERIFIER_SOURCE = Path(__file__).with_name("verify_bundle.py")
HASH_BLOCK = 1024 * 1024

ReadExhibit = Callable[[Exhibit], AsyncIterator[bytes]]


@dataclass(frozen=True, slots=True)
class CheckpointKey:
    """What the bundle says about the checkpoint key: its id, public key and how to verify."""

    key_id: str
    public_key_pem: bytes
    verify: Callable[[SignedCheckpoint], bool]


@dataclass(frozen=True, slots=True)
class BuiltBundle:
    """A bundle written to `path`, and what identifies it on the record."""

    path: Path
    sha256: str
    size: int
    chain_ok: bool


async def write_bundle(
    path: Path,
    scope: ExportScope,
    checkpoints: Sequence[SignedCheckpoint],
    key: CheckpointKey,
    *,
    read_exhibit: ReadExhibit,
    now: datetime,
) -> BuiltBundle:
    """Write the case's continuity bundle to `path` (created or replaced)."""
    digests: list[tuple[str, str]] = []
    checks = check_checkpoints(scope.case.id, scope.entries, checkpoints, key.verify)
    moment = now.astimezone(UTC).timetuple()[:6]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:

        def put(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=moment)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
            digests.append((name, hashlib.sha256(data).hexdigest()))

        refs = {exhibit.id: str(exhibit.ref) for exhibit in scope.all_exhibits}
        put(CUSTODY_JSONL, custody_jsonl(scope.entries))
        put(CUSTODY_CSV, custody_csv(scope.entries, refs))
        for signed in checkpoints:
            try:
                stem = file_stem(signed.checkpoint.sequence)
            except ValueError:
                stem = f"unreadable-{hashlib.sha256(signed.payload).hexdigest()[:12]}"
            put(f"checkpoints/{stem}.json", signed.payload)
            put(f"checkpoints/{stem}.sig", signed.signature)
        put(PUBLIC_KEY, key.public_key_pem)
        copies: dict[str, str] = {}
        if scope.with_files:
            for exhibit in scope.exhibits:
                name = bundle_file_name(exhibit)
                copies[exhibit.id] = await _stream_into(
                    archive, name, moment, read_exhibit(exhibit)
                )
                digests.append((name, copies[exhibit.id]))
        statement = continuity_statement(scope, checks, key_id=key.key_id, now=now, copies=copies)
        # Imported here: the PDF library (fpdf2, fontTools, Pillow) is a second of start-up
        # that only an export needs.
        from documents.statement_pdf import render_statement

        put(STATEMENT, await asyncio.to_thread(render_statement, statement))
        put(VERIFIER, VERIFIER_SOURCE.read_bytes())
        stems = [name[len("checkpoints/") : -len(".json")] for name, _ in digests
                 if name.startswith("checkpoints/") and name.endswith(".json")]  # fmt: skip
        put(README, readme_text(scope.case, key.key_id, stems, now).encode("utf-8"))
        put(MANIFEST, manifest_text(digests))
    digest, size = await asyncio.to_thread(_hash_file, path)
    return BuiltBundle(path, digest, size, statement.chain_ok)


async def _stream_into(
    archive: zipfile.ZipFile,
    name: str,
    moment: tuple[int, int, int, int, int, int],
    chunks: AsyncIterator[bytes],
) -> str:
    """Copy `chunks` into the archive as `name` (stored, not compressed); their SHA-256."""
    info = zipfile.ZipInfo(name, date_time=moment)
    info.compress_type = zipfile.ZIP_STORED  # evidence is mostly compressed media already
    digest = hashlib.sha256()
    with archive.open(info, "w", force_zip64=True) as member:
        async for chunk in chunks:
            digest.update(chunk)
            await asyncio.to_thread(member.write, chunk)
    return digest.hexdigest()


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while block := file.read(HASH_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size
