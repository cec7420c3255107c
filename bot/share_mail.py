"""The e-mail that carries an approved share's link to its external recipient.

Short on purpose: the marking, who shared how many exhibits of which case and who approved it
(names and force), the link, until when it works (UK local time), whom to ask, and that every
use is recorded. Whom to ask is the requesting officer (name, e-mail and phone, as the directory
had them at the request), and the force's general line when one is set. Exhibit names and
hashes are on the link's page, not in a message that can be forwarded or sit in a mailbox after
the link has expired. Names and references are shown without control or bidirectional
characters, and HTML-escaped by the template (links/templates/share_mail.html).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.services import Services
from cards.text import clean
from evidence.errors import InvalidInput, MailNotSent
from evidence.ports import MailMessage
from evidence.records import run_unit
from evidence.share_cases import record_share_mail
from evidence.shares import Share
from links.templates import officer_contact, render

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MailOutcome:
    """What became of the e-mail: sent from `sender`, or not, because of `problem`."""

    recipient: str
    sender: str
    problem: str | None = None

    @property
    def sent(self) -> bool:
        """Whether the mail service accepted the message."""
        return self.problem is None


def share_mail(
    share: Share,
    *,
    case_reference: str,
    url: str,
    classification: str,
    force_name: str,
    contact: str,
) -> MailMessage:
    """The message for `share`'s recipient, with the link `url`."""
    count = len(share.exhibit_ids)
    exhibits = f"{count} exhibit" + ("" if count == 1 else "s")
    reference = clean(case_reference)
    html = render(
        "share_mail.html",
        classification=clean(classification),
        shared_by=clean(share.requested_by_name),
        officer=officer_contact(share),
        exhibits=exhibits,
        case_reference=reference,
        organisation_type=clean(share.organisation_type),
        approver=clean(share.decided_by_name or "a second officer"),
        url=url,
        expires=share.link_expires_at,
        force=clean(force_name),
        contact=clean(contact),
        max_downloads=share.max_downloads,
    )
    subject = f"[{clean(classification)}] Evidence shared with you: case {reference}, {exhibits}"
    return MailMessage(to=share.recipient, subject=subject, html=html)


async def mail_link(
    services: Services, share: Share, *, case_reference: str, url: str
) -> MailOutcome | None:
    """E-mail the link when a sender mailbox is configured; the outcome goes on the record."""
    mailer = services.mailer
    if mailer is None:
        return None
    message = share_mail(
        share,
        case_reference=case_reference,
        url=url,
        classification=services.settings.classification,
        force_name=services.settings.force_name,
        contact=services.settings.share_contact,
    )
    problem = None
    try:
        await mailer.send(message)
    except (MailNotSent, InvalidInput) as err:
        problem = str(err)
        logger.warning("Share %s: link not e-mailed: %s", share.id, type(err).__name__)
    now = services.now()
    await run_unit(
        services.records,
        lambda unit: record_share_mail(unit, share, sender=mailer.sender, problem=problem, now=now),
    )
    return MailOutcome(share.recipient, mailer.sender, problem)
