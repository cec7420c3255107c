"""Which Azure Key Vault key signs checkpoints: parsed from settings without the Key Vault SDK."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_VERSION = re.compile(r"^[0-9A-Za-z]{1,64}$")


@dataclass(frozen=True, slots=True)
class KeyVaultKeyId:
    """A Key Vault key: the vault's URL, the key's name and, optionally, one version."""

    vault_url: str
    name: str
    version: str | None = None

    @classmethod
    def parse(cls, identifier: str) -> KeyVaultKeyId:
        """`https://<vault>/keys/<name>[/<version>]`; `ValueError` naming what is wrong."""
        url = urlsplit(identifier.strip())
        if url.scheme != "https" or not url.hostname:
            raise ValueError("must be an https:// Key Vault key identifier")
        if url.query or url.fragment or url.username or url.password:
            raise ValueError("must be a plain key identifier, without query or user")
        parts = url.path.strip("/").split("/")
        if len(parts) not in {2, 3} or parts[0] != "keys" or not _NAME.match(parts[1]):
            raise ValueError("must look like https://<vault>/keys/<name>[/<version>]")
        version = parts[2] if len(parts) == 3 else None
        if version is not None and not _VERSION.match(version):
            raise ValueError(f"{version!r} is not a key version")
        return cls(f"https://{url.netloc}", parts[1], version)

    def __str__(self) -> str:
        suffix = f"/{self.version}" if self.version else ""
        return f"{self.vault_url}/keys/{self.name}{suffix}"
