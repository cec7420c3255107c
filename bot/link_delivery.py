"""Where a share's link goes: to its requester in a 1:1 chat, and by e-mail to its recipient.

A rejection goes the same way to the requester (`share.rejection_delivered`).

Never into a channel or group chat: everyone there would hold a working link to evidence. The
requester is reached through the conversation they asked in (it names their Teams account):
as it is when that was a personal chat, else in the 1:1 chat the connector opens. Where the
link went — not the link — is recorded (`share.link_delivered`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from microsoft_agents.activity import Activity

from bot.proactive import PERSONAL
from bot.replies import card_activity
from bot.services import Services
from bot.share_mail import mail_link
from cards.sharing import build_link_card
from evidence import share_cases
from evidence.custody import Action
from evidence.records import run_unit
from evidence.shares import Share

if TYPE_CHECKING:
    from microsoft_teams.cards import AdaptiveCard

logger = logging.getLogger(__name__)

LINK = Action.SHARE_LINK_DELIVERED
REJECTION = Action.SHARE_REJECTION_DELIVERED

PERSONAL_CHAT = "personal chat"
NOT_DELIVERED = "not delivered"


async def link_card(
    services: Services, share: Share, *, case_reference: str, url: str, reissued: bool
) -> AdaptiveCard:
    """E-mail the link when share mail is on, and the requester's card saying what became of it."""
    mailed = await mail_link(services, share, case_reference=case_reference, url=url)
    return build_link_card(
        share,
        case_reference,
        url,
        mailed_from=mailed.sender if mailed else None,
        mail_problem=mailed.problem if mailed else None,
        reissued=reissued,
    )


async def send_to_requester(
    services: Services, share: Share, reference: str, card: AdaptiveCard, *, rejection: bool = False
) -> str | None:
    """Post `card` to the share's requester in their 1:1 chat; the chat's id, None if it failed.

    Recorded either way: as the link's delivery, or (`rejection`) as the rejection's.
    """
    chat: str | None = None
    problem: str | None = None
    try:
        chat = await services.proactive.send_personal(
            reference, share.requested_by, card_activity(card)
        )
    except Exception as err:  # the connector is remote; the failure is answered and recorded
        problem = type(err).__name__
        logger.warning("Share %s: card not delivered to the requester: %s", share.id, problem)
    via = PERSONAL_CHAT if chat else NOT_DELIVERED
    await record_delivery(services, share, via=via, problem=problem, rejection=rejection)
    return chat


async def record_delivery(
    services: Services,
    share: Share,
    *,
    via: str,
    problem: str | None = None,
    rejection: bool = False,
) -> None:
    """Put on the record where the requester's link (or rejection) card went."""
    now = services.now()
    action = REJECTION if rejection else LINK
    await run_unit(
        services.records,
        lambda unit: share_cases.record_delivery(
            unit, share, action, via=via, problem=problem, now=now
        ),
    )


def is_personal(activity: Activity) -> bool:
    """Whether `activity` came from a 1:1 chat with the bot."""
    conversation = activity.conversation
    return conversation is not None and conversation.conversation_type == PERSONAL
