"""E-mail through Microsoft Graph: `POST /users/{sender}/sendMail` from one configured mailbox.

Used to send a share's link to its external recipient. Graph answers 202 once Exchange has
accepted the message; delivery happens later and is not reported back. Needs the application
permission `Mail.Send`, which Exchange Online should scope to the sender mailbox alone (README).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Self

from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import (
    SendMailPostRequestBody,
)

from evidence.errors import DirectoryUnavailable, InvalidInput, MailNotSent
from evidence.ports import MailMessage
from graph.client import GraphConnection, connect
from graph.config import GraphDirectoryConfig
from graph.credentials import build_credential
from graph.errors import translated
from graph.ids import canonical_mailbox

logger = logging.getLogger(__name__)

MAX_SUBJECT = 255


class GraphMailer:
    """The Mailer port on Graph's `sendMail`, sending as one mailbox."""

    def __init__(self, connection: GraphConnection, sender: str, *, timeout: float) -> None:
        self._connection = connection
        self._sender = _mailbox(sender)
        self._timeout = timeout

    @property
    def sender(self) -> str:
        """The mailbox mail is sent from."""
        return self._sender

    async def send(self, message: MailMessage) -> None:
        """Hand `message` to Exchange; `MailNotSent` if Graph does not accept it."""
        to = canonical_mailbox(message.to)
        if to is None or "@" not in to:
            raise InvalidInput("recipient", f"{message.to!r} is not an e-mail address")
        body = SendMailPostRequestBody(
            message=Message(
                subject=message.subject[:MAX_SUBJECT],
                body=ItemBody(content_type=BodyType.Html, content=message.html),
                to_recipients=[Recipient(email_address=EmailAddress(address=to))],
            ),
            save_to_sent_items=True,
        )
        builder = self._connection.client.users.by_user_id(self._sender).send_mail
        try:
            with translated("send mail"):
                async with asyncio.timeout(self._timeout):
                    await builder.post(body)
        except DirectoryUnavailable as err:
            raise MailNotSent(err.reason, status=err.status) from err
        logger.info("graph: mail accepted from %s", self._sender)

    async def aclose(self) -> None:
        """Close the HTTP client and the credential."""
        await self._connection.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def open_graph_mailer(config: GraphDirectoryConfig, sender: str) -> GraphMailer:
    """A mailer with a Graph connection of its own (built off the event loop); `aclose()` it."""
    mailbox = _mailbox(sender)  # before connecting: nothing to close on a bad setting
    connection = await asyncio.to_thread(lambda: connect(config, build_credential(config)))
    return GraphMailer(connection, mailbox, timeout=config.timeout)


def _mailbox(sender: str) -> str:
    found = canonical_mailbox(sender)
    if found is None:
        raise InvalidInput("sender mailbox", "is neither an e-mail address nor an object id")
    return found
