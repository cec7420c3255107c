"""Custody settings: how often grown chains are checkpointed (the key: `settings.signing`)."""

from __future__ import annotations

from typing import Annotated

from exhibit.settings.base import Concern, between


class CustodySettings(Concern):
    """Signed checkpoints of the custody chains (evidence/anchoring.py)."""

    # Every chain that grew since its last checkpoint gets one at least this often.
    checkpoint_minutes: Annotated[int, between(1, 1440)] = 5
