"""Signed checkpoints: a case chain's head, signed and kept where the database cannot rewrite it.

A checkpoint says "chain C had N entries and entry N hashed to H at time T", signed with the
force's checkpoint key (ECDSA P-256 over SHA-256; Key Vault in production, a key file in
development). Checkpoints are written create-only to a store in the case's region that the
database's role cannot change, so someone who can rewrite every row still cannot make a
shortened or rewritten chain agree with the checkpoints already taken.

The encoding is fixed here because courts check it without Exhibit: `payload` is the exact
byte string that was signed (sorted-key, compact, UTF-8 JSON), and `signature` is DER, which is
what `openssl dgst -sha256 -verify public_key.pem -signature N.sig N.json` checks.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

CHECKPOINT_FORMAT = 1
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A chain's head at one moment, as signed."""

    chain: str  # the case id (custody chains are per case)
    sequence: int  # the chain's last entry when the checkpoint was taken
    entry_hash: str  # that entry's hash, hex
    at: datetime  # when the checkpoint was taken
    key_id: str  # SHA-256 (hex) of the signing key's DER SubjectPublicKeyInfo

    def payload(self) -> bytes:
        """The bytes that are signed: canonical JSON of every field and the format number."""
        document = {
            "format": CHECKPOINT_FORMAT,
            "chain": self.chain,
            "sequence": self.sequence,
            "entry_hash": self.entry_hash,
            "at": self.at.astimezone(UTC).strftime(TIME_FORMAT),
            "key_id": self.key_id,
        }
        return json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")

    @classmethod
    def from_payload(cls, payload: bytes) -> Checkpoint:
        """The checkpoint a payload encodes; `ValueError` if it is not one."""
        try:
            document = json.loads(payload.decode("utf-8"))
            if document["format"] != CHECKPOINT_FORMAT:
                raise ValueError(f"unknown checkpoint format {document['format']!r}")
            checkpoint = cls(
                chain=str(document["chain"]),
                sequence=int(document["sequence"]),
                entry_hash=str(document["entry_hash"]),
                at=datetime.strptime(document["at"], TIME_FORMAT).replace(tzinfo=UTC),
                key_id=str(document["key_id"]),
            )
        except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError("not a checkpoint") from error
        if checkpoint.payload() != payload:
            raise ValueError("checkpoint payload is not in canonical form")
        return checkpoint


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint with its signature, exactly as stored and exported."""

    payload: bytes  # `Checkpoint.payload()`, the signed bytes
    signature: bytes  # ECDSA P-256 / SHA-256, DER

    @property
    def checkpoint(self) -> Checkpoint:
        """What the payload says (`ValueError` if it says nothing sensible)."""
        return Checkpoint.from_payload(self.payload)

    def encode(self) -> bytes:
        """The stored form: a small JSON document holding both parts."""
        return json.dumps(
            {
                "payload": self.payload.decode("utf-8"),
                "signature": base64.b64encode(self.signature).decode("ascii"),
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode("utf-8")

    @classmethod
    def decode(cls, stored: bytes) -> SignedCheckpoint:
        """The signed checkpoint a stored document holds; `ValueError` if it holds none."""
        try:
            document = json.loads(stored.decode("utf-8"))
            return cls(
                payload=str(document["payload"]).encode("utf-8"),
                signature=base64.b64decode(str(document["signature"]), validate=True),
            )
        except (KeyError, TypeError, UnicodeDecodeError, ValueError) as error:
            raise ValueError("not a stored checkpoint") from error


def file_stem(sequence: int) -> str:
    """How a checkpoint's files are named in stores and exports: zero-padded sequence."""
    return f"{sequence:012d}"


class CheckpointSigner(Protocol):
    """The checkpoint key: signs in Key Vault (production) or with a local key file."""

    @property
    def key_id(self) -> str:
        """SHA-256 (hex) of the public key's DER SubjectPublicKeyInfo."""
        ...

    async def sign(self, payload: bytes) -> bytes:
        """ECDSA P-256 over SHA-256 of `payload`, DER-encoded."""
        ...

    def public_key_pem(self) -> bytes:
        """The public key, PEM (SubjectPublicKeyInfo): published on a route and in exports."""
        ...

    def verify(self, signed: SignedCheckpoint) -> bool:
        """Whether `signed.signature` is this key's signature over `signed.payload`."""
        ...


class CheckpointStore(Protocol):
    """Where checkpoints are kept: create-only, in the case's region, outside the database.

    Every method raises `StoreUnavailable` if storage is down.
    """

    async def put(self, region: str, signed: SignedCheckpoint) -> bool:
        """Write a new checkpoint; False (nothing changed) if one exists for that sequence."""
        ...

    async def checkpoints(self, region: str, chain: str) -> Sequence[SignedCheckpoint]:
        """Every checkpoint stored for the chain, in sequence order.

        A stored document that does not decode comes back as `SignedCheckpoint(raw, b"")`, so
        that verification reports it as an invalid signature rather than ignoring it.
        """
        ...
