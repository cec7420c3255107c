"""Building a case's continuity bundle from the records' scope, the stores and the key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from documents.bundle import BuiltBundle, CheckpointKey, write_bundle
from evidence.checkpoints import CheckpointSigner, CheckpointStore
from evidence.continuity import ExportScope
from evidence.ports import EvidenceStore


@dataclass(frozen=True, slots=True)
class BundleSources:
    """Where a bundle's parts come from: evidence bytes, checkpoints, the checkpoint key."""

    evidence: EvidenceStore
    checkpoints: CheckpointStore
    signer: CheckpointSigner


async def build_bundle(
    sources: BundleSources, scope: ExportScope, path: Path, *, now: datetime
) -> BuiltBundle:
    """Write the bundle of `scope` to `path`, reading from the case's region only."""
    region = scope.case.region
    stored = await sources.checkpoints.checkpoints(region, scope.case.id)
    key = CheckpointKey(
        key_id=sources.signer.key_id,
        public_key_pem=sources.signer.public_key_pem(),
        verify=sources.signer.verify,
    )
    return await write_bundle(
        path,
        scope,
        stored,
        key,
        read_exhibit=lambda exhibit: sources.evidence.read(region, exhibit.blob_name),
        now=now,
    )
