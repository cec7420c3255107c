"""Entra object ids (GUIDs, compared case-insensitively), mailbox names and phone numbers.

Plain Python: the local directory uses it too, without loading Graph's SDKs."""

from __future__ import annotations

import re
import uuid
from typing import Any

_MAILBOX = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


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


def canonical_mailbox(value: str) -> str | None:
    """A mailbox named by address (lower-cased) or by Entra object id, or None if neither.

    Only these forms reach a Graph URL (`/users/{mailbox}/sendMail`).
    """
    text = value.strip()
    found = canonical_id(text)
    if found is not None:
        return found
    return text.lower() if len(text) <= 254 and _MAILBOX.fullmatch(text) else None


def first_phone(phones: Any) -> str:
    """The first business phone of a Graph `businessPhones` list ("" if there is none)."""
    if not isinstance(phones, list):
        return ""
    return next((p.strip() for p in phones if isinstance(p, str) and p.strip()), "")
