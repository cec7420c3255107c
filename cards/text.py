"""Text from people and the directory, made inert before it is shown on a card or a page.

Teams renders a Markdown subset in a TextBlock's text and a Fact's value: links `[x](y)` and
images, `**bold**`, `_italic_`, `~~strike~~`, code, lists, headings, quotes; it autolinks bare
URLs; angle brackets are taken for markup (`<at>` is a mention in a message). A case title, a
file name, a reason or a display name must show as the characters typed, never as any of that.

- `clean` removes what hides or reorders text (bidirectional controls, zero-width characters,
  C0/C1 controls), collapses whitespace (keeping line breaks where asked) and bounds the length.
  For HTML pages and e-mail, which escape markup themselves.
- `plain` is `clean` plus Markdown made literal: CommonMark backslash escapes for the emphasis,
  code and link characters and for what opens a list, heading or quote at the start of a line;
  and, because backslash escapes have not always been honoured on Teams mobile, structure that
  no parser can read as a link, tag or entity: a WORD JOINER (U+2060, invisible, no line break)
  after `<`, after `&` before a name, after `]`, after the `:` of a scheme (`https:⁠//`,
  `javascript:⁠`) and after `www.`. A URL typed by a user therefore reads normally and is not
  clickable (text copied from the card may carry the invisible joiners). A bare host name
  without scheme or `www.` (`report.zip`, an e-mail address) is left as typed, so that names
  and addresses copy cleanly: should a client autolink it, the link goes where the visible
  text says, which is not the disguise a Markdown link or a `javascript:` URL is.
- `wording` is for Exhibit's own sentences that carry user fragments (notices, hints): the same
  as `plain` except that code spans in backticks stay code spans (still with the joiners).
"""

from __future__ import annotations

import functools
import re
import unicodedata

SHORT = 200  # names, organisations, types, references
TITLE = 500  # case titles, file names (the longest accepted title)
LONG = 1000  # reasons, notes, comments, messages

WORD_JOINER = "\u2060"
ELLIPSIS = "\u2026"

# Explicit direction marks, embeddings, overrides and isolates ("evil\u202egpj.exe" shows as
# "evilexe.jpg"), and characters that are invisible: zero-width space, word joiner and invisible
# operators, byte order mark, soft hyphen. ZWJ/ZWNJ stay: emoji and several scripts need them.
_HIDDEN = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    "\u200b\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad"
)
_ESCAPED = frozenset("\\`*_~[]")
_LINE_START = re.compile(r"^(?:([#>+\-=|])|(\d{1,9})([.)]))")
_INERT = (
    (re.compile(r"<(?!\u2060)"), "<" + WORD_JOINER),
    (re.compile(r"&(?=[#A-Za-z])"), "&" + WORD_JOINER),
    (re.compile(r"\](?!\u2060)"), "]" + WORD_JOINER),
    (re.compile(r"(?<=[A-Za-z0-9]):(?=[^\s\u2060])"), ":" + WORD_JOINER),
    (re.compile(r"(?i)(?<![^\W_])(www)\.(?!\u2060)"), r"\1." + WORD_JOINER),
)
_CODE_SPAN = re.compile(r"(`[^`\n]*`)")


# `clean` and `plain` are pure and see the same names, titles and file names on card after card
# (an exhibit list is a dozen of them per view): remembering recent answers makes a card several
# times cheaper to build.
CACHED = 4096


@functools.lru_cache(maxsize=CACHED)
def clean(text: str, *, limit: int = SHORT, multiline: bool = False) -> str:
    """`text` without hidden or control characters, whitespace collapsed, at most `limit` long.

    With `multiline`, line breaks stay (at most one blank line in a row); otherwise every run of
    whitespace, line breaks included, becomes one space. A longer text is cut and ends in `…`.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2")
    kept = []
    for char in unicodedata.normalize("NFC", text.replace("\r\n", "\n")):
        if char in _HIDDEN:
            continue
        category = unicodedata.category(char)
        if char in "\r\n\u2028\u2029\x85\x0b\x0c":
            kept.append("\n")
        elif category == "Cc":
            kept.append(" " if char == "\t" else "")
        elif category not in ("Cs", "Co", "Cn"):
            kept.append(char)
    lines = [" ".join(line.split()) for line in "".join(kept).split("\n")]
    if multiline:
        joined = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    else:
        joined = " ".join(line for line in lines if line)
    if len(joined) > limit:
        joined = joined[: limit - 1].rstrip() + ELLIPSIS
    return joined


@functools.lru_cache(maxsize=CACHED)
def plain(text: str, *, limit: int = SHORT, multiline: bool = False) -> str:
    """`text` cleaned (see `clean`) and made literal for a TextBlock or a Fact value."""
    lines = clean(text, limit=limit, multiline=multiline).split("\n")
    return "\n".join(_literal(line) for line in lines)


def wording(text: str, *, limit: int = LONG) -> str:
    """Exhibit's own sentence with user fragments in it: literal but for `code spans`."""
    out = []
    for line in clean(text, limit=limit, multiline=True).split("\n"):
        parts = _CODE_SPAN.split(line)
        out.append(
            "".join(
                _inert(part) if n % 2 else _literal(part, line_start=n == 0)
                for n, part in enumerate(parts)
            )
        )
    return "\n".join(out)


def _literal(line: str, *, line_start: bool = True) -> str:
    escaped = "".join("\\" + char if char in _ESCAPED else char for char in line)
    if line_start:
        escaped = _LINE_START.sub(_escape_marker, escaped, count=1)
    return _inert(escaped)


def _escape_marker(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        return "\\" + match.group(1)
    return f"{match.group(2)}\\{match.group(3)}"


def _inert(text: str) -> str:
    for pattern, replacement in _INERT:
        text = pattern.sub(replacement, text)
    return text
