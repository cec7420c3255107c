"""Moments as people read them on cards, link pages and e-mail: UK local time, with its zone.

Moments are stored and exported in UTC (ISO 8601); people in a UK force read the clock on the
wall, so every card, page and e-mail shows `Europe/London` time and says whether that is GMT or
BST. This is the one function that does it (the link pages and the e-mail use it as the Jinja
filter `when`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

UK = ZoneInfo("Europe/London")


def when(moment: datetime, *, seconds: bool = False) -> str:
    """`05 Mar 2026 14:30 GMT` or `05 Jul 2026 15:30 BST` (with `:07` after the minutes when
    `seconds`). A moment without a zone is taken to be UTC, as everything stored is."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(UK)
    return local.strftime("%d %b %Y %H:%M:%S %Z" if seconds else "%d %b %Y %H:%M %Z")
