"""What the evidence store measured while committing a blob."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """What the evidence store measured while committing a blob."""

    region: str
    blob_name: str
    size: int
    sha256: str  # hex
    quick_xor_hash: str | None  # base64, when asked for
