"""`CheckpointSigner` with an EC P-256 key in Azure Key Vault (production).

The private key never leaves the vault. At start the public key is read once (`keys/get`) and
turned into the same PEM and key id a key file would give; each checkpoint is then signed by
Key Vault (`keys/sign`, ES256 over the payload's SHA-256) and checked here with the public key
before it is used, so a signature from any other key (a rotated version, a wrong vault) is
never stored. Key Vault returns ES256 signatures as raw R‖S (64 bytes, JWS form); checkpoints
carry DER, which is what `openssl dgst -verify` reads.

The signer is pinned to one key version: with no version configured, the current one at start.
A new version takes effect at the next start, and gets a new key id.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from enum import Enum
from typing import Any, Self

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.keyvault.keys import KeyType, KeyVaultKey
from azure.keyvault.keys.aio import KeyClient
from azure.keyvault.keys.crypto import SignatureAlgorithm
from azure.keyvault.keys.crypto.aio import CryptographyClient
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from evidence.checkpoints import SignedCheckpoint
from evidence.errors import SignerError, SignerRefused, SignerUnavailable
from signing.key_id import KeyVaultKeyId
from signing.local import key_id_of, public_pem, verify_with

logger = logging.getLogger(__name__)

# Key Vault answers in well under a second; past this the checkpoint is retried later.
TIMEOUT_SECONDS = 30.0
_P256_COORDINATE_BYTES = 32
_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class KeyVaultSigner:
    """Signs checkpoints with one version of an EC P-256 key held in Azure Key Vault."""

    def __init__(
        self, client: CryptographyClient, public_key: ec.EllipticCurvePublicKey, vault_key: str
    ) -> None:
        self._client = client
        self._public_key = public_key
        self._key_id = key_id_of(public_key)
        self._vault_key = vault_key

    @classmethod
    async def open(
        cls, key: KeyVaultKeyId, credential: AsyncTokenCredential, **client_options: Any
    ) -> Self:
        """Read the key's public half (`keys/get`) and pin the signer to that version.

        `client_options` go to the Key Vault clients (azure-core options such as `transport`).
        Raises `SignerUnavailable` if the vault does not answer, `SignerRefused` if it refuses
        or the key is not an EC P-256 signing key.
        """
        async with KeyClient(key.vault_url, credential, **client_options) as keys:
            try:
                async with asyncio.timeout(TIMEOUT_SECONDS):
                    found = await keys.get_key(key.name, key.version)
            except (AzureError, TimeoutError, ValueError) as error:
                raise _translated(error, "reading the checkpoint key") from error
        public_key = _public_key(found)  # before any client is left open
        signer = cls(CryptographyClient(found, credential, **client_options), public_key, found.id)
        logger.info("Checkpoint key %s is Key Vault key %s", signer.key_id, signer.vault_key)
        return signer

    @property
    def key_id(self) -> str:
        """SHA-256 (hex) of the public key's DER SubjectPublicKeyInfo."""
        return self._key_id

    @property
    def vault_key(self) -> str:
        """The Key Vault identifier of the pinned key version (not secret)."""
        return self._vault_key

    async def sign(self, payload: bytes) -> bytes:
        """ECDSA P-256 over SHA-256 of `payload`, signed in Key Vault, DER-encoded and checked."""
        digest = hashlib.sha256(payload).digest()
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                result = await self._client.sign(SignatureAlgorithm.es256, digest)
        except (AzureError, TimeoutError, ValueError) as error:
            raise _translated(error, "signing a checkpoint") from error
        raw = result.signature
        if len(raw) != 2 * _P256_COORDINATE_BYTES:
            raise SignerRefused(f"Key Vault returned a {len(raw)}-byte ES256 signature, not 64")
        der = encode_dss_signature(
            int.from_bytes(raw[:_P256_COORDINATE_BYTES], "big"),
            int.from_bytes(raw[_P256_COORDINATE_BYTES:], "big"),
        )
        if not self.verify(SignedCheckpoint(payload, der)):
            raise SignerRefused("Key Vault returned a signature this key does not verify")
        return der

    def public_key_pem(self) -> bytes:
        """The public key, PEM."""
        return public_pem(self._public_key)

    def verify(self, signed: SignedCheckpoint) -> bool:
        """Whether `signed` carries this key's signature over its payload (checked locally)."""
        return verify_with(self._public_key, signed)

    async def aclose(self) -> None:
        """Close the Key Vault client."""
        await self._client.close()


def _public_key(key: KeyVaultKey) -> ec.EllipticCurvePublicKey:
    # JsonWebKey's fields are set dynamically (untyped): read each one and check its type.
    jwk = key.key
    kty, crv = _text(getattr(jwk, "kty", "")), _text(getattr(jwk, "crv", ""))
    if kty not in {KeyType.ec.value, KeyType.ec_hsm.value} or crv != "P-256":
        raise SignerRefused(f"the checkpoint key must be EC P-256, not {kty} {crv}")
    key_ops = getattr(jwk, "key_ops", None)
    if key_ops is not None and "sign" not in [_text(op) for op in key_ops]:
        raise SignerRefused("the checkpoint key does not allow the sign operation")
    x, y = getattr(jwk, "x", None), getattr(jwk, "y", None)
    if not isinstance(x, bytes) or not isinstance(y, bytes):
        raise SignerRefused("Key Vault returned no public key")
    try:
        numbers = ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
        )
        return numbers.public_key()
    except ValueError as error:
        raise SignerRefused("Key Vault returned a point that is not on P-256") from error


def _text(value: object) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def _translated(error: BaseException, doing: str) -> SignerError:
    """The signer error for an azure-core error (no URLs or tokens in the message)."""
    if isinstance(error, TimeoutError | ServiceRequestError | ServiceResponseError):
        return SignerUnavailable(f"Key Vault did not answer while {doing}")
    if isinstance(error, HttpResponseError):
        status = error.status_code
        if status in _TRANSIENT_STATUSES:
            return SignerUnavailable(f"Key Vault failed while {doing}", status=status)
        code = error.error.code if error.error is not None else None
        reason = f"Key Vault refused {doing}" + (f": {code}" if code else "")
        return SignerRefused(reason, status=status)
    return SignerRefused(f"Key Vault could not be used for {doing}: {type(error).__name__}")
