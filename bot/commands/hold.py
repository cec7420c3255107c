"""`case hold on|off <case-ref> reason <text>`: a legal hold on the case's evidence."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from bot.commands.case import refusal_error
from bot.commands.parsing import split_reason
from bot.services import Turn
from cards.cases import build_case_card
from evidence.cases import MembersOf, check_reason, find_case
from evidence.errors import InvalidInput
from evidence.holds import HoldOutcome, decide_hold, record_hold
from evidence.model import Case
from evidence.policy import Decision
from evidence.records import RecordsUnit, run_unit

if TYPE_CHECKING:
    from microsoft_teams.cards import AdaptiveCard

logger = logging.getLogger(__name__)


async def case_hold_on(turn: Turn) -> AdaptiveCard:
    """Put the case on legal hold, then every blob of the case in its region."""
    return await _case_hold(turn, hold=True)


async def case_hold_off(turn: Turn) -> AdaptiveCard:
    """Release every blob of the case, then lift the case's hold."""
    return await _case_hold(turn, hold=False)


async def _case_hold(turn: Turn, *, hold: bool) -> AdaptiveCard:
    services = turn.services
    words, typed = split_reason(turn.command.args)
    if len(words) != 1:
        raise InvalidInput("case reference", "type `case hold on|off <case-ref> reason <text>`")
    reference = words[0]
    reason = check_reason(typed)
    now = services.now()

    async def decide(unit: RecordsUnit, members_of: MembersOf) -> tuple[Decision, Case]:
        case = await find_case(unit, reference, None)
        return await decide_hold(
            unit, turn.officer, case, members_of, hold=hold, reason=reason, now=now
        )

    decision, case = await turn.run_unit_with_teams(decide)
    if not decision.allowed:
        raise refusal_error(decision, reference)
    outcome = await services.holds.hold_case(case.region, case.id, hold)

    async def record(unit: RecordsUnit) -> Case | None:
        return await record_hold(
            unit, turn.officer, case, hold=hold, reason=reason, outcome=outcome, now=now
        )

    current = await run_unit(services.records, record)
    if current is None:
        # Lifting lost a race with another hold decision: the case stays on hold, and so do
        # the blobs this command released.
        await services.holds.hold_case(case.region, case.id, True)
        fresh = await run_unit(services.records, lambda unit: find_case(unit, reference, None))
        return await _card(
            turn,
            fresh,
            "The hold changed a moment ago; it still stands.",
            "Someone set or lifted this case's hold while you were lifting it. Nothing was "
            "lifted; look at the case and decide again.",
        )
    logger.info("Case %s hold %s: %s", case.id, "on" if hold else "off", _log(outcome))
    headline, notice = _wording(case, hold, outcome, now)
    return await _card(turn, current, headline, notice)


def _wording(case: Case, hold: bool, outcome: HoldOutcome, now: datetime) -> tuple[str, str | None]:
    files = f"{outcome.changed} file{'s' if outcome.changed != 1 else ''}"
    if not outcome.supported:
        where = (
            f"Storage-level hold is not available in region {case.region}: the hold is "
            "recorded on the case, and the force's retention processes must honour it."
        )
        if hold:
            return "Legal hold set.", where
        lifted = "Legal hold lifted." if case.hold is not None else "The case was not on hold."
        return lifted, where
    if not outcome.complete:
        missed = (
            f"{outcome.failed} file{'s' if outcome.failed != 1 else ''}"
            if outcome.listed
            else "some files"
        )
        if hold:
            return (
                "Legal hold set on the case; storage did not finish.",
                f"Held in storage: {files}. Not held yet: {missed}, as storage did not "
                "answer. Type the same command again to finish; it is safe to repeat.",
            )
        return (
            "The case stays on legal hold; storage did not finish.",
            f"Released in storage: {files}. Not released: {missed}, as storage did not "
            "answer. The case stays on hold until every file is released; type the same "
            "command again.",
        )
    if hold:
        earlier = case.hold is not None and case.hold.since != now
        already = " (the case was already on hold; its first reason stands)" if earlier else ""
        return f"Legal hold set{already}.", f"{files} held in storage in {case.region}."
    if case.hold is None:
        return "The case was not on hold.", f"{files} released in storage."
    return "Legal hold lifted.", f"{files} released in storage in {case.region}."


async def _card(turn: Turn, case: Case, headline: str, notice: str | None) -> AdaptiveCard:
    exhibits = await run_unit(turn.services.records, lambda unit: unit.exhibits_of(case.id))
    return build_case_card(
        case, exhibits=len(exhibits), open_shares=0, headline=headline, notice=notice
    )


def _log(outcome: HoldOutcome) -> str:
    return f"supported={outcome.supported} changed={outcome.changed} failed={outcome.failed}"
