"""Continuity bundle settings: the checkpoint key that the bundle's public key comes from."""

from __future__ import annotations

from pathlib import Path

from exhibit.settings.base import Concern


class ExportSettings(Concern):
    """Continuity bundles (`custody export`)."""

    # A local EC P-256 key (created on first use, mode 0600): development and tests. Production
    # signs checkpoints in Key Vault.
    checkpoint_key_file: Path = Path("var/keys/checkpoint.pem")
