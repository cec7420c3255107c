"""`custody`: an exhibit's chain of custody, with the case chain verified."""

from __future__ import annotations

from microsoft_teams.cards import AdaptiveCard

from bot.commands.case import consultation_words
from bot.commands.evidence import found_exhibit
from bot.services import Turn
from cards.exhibits import build_custody_card
from evidence.exhibits import CustodyView, read_custody
from evidence.records import RecordsUnit, run_unit


async def custody(turn: Turn) -> AdaptiveCard:
    """The exhibit's chain of custody, with the case chain verified."""
    services = turn.services
    case, exhibit = await found_exhibit(turn)
    _, reason = consultation_words(turn)
    anchors = await services.anchoring.anchors(case)  # before the chain: see `anchors`
    now = services.now()

    async def work(unit: RecordsUnit) -> CustodyView:
        return await read_custody(
            unit, turn.officer, case, exhibit, anchors, now=now, reason=reason
        )

    return build_custody_card(await run_unit(services.records, work))
