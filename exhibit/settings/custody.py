"""Custody settings: the local checkpoint key file, and how often grown chains are checkpointed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from exhibit.settings.base import Concern, between


class CustodySettings(Concern):
    """Signed checkpoints of the custody chains (evidence/anchoring.py)."""

    # The development signer's EC P-256 key (created on first start, mode 0600).
    checkpoint_key_file: Path = Path("var/keys/checkpoint.pem")
    # Every chain that grew since its last checkpoint gets one at least this often.
    checkpoint_minutes: Annotated[int, between(1, 1440)] = 5
