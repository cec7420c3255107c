"""What handlers use, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings import Settings
from evidence.ports import Directory


@dataclass(frozen=True, slots=True)
class Services:
    """The adapters behind the domain's ports, and the settings."""

    settings: Settings
    directory: Directory
