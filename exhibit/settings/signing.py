"""Checkpoint signing settings: where the key that signs custody checkpoints is kept.

Production signs in Azure Key Vault (`EXHIBIT_CHECKPOINT_KEY_VAULT_KEY`); a key file is for
development, where it is created on first run. A key file in production is refused unless
`EXHIBIT_DANGEROUSLY_ALLOW_CHECKPOINT_KEY_FILE` is set: whoever can read the file can sign
checkpoints, which is exactly what a rewritten chain would need.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from exhibit.settings.base import Concern, Flag, SettingsError
from signing.factory import SignerConfig
from signing.key_id import KeyVaultKeyId

KEY_VAULT_KEY = "EXHIBIT_CHECKPOINT_KEY_VAULT_KEY"
ALLOW_KEY_FILE = "EXHIBIT_DANGEROUSLY_ALLOW_CHECKPOINT_KEY_FILE"


class SigningSettings(Concern):
    """The checkpoint key: a Key Vault key, or a PEM key file; earlier public keys."""

    checkpoint_key_file: Path = Path("var/checkpoint-key.pem")
    checkpoint_key_vault_key_setting: str | None = Field(None, validation_alias=KEY_VAULT_KEY)
    checkpoint_earlier_keys_dir: Path | None = None
    dangerously_allow_checkpoint_key_file: Flag = Field(False, validation_alias=ALLOW_KEY_FILE)

    @property
    def checkpoint_key_vault_key(self) -> KeyVaultKeyId | None:
        """The Key Vault key that signs checkpoints, when one is configured."""
        if self.checkpoint_key_vault_key_setting is None:
            return None
        return KeyVaultKeyId.parse(self.checkpoint_key_vault_key_setting)

    def signer_config(self, *, production: bool) -> SignerConfig:
        """What `signing.factory.open_signer` opens."""
        return SignerConfig(
            key_file=self.checkpoint_key_file,
            key_vault_key=self.checkpoint_key_vault_key,
            create_key_file=not production,
        )

    def _check_signing(self, *, production: bool) -> None:
        if self.checkpoint_key_vault_key_setting is not None:
            try:
                KeyVaultKeyId.parse(self.checkpoint_key_vault_key_setting)
            except ValueError as error:
                raise SettingsError(KEY_VAULT_KEY, str(error)) from None
        elif production and not self.dangerously_allow_checkpoint_key_file:
            raise SettingsError(
                KEY_VAULT_KEY,
                "is required in production: checkpoints are signed in Key Vault "
                f"(a key file only with {ALLOW_KEY_FILE}=true)",
            )
        earlier = self.checkpoint_earlier_keys_dir
        if earlier is not None and not earlier.is_dir():
            raise SettingsError("EXHIBIT_CHECKPOINT_EARLIER_KEYS_DIR", "must be a directory")
