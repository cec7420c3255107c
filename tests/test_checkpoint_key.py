"""Which checkpoint key runs (settings and factory), and the public key the service publishes."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from azure.core.pipeline.transport import AioHttpTransport
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from evidence.checkpoints import Checkpoint, SignedCheckpoint
from evidence.errors import SignerRefused
from exhibit.settings import SettingsError, load_settings
from signing.factory import SignerConfig, open_signer
from signing.key_id import KeyVaultKeyId
from signing.keyvault import KeyVaultSigner
from signing.local import LocalKeySigner, ensure_key_file, key_id_of, public_pem
from signing.published import PublishedKeys, load_public_key
from tests.conftest import BotClientFactory
from tests.fakes.key_vault import DOMAIN, FakeKeyVault, serve_key_vault, vault_transport
from tests.fakes.tenant import TENANT_ID, Tls, make_test_tls
from tests.test_key_vault_signer import AT, KEY, TOKEN, FixedToken, signed
from tests.test_settings import ANONYMOUS, CREDENTIALS

VAULT_KEY = "https://kv-exhibit.vault.azure.net/keys/exhibit-checkpoints"
PRODUCTION = {**CREDENTIALS, "EXHIBIT_ENV": "production", "EXHIBIT_PUBLIC_URL": "https://x.example"}


# -- settings ----------------------------------------------------------------------------------


def test_development_uses_a_key_file_under_the_data_dir() -> None:
    settings = load_settings(ANONYMOUS)
    config = settings.signer_config(production=settings.production)
    assert config == SignerConfig(Path("var/checkpoint-key.pem"), None, create_key_file=True)


def test_production_requires_key_vault() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(PRODUCTION)
    assert refused.value.name == "EXHIBIT_CHECKPOINT_KEY_VAULT_KEY"
    assert "EXHIBIT_DANGEROUSLY_ALLOW_CHECKPOINT_KEY_FILE" in refused.value.problem


def test_production_signs_in_key_vault_and_never_creates_a_key_file() -> None:
    settings = load_settings({**PRODUCTION, "EXHIBIT_CHECKPOINT_KEY_VAULT_KEY": VAULT_KEY})
    config = settings.signer_config(production=settings.production)
    assert config.key_vault_key == KeyVaultKeyId(
        "https://kv-exhibit.vault.azure.net", "exhibit-checkpoints"
    )
    assert not config.create_key_file


def test_a_key_file_in_production_only_when_dangerously_allowed() -> None:
    env = {**PRODUCTION, "EXHIBIT_DANGEROUSLY_ALLOW_CHECKPOINT_KEY_FILE": "true"}
    config = load_settings(env).signer_config(production=True)
    assert config.key_vault_key is None
    assert not config.create_key_file


@pytest.mark.parametrize(
    ("env", "name"),
    [
        (
            {
                **ANONYMOUS,
                "EXHIBIT_CHECKPOINT_KEY_VAULT_KEY": "https://kv.vault.azure.net/secrets/x",
            },
            "EXHIBIT_CHECKPOINT_KEY_VAULT_KEY",
        ),
        (
            {**ANONYMOUS, "EXHIBIT_CHECKPOINT_KEY_VAULT_KEY": "http://kv.vault.azure.net/keys/x"},
            "EXHIBIT_CHECKPOINT_KEY_VAULT_KEY",
        ),
        (
            {**PRODUCTION, "EXHIBIT_DANGEROUSLY_ALLOW_CHECKPOINT_KEY_FILE": "maybe"},
            "EXHIBIT_DANGEROUSLY_ALLOW_CHECKPOINT_KEY_FILE",
        ),
        (
            {**ANONYMOUS, "EXHIBIT_CHECKPOINT_EARLIER_KEYS_DIR": "/nonexistent/keys"},
            "EXHIBIT_CHECKPOINT_EARLIER_KEYS_DIR",
        ),
    ],
)
def test_bad_signing_settings_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(env)
    assert refused.value.name == name


# -- the factory -------------------------------------------------------------------------------


async def test_development_creates_the_key_file_once(tmp_path: Path) -> None:
    path = tmp_path / "data" / "checkpoint-key.pem"
    signer, close = await open_signer(SignerConfig(path, create_key_file=True), None)
    await close()
    assert isinstance(signer, LocalKeySigner)
    assert path.stat().st_mode & 0o777 == 0o600
    again, _ = await open_signer(SignerConfig(path, create_key_file=True), None)
    assert again.key_id == signer.key_id


def test_processes_starting_together_share_one_whole_key(tmp_path: Path) -> None:
    # The bot and its workers may start at once: each must read the same, complete key.
    path = tmp_path / "checkpoint-key.pem"
    start = threading.Barrier(8)

    def open_key() -> str:
        start.wait()
        return LocalKeySigner.from_file(ensure_key_file(path)).key_id

    with ThreadPoolExecutor(8) as pool:
        key_ids = set(pool.map(lambda _: open_key(), range(8)))
    assert len(key_ids) == 1
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


async def test_without_creation_a_missing_or_broken_key_file_stops_start_up(
    tmp_path: Path,
) -> None:
    path = tmp_path / "checkpoint-key.pem"
    with pytest.raises(SignerRefused, match="does not exist"):
        await open_signer(SignerConfig(path), None)
    assert not path.exists()
    path.write_text("not a key")
    with pytest.raises(SignerRefused, match="not usable"):
        await open_signer(SignerConfig(path), None)


async def test_key_vault_needs_the_service_identity(tmp_path: Path) -> None:
    config = SignerConfig(tmp_path / "k.pem", KeyVaultKeyId.parse(VAULT_KEY))
    with pytest.raises(SignerRefused, match="identity"):
        await open_signer(config, None)
    assert not (tmp_path / "k.pem").exists()


@pytest.fixture(scope="module")
def vault_tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_test_tls(tmp_path_factory.mktemp("vault-tls"), (f"*.{DOMAIN}",))


@pytest.fixture
async def transport(vault_tls: Tls) -> AsyncIterator[AioHttpTransport]:
    async with vault_transport(vault_tls) as transport:
        yield transport


async def test_a_configured_vault_key_opens_a_key_vault_signer(
    vault_tls: Tls, transport: AioHttpTransport, tmp_path: Path
) -> None:
    vault = FakeKeyVault(token=TOKEN, tenant_id=TENANT_ID)
    version = vault.create_key(KEY)
    async with serve_key_vault(vault, vault_tls, "kv-factory") as served:
        config = SignerConfig(
            tmp_path / "unused.pem",
            KeyVaultKeyId.parse(f"{served.url}/keys/{KEY}"),
            create_key_file=True,
        )
        signer, close = await open_signer(config, FixedToken(), transport=transport)
        try:
            assert isinstance(signer, KeyVaultSigner)
            assert signer.key_id == key_id_of(vault.public_key(KEY, version))
            assert signer.verify(await signed(signer))
        finally:
            await close()
    assert not (tmp_path / "unused.pem").exists()  # Key Vault wins: no file is made


# -- published keys ----------------------------------------------------------------------------


async def test_earlier_keys_verify_the_checkpoints_they_signed(tmp_path: Path) -> None:
    old = LocalKeySigner.from_file(ensure_key_file(tmp_path / "old.pem"))
    new = LocalKeySigner.from_file(ensure_key_file(tmp_path / "new.pem"))
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "2026-key.pem").write_bytes(old.public_key_pem())
    (earlier / "README.txt").write_text("only *.pem files are read")
    keys = PublishedKeys.of(new, earlier)

    assert keys.current_id == new.key_id
    assert keys.key_ids == {old.key_id, new.key_id}
    assert keys.pem(old.key_id) == old.public_key_pem()
    assert keys.pem("0" * 64) is None
    before, after = await signed_by(old), await signed_by(new)
    assert keys.verify(before)
    assert keys.verify(after)
    assert not keys.verify(SignedCheckpoint(before.payload, after.signature))
    unknown = LocalKeySigner(ec.generate_private_key(ec.SECP256R1()))
    assert not keys.verify(await signed_by(unknown))


def test_only_p256_public_keys_are_published() -> None:
    other = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(ValueError, match="P-256"):
        load_public_key(public_pem(other), "old.pem")
    with pytest.raises(ValueError, match="PEM"):
        load_public_key(b"junk", "old.pem")


async def signed_by(signer: LocalKeySigner) -> SignedCheckpoint:
    payload = Checkpoint("case-1", 3, "ab" * 32, AT, signer.key_id).payload()
    return SignedCheckpoint(payload, await signer.sign(payload))


# -- the route, in the real app ----------------------------------------------------------------


async def test_the_service_publishes_the_key_it_signs_with(
    base_env: dict[str, str], bot_client: BotClientFactory, tmp_path: Path
) -> None:
    earlier = tmp_path / "earlier-keys"
    earlier.mkdir()
    old = LocalKeySigner.from_file(ensure_key_file(tmp_path / "rotated-out.pem"))
    (earlier / "old.pem").write_bytes(old.public_key_pem())
    key_file = Path(base_env["EXHIBIT_CHECKPOINT_KEY_FILE"])
    assert not await asyncio.to_thread(key_file.exists)
    settings = load_settings({**base_env, "EXHIBIT_CHECKPOINT_EARLIER_KEYS_DIR": str(earlier)})

    client = await bot_client(settings, start_worker=False)

    # Development made the key file on start, and the route serves exactly its public key.
    signer = LocalKeySigner.from_file(key_file)
    response = await client.get("/custody/public-key.pem")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/x-pem-file"
    assert "public" in response.headers["Cache-Control"]
    assert response.headers["ETag"] == f'"{signer.key_id}"'
    body = await response.read()
    assert body == signer.public_key_pem()
    assert hashlib.sha256(_der(body)).hexdigest() == signer.key_id
    # Every published key by the id checkpoints carry, earlier ones included; nothing else.
    by_id = await client.get(f"/custody/public-keys/{signer.key_id}.pem")
    assert await by_id.read() == signer.public_key_pem()
    assert "immutable" in by_id.headers["Cache-Control"]
    assert await (await client.get(f"/custody/public-keys/{old.key_id}.pem")).read() == (
        old.public_key_pem()
    )
    assert (await client.get(f"/custody/public-keys/{'0' * 64}.pem")).status == 404
    assert (await client.get("/custody/public-keys/../exhibit.db")).status == 404


def _der(pem: bytes) -> bytes:
    return load_public_key(pem, "served").public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
