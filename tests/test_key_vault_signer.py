"""The Key Vault signer, through the real azure-keyvault-keys SDK, against a fake vault over HTTPS.

The fake speaks Key Vault's documented REST (challenge authentication, `keys/get`, `keys/sign`)
and holds real P-256 keys; the only stand-ins are Entra (a credential with a fixed token) and
DNS (`<name>.vault.test` resolves to the fake's loopback port).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.transport import AioHttpTransport
from azure.keyvault.keys.crypto import SignatureAlgorithm
from azure.keyvault.keys.crypto.aio import CryptographyClient
from cryptography.hazmat.primitives.asymmetric import ec

from evidence.checkpoints import Checkpoint, SignedCheckpoint
from evidence.errors import SignerRefused, SignerUnavailable
from signing.key_id import KeyVaultKeyId
from signing.keyvault import KeyVaultSigner
from signing.local import key_id_of, public_pem
from tests.fakes.key_vault import (
    DOMAIN,
    FakeKeyVault,
    FixedTokenCredential,
    ServedVault,
    b64url,
    serve_key_vault,
    vault_transport,
)
from tests.fakes.tenant import TENANT_ID, Tls, make_test_tls

TOKEN = "key-vault-test-token"
KEY = "exhibit-checkpoints"
AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def FixedToken(token: str = TOKEN) -> FixedTokenCredential:
    """The credential the vault accepts (or, given another token, one it does not)."""
    return FixedTokenCredential(token)


@pytest.fixture(scope="module")
def vault_tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_test_tls(tmp_path_factory.mktemp("vault-tls"), (f"*.{DOMAIN}", DOMAIN))


@pytest.fixture
async def transport(vault_tls: Tls) -> AsyncIterator[AioHttpTransport]:
    async with vault_transport(vault_tls) as transport:
        yield transport


@pytest.fixture
async def served(vault_tls: Tls) -> AsyncIterator[ServedVault]:
    vault = FakeKeyVault(token=TOKEN, tenant_id=TENANT_ID)
    vault.create_key(KEY)
    async with serve_key_vault(vault, vault_tls, "kv-exhibit") as served:
        yield served


@asynccontextmanager
async def opened(
    served: ServedVault,
    transport: AioHttpTransport,
    credential: FixedTokenCredential | None = None,
    version: str | None = None,
    **options: Any,
) -> AsyncIterator[KeyVaultSigner]:
    key = KeyVaultKeyId(served.url, KEY, version)
    credential = credential or FixedToken()
    signer = await KeyVaultSigner.open(key, credential, transport=transport, **options)
    try:
        yield signer
    finally:
        await signer.aclose()


async def signed(signer: KeyVaultSigner, sequence: int = 7) -> SignedCheckpoint:
    payload = Checkpoint("case-1", sequence, f"{sequence:064x}", AT, signer.key_id).payload()
    return SignedCheckpoint(payload, await signer.sign(payload))


def openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    program = shutil.which("openssl")
    assert program is not None
    return subprocess.run(  # noqa: S603 (a test: fixed program, arguments of its own)
        [program, *args], cwd=cwd, capture_output=True, check=False
    )


async def test_key_vault_signs_what_openssl_verifies(
    served: ServedVault, transport: AioHttpTransport, tmp_path: Path
) -> None:
    vault = served.vault
    version = next(iter(vault.keys[KEY]))
    credential = FixedToken()
    async with opened(served, transport, credential) as signer:
        checkpoint = await signed(signer)

    expected = vault.public_key(KEY, version)
    assert signer.public_key_pem() == public_pem(expected)
    assert signer.key_id == key_id_of(expected)
    assert signer.vault_key == f"{served.url}/keys/{KEY}/{version}"
    # What Key Vault was given is the payload's SHA-256, as ES256 requires.
    assert vault.signed_digests == [hashlib.sha256(checkpoint.payload).digest()]
    # Challenge authentication: asked unauthenticated once, then every token (one per SDK
    # client) is for the resource the challenge named.
    assert vault.challenged == 1
    assert set(credential.scopes) == {(f"{vault.resource}/.default",)}

    (tmp_path / "c.json").write_bytes(checkpoint.payload)
    (tmp_path / "c.sig").write_bytes(checkpoint.signature)
    (tmp_path / "public-key.pem").write_bytes(signer.public_key_pem())
    verify = ("dgst", "-sha256", "-verify", "public-key.pem", "-signature", "c.sig", "c.json")
    verified = openssl(*verify, cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    der = openssl("pkey", "-pubin", "-in", "public-key.pem", "-outform", "DER", cwd=tmp_path)
    assert hashlib.sha256(der.stdout).hexdigest() == checkpoint.checkpoint.key_id
    assert signer.verify(checkpoint)
    assert not signer.verify(SignedCheckpoint(checkpoint.payload + b" ", checkpoint.signature))


async def test_the_version_current_at_start_keeps_signing_after_a_rotation(
    served: ServedVault, transport: AioHttpTransport
) -> None:
    vault = served.vault
    first = next(iter(vault.keys[KEY]))
    async with opened(served, transport) as signer:
        newer = vault.create_key(KEY)  # rotated while running
        checkpoint = await signed(signer)
        assert signer.vault_key.endswith(f"/{first}")
        assert checkpoint.checkpoint.key_id == key_id_of(vault.public_key(KEY, first))
        assert signer.verify(checkpoint)
        assert vault.requests["POST /keys/{name}/{version}/sign"] >= 1
    # The next start picks the new version, under a new key id.
    async with opened(served, transport) as restarted:
        assert restarted.vault_key.endswith(f"/{newer}")
        assert restarted.key_id != signer.key_id
        assert restarted.verify(await signed(restarted))
    # A configured version is used as given.
    async with opened(served, transport, version=first) as pinned:
        assert pinned.key_id == signer.key_id


async def test_a_signature_from_another_key_is_never_returned(
    served: ServedVault, transport: AioHttpTransport
) -> None:
    served.vault.sign_with = ec.generate_private_key(ec.SECP256R1())
    async with opened(served, transport) as signer:
        with pytest.raises(SignerRefused, match="does not verify"):
            await signed(signer)


@pytest.mark.parametrize(
    "changes",
    [{"crv": "P-384"}, {"kty": "RSA"}, {"key_ops": ["verify"]}],
    ids=["another curve", "not EC", "no sign operation"],
)
async def test_only_a_p256_signing_key_is_accepted(
    served: ServedVault, transport: AioHttpTransport, changes: dict[str, Any]
) -> None:
    served.vault.jwk_changes = changes
    with pytest.raises(SignerRefused, match=r"P-256|sign operation"):
        async with opened(served, transport):
            pass
    assert served.vault.signed_digests == []


async def test_without_the_sign_permission_signing_is_refused(
    served: ServedVault, transport: AioHttpTransport
) -> None:
    served.vault.allow_sign = False
    async with opened(served, transport) as signer:
        with pytest.raises(SignerRefused) as refused:
            await signed(signer)
    assert refused.value.status == 403
    assert "Forbidden" in str(refused.value)


async def test_a_token_the_vault_does_not_accept_is_refused(
    served: ServedVault, transport: AioHttpTransport
) -> None:
    with pytest.raises(SignerRefused) as refused:
        async with opened(served, transport, FixedToken("some-other-token")):
            pass
    assert refused.value.status == 401
    assert "some-other-token" not in str(refused.value)


async def test_a_key_that_is_not_there_stops_start_up(
    served: ServedVault, transport: AioHttpTransport
) -> None:
    with pytest.raises(SignerRefused) as refused:
        async with opened(served, transport, version="0" * 32):
            pass
    assert refused.value.status == 404


async def test_a_challenge_naming_another_resource_is_not_answered(
    served: ServedVault, transport: AioHttpTransport
) -> None:
    # A host that answers for the vault but names another resource would get a token for it.
    served.vault.resource = "https://attacker.example"
    credential = FixedToken()
    with pytest.raises(SignerRefused):
        async with opened(served, transport, credential):
            pass
    assert credential.scopes == []


async def test_a_vault_that_does_not_answer_is_unavailable(
    vault_tls: Tls, transport: AioHttpTransport
) -> None:
    vault = FakeKeyVault(token=TOKEN, tenant_id=TENANT_ID)
    vault.create_key(KEY)
    async with contextlib.AsyncExitStack() as stack:
        async with serve_key_vault(vault, vault_tls, "kv-gone") as served:
            signer = await stack.enter_async_context(opened(served, transport, retry_total=0))
        with pytest.raises(SignerUnavailable):
            await signed(signer)


async def test_the_fake_refuses_what_key_vault_refuses(
    served: ServedVault, transport: AioHttpTransport
) -> None:
    key_id = f"{served.url}/keys/{KEY}/{next(iter(served.vault.keys[KEY]))}"
    async with CryptographyClient(key_id, FixedToken(), transport=transport) as client:
        with pytest.raises(HttpResponseError) as wrong_alg:
            await client.sign(SignatureAlgorithm.es384, bytes(48))
        with pytest.raises(HttpResponseError) as wrong_length:
            await client.sign(SignatureAlgorithm.es256, bytes(20))
    assert (wrong_alg.value.status_code, wrong_length.value.status_code) == (400, 400)
    assert wrong_alg.value.error is not None
    assert wrong_alg.value.error.code == "BadParameter"
    # Without a bearer: 401 with the challenge, nothing signed.
    async with transport.session.post(
        f"{key_id}/sign?api-version=2025-07-01", json={"alg": "ES256", "value": b64url(bytes(32))}
    ) as response:
        assert response.status == 401
        challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer authorization="')
    assert f'resource="{served.vault.resource}"' in challenge
    assert served.vault.signed_digests == []


@pytest.mark.parametrize(
    ("identifier", "parsed"),
    [
        ("https://kv.vault.azure.net/keys/cp", KeyVaultKeyId("https://kv.vault.azure.net", "cp")),
        (
            "https://kv.vault.azure.net/keys/cp/0123abcd/",
            KeyVaultKeyId("https://kv.vault.azure.net", "cp", "0123abcd"),
        ),
    ],
)
def test_key_identifiers_are_read(identifier: str, parsed: KeyVaultKeyId) -> None:
    assert KeyVaultKeyId.parse(identifier) == parsed


@pytest.mark.parametrize(
    "identifier",
    [
        "http://kv.vault.azure.net/keys/cp",
        "https://kv.vault.azure.net/secrets/cp",
        "https://kv.vault.azure.net/keys",
        "https://kv.vault.azure.net/keys/cp/v1/extra",
        "https://kv.vault.azure.net/keys/cp?x=1",
        "kv/keys/cp",
    ],
)
def test_other_identifiers_are_refused(identifier: str) -> None:
    with pytest.raises(ValueError, match=r"must|is not"):
        KeyVaultKeyId.parse(identifier)
