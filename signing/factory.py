"""Which checkpoint signer runs: Key Vault when a key is configured, otherwise a key file.

Settings decide (`exhibit.settings.signing` refuses a key file in production unless a setting
that says it is dangerous allows it); this module only opens what they chose. In development
the key file is created on first run; elsewhere it must already exist, so a lost file is never
silently replaced by a new key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.credentials_async import AsyncTokenCredential

from evidence.checkpoints import CheckpointSigner
from evidence.errors import SignerRefused
from signing.key_id import KeyVaultKeyId
from signing.local import LocalKeySigner, ensure_key_file


@dataclass(frozen=True, slots=True)
class SignerConfig:
    """Where the checkpoint key is: a Key Vault key, or else a PEM key file."""

    key_file: Path
    key_vault_key: KeyVaultKeyId | None = None
    create_key_file: bool = False  # development: make the key file on first run


Close = Callable[[], Awaitable[None]]


async def open_signer(
    config: SignerConfig, credential: AsyncTokenCredential | None, **client_options: Any
) -> tuple[CheckpointSigner, Close]:
    """The configured signer and how to close it.

    `credential` (the service's Entra identity) is needed for Key Vault; `client_options` go to
    the Key Vault clients. Raises `SignerRefused` (or `SignerUnavailable` for a vault that does
    not answer) when the key cannot be used: start-up stops then.
    """
    if config.key_vault_key is not None:
        if credential is None:
            raise SignerRefused("a Key Vault checkpoint key needs the service's Entra identity")
        from signing.keyvault import KeyVaultSigner  # the Key Vault SDK: only when configured

        signer = await KeyVaultSigner.open(config.key_vault_key, credential, **client_options)
        return signer, signer.aclose
    local = await asyncio.to_thread(_local_signer, config)
    return local, _nothing_to_close


def _local_signer(config: SignerConfig) -> LocalKeySigner:
    path = config.key_file
    if config.create_key_file:
        ensure_key_file(path)
    elif not path.is_file():
        raise SignerRefused(f"the checkpoint key file {path.name} does not exist")
    try:
        return LocalKeySigner.from_file(path)
    except (OSError, ValueError, TypeError) as error:
        raise SignerRefused(f"the checkpoint key file {path.name} is not usable") from error


async def _nothing_to_close() -> None:
    return None
