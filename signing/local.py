"""`CheckpointSigner` with an EC P-256 private key in a PEM file (development and tests).

Production signs in Key Vault, where the private key never leaves the vault; a key file is for a
developer's machine, where `ensure_key_file` creates one on first run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from evidence.checkpoints import SignedCheckpoint


def key_id_of(public_key: ec.EllipticCurvePublicKey) -> str:
    """SHA-256 (hex) of the DER SubjectPublicKeyInfo (`openssl pkey -pubin -outform DER`)."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def public_pem(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The key as PEM SubjectPublicKeyInfo."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def verify_with(public_key: ec.EllipticCurvePublicKey, signed: SignedCheckpoint) -> bool:
    """Whether `signed.signature` (DER) is the key's ECDSA-SHA256 signature over the payload."""
    try:
        public_key.verify(signed.signature, signed.payload, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


class LocalKeySigner:
    """Signs with a P-256 private key held in memory, read from a PEM file."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("the checkpoint key must be an EC P-256 key")
        self._private_key = private_key
        self._public_key = private_key.public_key()
        self._key_id = key_id_of(self._public_key)

    @classmethod
    def from_file(cls, path: Path) -> LocalKeySigner:
        """The signer whose unencrypted PKCS#8 PEM private key is in `path`."""
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path.name} does not hold an EC private key")
        return cls(key)

    @property
    def key_id(self) -> str:
        """SHA-256 (hex) of the public key's DER SubjectPublicKeyInfo."""
        return self._key_id

    async def sign(self, payload: bytes) -> bytes:
        """ECDSA P-256 over SHA-256 of `payload`, DER-encoded."""
        return self._private_key.sign(payload, ec.ECDSA(hashes.SHA256()))

    def public_key_pem(self) -> bytes:
        """The public key, PEM."""
        return public_pem(self._public_key)

    def verify(self, signed: SignedCheckpoint) -> bool:
        """Whether `signed` carries this key's signature over its payload."""
        return verify_with(self._public_key, signed)


def ensure_key_file(path: Path) -> Path:
    """Create a new P-256 key in `path` (mode 0600) unless a file is there; never overwrite."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Written whole under a temporary name, then linked into place (link never replaces): a
    # worker starting beside the bot never reads a half-written key, and never replaces one.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
