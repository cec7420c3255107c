"""A safe stored name for incoming evidence, from the name an officer's device chose.

It works on untrusted input and never fails: the original name is kept beside what it returns.
"""

from __future__ import annotations

import re
import unicodedata

FALLBACK_NAME = "file"

# Explicit direction marks, embeddings, overrides and isolates: they make "invoice\u202efdp.exe"
# display as "invoiceexe.pdf". The BOM/zero-width no-break space hides in names pasted from text.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")
_FORBIDDEN = frozenset('<>:"|?*')
_SEPARATORS = re.compile(r"[/\\]")
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{device}{n}" for device in ("COM", "LPT") for n in "123456789\u00b9\u00b2\u00b3"}
)
_MAX_EXTENSION = 16  # longer "extensions" are part of the name, not a type (a.very.long.name)


def sanitize_file_name(name: str, *, max_length: int = 180) -> str:
    """A name safe to store, show and download on any platform, from one an officer's device sent.

    Keeps only the last path component (`/` and `\\` both separate), removes control characters
    and bidirectional controls, replaces `<>:"|?*` with `_`, collapses whitespace, drops leading
    and trailing dots and spaces, prefixes Windows device names (`CON.txt` becomes `_CON.txt`), and
    shortens the name to at most `max_length` bytes of UTF-8 keeping its extension. Returns
    `"file"` when nothing is left. Text is normalized to NFC first.
    """
    if max_length < _MAX_EXTENSION + 2:
        raise ValueError(f"max_length must be at least {_MAX_EXTENSION + 2}")
    text = unicodedata.normalize("NFC", name)
    cleaned = (_clean(part) for part in _SEPARATORS.split(text))
    components = [part for part in cleaned if part.strip(" .")]
    text = " ".join(components[-1].split()).strip(" .") if components else ""
    stem, dot, extension = text.rpartition(".")
    if not dot or not stem.strip(" .") or _size(extension) > _MAX_EXTENSION:
        stem, dot, extension = text, "", ""
    shortened = _shorten(stem, dot + extension, max_length)
    if _reserved(shortened):
        shortened = "_" + _shorten(stem, dot + extension, max_length - 1)
    return shortened or FALLBACK_NAME


def _reserved(name: str) -> bool:
    # Windows reserves device names with any extension, and ignores spaces before the dot.
    return name.split(".")[0].rstrip(" ").upper() in _RESERVED


def _clean(component: str) -> str:
    kept = []
    for char in component:
        category = unicodedata.category(char)
        if char in _BIDI or category == "Cs":
            continue
        if category == "Cc" or category in ("Zl", "Zp"):
            # Tabs and line breaks separate words; other controls (NUL, ESC, DEL) just go.
            kept.append(" " if char.isspace() else "")
        elif char in _FORBIDDEN:
            kept.append("_")
        else:
            kept.append(char)
    return "".join(kept)


def _shorten(stem: str, suffix: str, max_length: int) -> str:
    if _size(stem + suffix) <= max_length:
        return stem + suffix
    budget = max_length - _size(suffix)
    encoded = stem.encode("utf-8")[:budget]
    # Cut on a character boundary, then tidy the new end.
    short = encoded.decode("utf-8", errors="ignore").rstrip(" .")
    return short + suffix if short else suffix.lstrip(".")


def _size(text: str) -> int:
    return len(text.encode("utf-8"))
