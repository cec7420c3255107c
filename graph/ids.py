"""Entra object ids: GUIDs, compared case-insensitively."""

from __future__ import annotations

import uuid


def canonical_id(value: str) -> str | None:
    """The lower-case hyphenated form of a GUID, or None if `value` is not one.

    Ids come from Teams activities and cards; anything that is not a GUID is refused here, before
    it can reach a Graph URL or an OData `$filter`.
    """
    if len(value) != 36:
        return None
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    canonical = str(parsed)
    return canonical if canonical == value.lower() else None
