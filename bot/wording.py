"""What officers are told, in one place: turn errors, card-action refusals, intake outcomes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from cards.common import Tone, build_notice_card
from cards.text import clean
from cards.words import size_text
from evidence.errors import (
    AccessRefused,
    CaseNotFound,
    DirectoryUnavailable,
    EmptyEvidence,
    EvidenceTooLarge,
    HostNotAllowed,
    InvalidInput,
    NotEnrolled,
    SourceEmpty,
    SourceError,
    SourceExpired,
    SourceTooLarge,
    SourceTooSlow,
)
from evidence.exhibits import ExhibitNotFound
from evidence.records import DuplicateCase
from worker.ports import JobFailure

if TYPE_CHECKING:
    from microsoft_teams.cards import AdaptiveCard

SHARE_ID = re.compile(r"S-[0-9A-F]{10}")

# -- a command that could not be done -------------------------------------------------------

# The errors a command may end in that the officer is told about (anything else is a fault).
COMMAND_ERRORS = (
    NotEnrolled,
    DirectoryUnavailable,
    InvalidInput,
    AccessRefused,
    CaseNotFound,
    SourceError,
    ExhibitNotFound,
    DuplicateCase,
)


def command_error_card(err: Exception) -> AdaptiveCard:
    """What the officer is told when a command ends in one of `COMMAND_ERRORS`."""
    if isinstance(err, NotEnrolled):
        reason = "Your account is disabled" if err.disabled else "You are not enrolled"
        return build_notice_card(
            "Not enrolled in Exhibit",
            f"{reason} in the force directory, so Exhibit cannot give you access to any "
            "case. Ask your Exhibit administrator to add you to an Exhibit group.",
            Tone.ATTENTION,
        )
    if isinstance(err, DirectoryUnavailable):
        return build_notice_card(
            "Directory unavailable",
            "Exhibit cannot reach the force directory just now, so it cannot check who you "
            "are. Nothing was changed. Please try again in a few minutes.",
            Tone.WARNING,
        )
    if isinstance(err, InvalidInput):
        return build_notice_card(f"Check the {err.field}", sentence(err.problem), Tone.WARNING)
    if isinstance(err, AccessRefused):
        return build_notice_card("Not allowed", f"Refused: {err.reason}.", Tone.ATTENTION)
    if isinstance(err, CaseNotFound):
        # The same words for a case that does not exist and one the officer may not see.
        return build_notice_card("Case not found", case_not_found_text(err.reference), Tone.WARNING)
    if isinstance(err, SourceError):
        return build_notice_card(
            "Files unavailable",
            f"Exhibit could not read the files from Teams ({type(err).__name__}). "
            "Nothing was recorded. Please try again, or send them in a 1:1 chat.",
            Tone.WARNING,
        )
    if isinstance(err, ExhibitNotFound):
        where = f" in case {err.case_reference}" if err.case_reference else ""
        return build_notice_card(
            "Exhibit not found", f"There is no exhibit {err.exhibit_ref}{where}.", Tone.WARNING
        )
    if isinstance(err, DuplicateCase):
        # A reference is unique force-wide, so its being taken must be told; nothing else
        # about the case is, and the words are the same whether the officer is on it or not.
        return build_notice_card(
            "Reference in use",
            f"The case reference {err.reference} is already in use. If it is your case and it "
            f"has no channel yet, type `case bind {err.reference}` here instead; otherwise ask "
            "its officer to add you to the case channel.",
            Tone.WARNING,
        )
    raise TypeError(f"no wording for {type(err).__name__}") from err


def sentence(text: str) -> str:
    """`text` as a sentence: a capital first letter and a full stop (or `?`, `!`, `:`) at its end.

    The domain words its problems as fragments ("give the case a title"), to be read after a
    colon or as a sentence; what the bot says on its own starts with a capital.
    """
    text = text.strip()
    if not text:
        return text
    first = text[0]
    if first.islower():
        text = first.upper() + text[1:]
    return text if text[-1] in ".?!:)`”" else text + "."


def case_not_found_text(reference: str | None) -> str:
    """What someone is told of a case that is absent or that they may not see: the same."""
    if reference is None:
        return (
            "Name a case (e.g. `case show MET-24-0001`): this conversation is not bound to a "
            "case you can see."
        )
    return (
        f"No case {reference} that you can see. Check the reference, or ask the case's officer "
        "to add you to the case channel."
    )


def no_share_text(share_id: str) -> str:
    """The one answer for an unknown share and for a share of a case the officer is not on."""
    shown = share_id if SHARE_ID.fullmatch(share_id) else "with that id"
    return f"there is no share {shown} that you can act on"


def not_understood_hint(text: str) -> str:
    """What a message that is close to no command is told (the help card's line when empty)."""
    if not text:
        return "Here is what I can do."
    return f"I did not understand \u201c{shown(text)}\u201d. Type `help` to see what I can do."


def no_help_on_hint(topic: str) -> str:
    """The help card's opening line for `help <topic>` that names no command or group."""
    return f"There is no command \u201c{shown(topic)}\u201d. Here is what I can do."


def shown(text: str) -> str:
    """What someone typed, for a sentence that quotes it: cleaned, then cut.

    Cleaned before it is cut (a bidi override must not survive the cut); the card makes what
    is left literal, so a typed link or mention shows as typed.
    """
    return clean(text, limit=60)


def not_available_yet_hint(command: str) -> str:
    """The help card's opening line for a command this version does not handle."""
    return f"'{command}' is not yet available in this version."


# -- a card click that was refused ----------------------------------------------------------


def unknown_action_card() -> AdaptiveCard:
    """A click with a verb (or share id) Exhibit does not know."""
    return build_notice_card("Unknown action", "This card's action is not known.", Tone.WARNING)


def not_enrolled_for_card() -> AdaptiveCard:
    """A click from someone the directory does not know (or cannot say) is an officer."""
    return build_notice_card(
        "Not enrolled in Exhibit", "You cannot act on this card.", Tone.ATTENTION
    )


def unavailable_card() -> AdaptiveCard:
    """The answer to a click someone may not make or on something gone: the same, and bare."""
    return build_notice_card("Not available", "This card is not available to you.", Tone.WARNING)


def not_possible_now_card() -> AdaptiveCard:
    """A click that failed for a reason the officer cannot act on but to try again."""
    return build_notice_card(
        "Not possible", "Exhibit could not do this just now. Please try again.", Tone.WARNING
    )


def directory_unavailable_for_card() -> AdaptiveCard:
    """A click while the directory cannot be reached."""
    return build_notice_card(
        "Directory unavailable",
        "Exhibit cannot reach the force directory just now. Nothing was changed. "
        "Please try again in a few minutes.",
        Tone.WARNING,
    )


def no_share_card(share_id: str) -> AdaptiveCard:
    """A bare refusal: nothing of any case, nor whether the share exists."""
    return build_notice_card("Not possible", sentence(no_share_text(share_id)), Tone.WARNING)


def next_step_answered_text(command: str) -> str:
    """What a next-step button shows under its card: the answer is a new message."""
    return f"{command.capitalize()}: the answer is below."


# -- a turn that failed ----------------------------------------------------------------------


def turn_failed_text(reference: str) -> str:
    """The apology for a message whose turn failed: the reference, never the error."""
    return f"Sorry, something went wrong. Nothing was changed. Reference: {reference}."


def action_failed_text(reference: str) -> str:
    """The error a click whose turn failed shows (Teams keeps the card as it was)."""
    return f"Something went wrong. Nothing was changed. Reference: {reference}."


# -- intake outcomes -------------------------------------------------------------------------

# Intake failures whose error type says enough: the officer gets a sentence, not a class name.
_PLAIN_FAILURES: dict[type[BaseException], str] = {
    SourceExpired: "the download link from Teams has expired; please send the file again",
    SourceTooLarge: "the file is larger than the limit",
    EvidenceTooLarge: "the file is larger than the limit",
    SourceEmpty: "the file is empty (0 bytes)",
    EmptyEvidence: "the file is empty (0 bytes)",
    HostNotAllowed: "the file is at a location Exhibit does not download from",
    SourceTooSlow: "the file arrived too slowly and was stopped",
}


def job_failure_text(failure: JobFailure) -> str:
    """Why an intake job failed, as the receipt card and the job's record say it."""
    if failure.size_limit is not None:
        return f"the file is larger than the limit of {size_text(failure.size_limit)}"
    reason = _error_text(failure.error)
    if failure.attempts is not None:
        return f"gave up after {failure.attempts} attempts ({reason}); send it again"
    return reason


def _error_text(err: BaseException | None) -> str:
    if err is None:
        return "unknown"
    plain = _PLAIN_FAILURES.get(type(err))
    if plain:
        return plain
    reason = getattr(err, "reason", None) or getattr(err, "problem", None)
    return str(reason) if reason else type(err).__name__


# -- background jobs -----------------------------------------------------------------------


def background_job_failed_card(kind: str, case: str | None, what: str | None) -> AdaptiveCard:
    """What the officer is told when their background job failed for good.

    `case`, `what`: the case reference and the exhibit or share, when they could be read.
    """
    where = f" of {case}" if case else ""
    if kind == "verify":
        target = f"{case} {what}" if case and what else "the exhibit"
        return build_notice_card(
            "Verification did not finish",
            f"Exhibit could not re-hash {target} after several attempts. Type "
            f"`evidence verify {target if case and what else '<case-ref> <exhibit-ref>'}` to "
            "try again; if it fails again, tell your supervisor.",
            Tone.WARNING,
        )
    if kind == "approve":
        share = what or "the share"
        return build_notice_card(
            f"Approval of {share} did not finish",
            f"Exhibit could not finish checking the exhibits of {share}{where} after several "
            "attempts, so nothing was shared. The share is still waiting: approve it again.",
            Tone.WARNING,
        )
    if kind == "export":
        return build_notice_card(
            f"The continuity bundle{where} could not be prepared",
            "Nothing was handed over. Type `custody export` again.",
            Tone.WARNING,
        )
    return build_notice_card(
        "Background work did not finish",
        "Exhibit could not finish what you asked after several attempts. Nothing more was "
        "changed; please ask again.",
        Tone.WARNING,
    )
