"""Reading a share request: from the words of `share ... with ...`, or from the share form.

Both give the domain a `ShareDraft`, typed; the domain holds it to the force's rules. Only
what is grammar is checked here: where the exhibits end and the number of days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeGuard

from microsoft_agents.activity import Activity

from bot.commands.grammar import SHARE, Kind, command_named
from bot.commands.parsing import read_keyword_arguments
from cards.sharing import SHARE_FORM
from evidence.errors import InvalidInput
from evidence.sharing import ShareDraft

_WITH = SHARE.argument("recipient").keyword
# After the optional case reference: the exhibits lead, the keyword arguments follow.
_AFTER_CASE = replace(
    SHARE, arguments=tuple(a for a in SHARE.arguments if a.kind is not Kind.CASE_REF)
)
FORM_FIELDS = ("exhibits", "recipient", "organisation", "days", "reason")


def read_share_target(words: Sequence[str]) -> tuple[str | None, tuple[str, ...]]:
    """The case reference typed first, if any, and the words after it.

    `share MET-24-0002 JS/1 with ...`: an exhibit reference always has a `/`, a case reference
    never, so a first word without one, followed by more words, names the case.
    """
    if len(words) >= 2 and "/" not in words[0] and words[0].lower() != _WITH:
        return words[0].upper(), tuple(words[1:])
    return None, tuple(words)


def asks_for_form(words: Sequence[str]) -> bool:
    """`share JS/1` with no recipient: answered with the share form."""
    return _WITH not in {word.lower() for word in words}


def read_share_words(words: Sequence[str]) -> ShareDraft:
    """The words after `share`, by the grammar; raise `InvalidInput` if they do not fit it."""
    found = read_keyword_arguments(_AFTER_CASE, words)
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


def submitted_form(activity: Activity) -> object:
    """What a share form sent: a Universal Action's data, or (older forms) a message's value."""
    if activity.type == "invoke":
        value = activity.value if isinstance(activity.value, dict) else {}
        action = value.get("action")
        return action.get("data") if isinstance(action, dict) else None
    return activity.value


def form_id_of(form: object) -> str | None:
    """The random id the form was built with (untrusted: any text, bounded)."""
    value = form.get("formId") if isinstance(form, dict) else None
    text = str(value or "").strip()[:64]
    return text or None


def form_case(form: object) -> str | None:
    """The case reference the form was made for, if one was named."""
    value = form.get("case") if isinstance(form, dict) else None
    text = str(value or "").strip()[:40].upper()
    return text or None


_REVOKE = command_named("share revoke")


def read_revoke_words(words: Sequence[str]) -> tuple[str, str | None]:
    """`S-0123456789 [reason <why...>]`: the share id, upper-case, and the reason if given."""
    if _REVOKE is None:
        raise LookupError("share revoke")
    if len(words) == 1:
        return words[0].upper(), None
    found = read_keyword_arguments(_REVOKE, words)
    share_id = (found["share"] or "").split()
    if len(share_id) != 1 or (len(words) > 1 and found["reason"] is None):
        raise InvalidInput("share id", "type `share revoke S-... reason <why>`")
    return share_id[0].upper(), (found["reason"] or "")[:500] or None


def is_share_form(value: object) -> TypeGuard[dict[str, Any]]:
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
