"""Reading a share request: from the words of `share ... with ...`, or from the share form.

Both give the domain a `ShareDraft`, typed; the domain holds it to the force's rules. Only
what is grammar is checked here: where the exhibits end and the number of days.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeGuard

from bot.commands.grammar import SHARE
from bot.commands.parsing import read_keyword_arguments
from cards.sharing import SHARE_FORM
from evidence.errors import InvalidInput
from evidence.sharing import ShareDraft

_WITH = SHARE.argument("recipient").keyword


def asks_for_form(words: Sequence[str]) -> bool:
    """`share JS/1` with no recipient: answered with the share form."""
    return _WITH not in {word.lower() for word in words}


def read_share_words(words: Sequence[str]) -> ShareDraft:
    """The words after `share`, by the grammar; raise `InvalidInput` if they do not fit it."""
    found = read_keyword_arguments(SHARE, words)
    exhibits = found["exhibits"]
    if exhibits is None:
        raise InvalidInput("share", "type `share JS/1[,JS/2] with name@cps.gov.uk reason ...`")
    days = found["days"]
    return ShareDraft(
        exhibit_refs=exhibit_refs(exhibits),
        recipient=found["recipient"] or "",
        reason=found["reason"] or "",
        days=None if days is None else read_days(days),
        organisation_type=found["organisation"],
    )


def is_share_form(value: object) -> TypeGuard[dict[str, object]]:
    """Whether a message's value is the share form, submitted."""
    return isinstance(value, dict) and value.get("exhibitAction") == SHARE_FORM


def read_share_form(value: object) -> ShareDraft | None:
    """The submitted share form's fields (untrusted JSON), or None if `value` is not one."""
    if not is_share_form(value):
        return None
    # The form's exhibits are one field: spaces typed around the commas are not separators.
    exhibits = str(value.get("exhibits") or "").replace(" ", "")
    if not exhibits:
        raise InvalidInput("share", "type `share JS/1[,JS/2] with name@cps.gov.uk reason ...`")
    # A number input may arrive as a number (14, 14.0) or as text; a fraction is cut off.
    days = str(value.get("days") or "").strip()
    organisation = str(value.get("organisation") or "").strip()
    return ShareDraft(
        exhibit_refs=exhibit_refs(exhibits),
        recipient=str(value.get("recipient") or ""),
        reason=" ".join(str(value.get("reason") or "").split()),
        days=read_days(days.split(".")[0]) if days else None,
        organisation_type=organisation or None,
    )


def exhibit_refs(text: str) -> tuple[str, ...]:
    """`JS/1, js/2` as ("JS/1", "JS/2")."""
    return tuple(ref.strip().upper() for ref in text.split(",") if ref.strip())


def read_days(text: str) -> int:
    """`14d`, `14days` or `14` as 14; raise `InvalidInput` for anything else."""
    value = text.lower().removesuffix("d").removesuffix("days").removesuffix("day")
    # isdecimal, not isdigit: int() refuses the superscript digits isdigit accepts.
    if not value.isdecimal():
        raise InvalidInput("expiry", f"{text!r} is not a number of days like 14d")
    return int(value)
