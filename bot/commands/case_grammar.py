"""Reading `case open ...` and `[<case-ref>] <exhibit-ref>` from the words typed.

Only grammar is read here: which word is which. The domain holds the values to the force's
rules (`evidence.cases.check_case_open`, `ExhibitRef.parse`).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.commands.grammar import COMMANDS
from evidence.cases import CaseDraft
from evidence.errors import InvalidInput
from evidence.exhibits import ExhibitTarget
from evidence.model import ExhibitRef

_REGION = next(c for c in COMMANDS if c.name == "case open").argument("region").keyword


def read_case_words(words: Sequence[str]) -> CaseDraft:
    """The words after `case open`: reference, title, and a trailing `region <name>` if given."""
    if not words:
        raise InvalidInput("case reference", "type `case open <case-ref> <title...>`")
    rest = list(words[1:])
    region = None
    if len(rest) >= 2 and rest[-2].lower() == _REGION:
        region = rest[-1]
        rest = rest[:-2]
    return CaseDraft(reference=words[0], title=" ".join(rest), region=region)


def read_exhibit_target(words: Sequence[str]) -> ExhibitTarget:
    """`JS/1` or `MET-24-0001 JS/1`; raise `InvalidInput` otherwise."""
    if len(words) == 1:
        return ExhibitTarget(None, ExhibitRef.parse(words[0]))
    if len(words) == 2:
        return ExhibitTarget(words[0].upper(), ExhibitRef.parse(words[1]))
    raise InvalidInput("exhibit reference", "type it like JS/1, or MET-24-0001 JS/1")
