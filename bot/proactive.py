"""Posting and updating cards outside a turn, from a stored conversation reference."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from aiohttp import ClientConnectionError, ClientResponseError
from microsoft_agents.activity import (
    Activity,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
)
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import ClaimsIdentity, ConnectorClientBase, TurnContext

from bot.throttle import DEFAULT_RETRY, RetryPolicy, TeamsPacer, retry_delay, with_retries

PERSONAL = "personal"


class NoPersonalChat(Exception):
    """The person cannot be reached in a 1:1 chat from this reference."""


class Proactive:
    """Sends to conversations the bot has seen before (Teams requires that it has).

    Every proactive turn waits for room within Teams' rate limits for its conversation and
    tenant, and is run again when Teams answers 429, 412, 502 or 504 (`bot.throttle`): each
    callback here does one mutating call at most, or repeats idempotently (Teams answers the
    1:1 chat it already has), so a retry never doubles a message.
    """

    def __init__(
        self,
        adapter: CloudAdapter,
        app_id: str | None,
        *,
        pacer: TeamsPacer | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._pacer = pacer or TeamsPacer()
        self._retry = retry

    async def send(self, reference: str, activity: Activity) -> str | None:
        """Post `activity` (a new top-level post when the reference has no thread); its id."""
        sent: list[str | None] = []

        async def post(context: TurnContext) -> None:
            sent.append(await post_new(context, activity))

        await self.run(reference, post)
        return sent[0] if sent else None

    async def send_personal(self, reference: str, object_id: str, activity: Activity) -> str:
        """Send `activity` to one person in their 1:1 chat with the bot; that chat's id.

        `reference` is a conversation the person wrote to the bot in (its `user` is them, and
        must have the Entra object id `object_id`). A personal chat is used as it is; from a
        channel or group chat the 1:1 conversation is created through the connector (Teams
        answers with the existing one) — what is sent never reaches the channel. The
        connector's own create call is used: the adapter's `create_conversation` needs an
        audience, which an anonymous (local) bot does not have.
        """
        conversation = ConversationReference.model_validate_json(reference)
        person = conversation.user
        if person is None or not person.id or not _same_id(person.aad_object_id, object_id):
            raise NoPersonalChat("the reference names someone else")
        if conversation.conversation.conversation_type == PERSONAL:
            await self.send(reference, activity)
            return str(conversation.conversation.id)
        opened: list[str] = []

        async def open_and_post(context: TurnContext) -> None:
            opened.append(await _post_personal(context, person, activity))

        await self.run(reference, open_and_post)
        if not opened:
            raise NoPersonalChat("no conversation was opened")
        return opened[0]

    async def update(self, reference: str, activity_id: str, activity: Activity) -> None:
        """Replace the earlier activity `activity_id` (a card updated in place)."""

        async def replace(context: TurnContext) -> None:
            await context.update_activity(activity.model_copy(update={"id": activity_id}))

        await self.run(reference, replace)

    async def run(self, reference: str, callback: Callable[[TurnContext], Awaitable[None]]) -> None:
        """Run `callback` in a turn of the referenced conversation (outside any inbound turn)."""
        conversation = ConversationReference.model_validate_json(reference)
        # No id: what the callback sends is then a new post, not a reply to this event.
        continuation = conversation.get_continuation_activity().model_copy(update={"id": None})

        async def once() -> None:
            await self._pacer.turn(
                str(conversation.conversation.id), conversation.conversation.tenant_id
            )
            # The adapter hands a turn's exceptions to its error handler (which logs them); a
            # throttling answer is kept here instead, to be retried (or raised) after the turn.
            refused: list[BaseException] = []

            async def guarded(context: TurnContext) -> None:
                try:
                    await callback(context)
                except (ClientResponseError, ClientConnectionError, TimeoutError) as error:
                    if retry_delay(error, 1, self._retry) is None:
                        raise
                    refused.append(error)

            if self._app_id:
                await self._adapter.continue_conversation(self._app_id, continuation, guarded)
            else:
                # Anonymous (local) mode: empty claims make the SDK use no outbound token.
                await self._adapter.continue_conversation_with_claims(
                    ClaimsIdentity(),
                    continuation,
                    guarded,
                )
            if refused:
                raise refused[0]

        await with_retries(once, policy=self._retry, what="proactive message")


async def _post_personal(context: TurnContext, person: ChannelAccount, activity: Activity) -> str:
    """Open (or find) the 1:1 chat with `person` and post `activity` there; the chat's id."""
    client = _connector(context)
    incoming = context.activity
    tenant = incoming.conversation.tenant_id if incoming.conversation else None
    if not tenant:  # Teams creates a 1:1 chat only within a named tenant
        raise NoPersonalChat("the reference names no tenant")
    made = await client.conversations.create_conversation(
        ConversationParameters(
            is_group=False,
            agent=incoming.recipient,
            members=[ChannelAccount(id=person.id)],
            tenant_id=tenant,
            channel_data={"tenant": {"id": tenant}},
        )
    )
    if not made.id:
        raise NoPersonalChat("the connector opened no conversation")
    personal = ConversationAccount(id=made.id, conversation_type=PERSONAL, tenant_id=tenant)
    outgoing = activity.model_copy(
        update={
            "conversation": personal,
            "from_property": incoming.recipient,
            "recipient": person,
            "channel_id": incoming.channel_id,
            "service_url": incoming.service_url,
        }
    )
    await client.conversations.send_to_conversation(made.id, outgoing)
    return str(made.id)


def _connector(context: TurnContext) -> ConnectorClientBase:
    client: ConnectorClientBase | None = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
    if client is None:
        raise RuntimeError("no connector for a proactive post")
    return client


def _same_id(given: str | None, expected: str) -> bool:
    return bool(given) and str(given).lower() == expected.lower()


def reference_of(activity: Activity) -> str:
    """The conversation of `activity` as stored JSON, to send or update there later."""
    document = activity.get_conversation_reference().model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    return json.dumps(document, sort_keys=True)


def reference_without_names(reference: str) -> str:
    """`reference` with every display name left out: ids are all a proactive send needs, and
    a reference kept in a background job's row holds nothing personal beyond them."""
    document = json.loads(reference)
    for part in ("user", "agent", "bot", "conversation"):
        account = document.get(part)
        if isinstance(account, dict):
            account.pop("name", None)
    return json.dumps(document, sort_keys=True)


async def post_new(context: TurnContext, activity: Activity) -> str | None:
    """Post `activity` as a new message in a proactive turn's conversation; its id.

    Straight to the connector: `TurnContext.send_activity` would send `replyToId: null` (there
    is nothing to reply to), which a strict connector refuses.
    """
    client: ConnectorClientBase | None = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
    incoming = context.activity
    if client is None or incoming.conversation is None:
        raise RuntimeError("no connector for a proactive post")
    outgoing = activity.model_copy(
        update={
            "conversation": incoming.conversation,
            "from_property": incoming.recipient,
            "recipient": incoming.from_property,
            "channel_id": incoming.channel_id,
            "service_url": incoming.service_url,
        }
    )
    response = await client.conversations.send_to_conversation(incoming.conversation.id, outgoing)
    return response.id if response else None
