"""Moments as people read them on cards, link pages and e-mail."""

from __future__ import annotations

from datetime import datetime


def when(moment: datetime, *, seconds: bool = False) -> str:
    """`05 Mar 2026 14:30 UTC` (with `:07` after the minutes when `seconds`); moments are UTC."""
    return moment.strftime("%d %b %Y %H:%M:%S UTC" if seconds else "%d %b %Y %H:%M UTC")
