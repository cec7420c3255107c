"""The checkpoint public keys Exhibit publishes: the signer's, and earlier ones after a rotation.

A checkpoint names its key by `key_id` (SHA-256 of the key's DER SubjectPublicKeyInfo), so a
published key is found by that id whatever its file is called. Earlier keys are public-key PEM
files kept in a directory: after a key rotation, the previous key's PEM goes there, so that
checkpoints signed before the rotation keep verifying and anyone can fetch the key they name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from evidence.checkpoints import CheckpointSigner, SignedCheckpoint
from signing.local import key_id_of, public_pem, verify_with


class PublishedKeys:
    """Public keys by key id; `current` is the one that signs now."""

    def __init__(
        self, current: ec.EllipticCurvePublicKey, earlier: Mapping[str, ec.EllipticCurvePublicKey]
    ) -> None:
        self._current_id = key_id_of(current)
        self._keys = {**earlier, self._current_id: current}

    @classmethod
    def of(cls, signer: CheckpointSigner, earlier_dir: Path | None = None) -> PublishedKeys:
        """The signer's key and every `*.pem` public key in `earlier_dir` (blocking: at start)."""
        earlier: dict[str, ec.EllipticCurvePublicKey] = {}
        if earlier_dir is not None:
            for path in sorted(earlier_dir.glob("*.pem")):
                key = load_public_key(path.read_bytes(), path.name)
                earlier[key_id_of(key)] = key
        return cls(load_public_key(signer.public_key_pem(), "the signer's key"), earlier)

    @property
    def current_id(self) -> str:
        """The key id of the key that signs now."""
        return self._current_id

    @property
    def key_ids(self) -> frozenset[str]:
        """Every published key id."""
        return frozenset(self._keys)

    def current_pem(self) -> bytes:
        """The PEM of the key that signs now."""
        return public_pem(self._keys[self._current_id])

    def pem(self, key_id: str) -> bytes | None:
        """The PEM of a published key; None for a key id not published."""
        key = self._keys.get(key_id)
        return None if key is None else public_pem(key)

    def verify(self, signed: SignedCheckpoint) -> bool:
        """Whether `signed` verifies with the published key its payload names."""
        try:
            key = self._keys.get(signed.checkpoint.key_id)
        except ValueError:
            return False
        return key is not None and verify_with(key, signed)


def load_public_key(pem: bytes, what: str) -> ec.EllipticCurvePublicKey:
    """An EC P-256 public key from PEM; `ValueError` naming `what` otherwise."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as error:
        raise ValueError(f"{what} is not a PEM public key") from error
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"{what} is not an EC P-256 public key")
    return key
