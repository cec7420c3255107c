"""Case teams: who is in the Teams channel bound to a case.

Two sources, as the deployment allows: Microsoft Graph's channel members (through the
directory, when it is Graph and the team's Entra group id is known), or the Bot Framework
connector's paged conversation members (what the Teams client itself — and the Agents
Playground — answer for a conversation the bot is in): inside a turn in that channel, or from
anywhere through a proactive turn on the channel's stored reference. Answers are cached for
`ttl` seconds. When no source can answer, the team is the creator alone: unknown never widens
access.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from microsoft_agents.hosting.core import ConnectorClientBase, TurnContext

from evidence.errors import DirectoryUnavailable
from evidence.model import Case, ChannelBinding
from evidence.ports import Directory
from evidence.records import inside_unit

logger = logging.getLogger(__name__)

PAGE_SIZE = 100  # the connector's largest page
MAX_PAGES = 100

# Runs a callback in a proactive turn of a stored conversation (`Proactive.run`).
ChannelTurn = Callable[[str, Callable[[TurnContext], Awaitable[None]]], Awaitable[None]]


class CaseTeams:
    """Members (Entra object ids, lower-case) of each case's bound channel, cached."""

    def __init__(
        self,
        directory: Directory,
        *,
        use_graph: bool,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        channel_turn: ChannelTurn | None = None,
    ) -> None:
        self._directory = directory
        self._channel_turn = channel_turn
        self._use_graph = use_graph
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    async def members(
        self, case: Case, context: TurnContext | None = None, *, fresh: bool = False
    ) -> frozenset[str]:
        """The bound channel's members; `context` lets a turn in that channel ask Teams.

        `fresh`: asked now, past the cache, for a decision (approve, reject, revoke, a new link):
        someone removed from the channel a moment ago is no longer on the team. If nobody can
        answer, a fresh team is the creator alone — never the last known one.
        """
        known = None if fresh else self.cached(case)
        if known is not None or case.channel is None:
            return known or frozenset()
        channel = case.channel
        members = await self._fetch(case, channel, context, fresh=fresh)
        if members is None:  # nobody answered: the last known team, or the creator alone
            stale = None if fresh else self._cache.get(channel.channel_id)
            return stale[1] if stale is not None else frozenset()
        self._cache[channel.channel_id] = (self._clock(), members)
        return members

    def cached(self, case: Case) -> frozenset[str] | None:
        """The case team if it is known without asking anyone, else None."""
        channel = case.channel
        if channel is None:
            return frozenset()
        cached = self._cache.get(channel.channel_id)
        if cached is not None and self._clock() - cached[0] < self._ttl:
            return cached[1]
        return None

    def remember(self, channel_id: str, members: frozenset[str]) -> None:
        """Store members learnt elsewhere (e.g. when a case is opened in the channel)."""
        self._cache[channel_id] = (self._clock(), members)

    async def _fetch(
        self, case: Case, channel: ChannelBinding, context: TurnContext | None, *, fresh: bool
    ) -> frozenset[str] | None:
        if inside_unit():  # a network call here would hold the database's write lock
            logger.warning("Case team of %s looked up inside a unit of work", case.id)
        if self._use_graph and channel.graph_team_id:
            try:
                found = await self._directory.channel_members(
                    channel.graph_team_id, channel.channel_id, fresh=fresh
                )
                return frozenset(m.lower() for m in found)
            except DirectoryUnavailable:
                logger.warning("Channel members of case %s unavailable from Graph", case.id)
                return None
        if context is not None and _conversation_channel(context) == channel.channel_id:
            return await connector_members(context)
        if self._channel_turn is not None:
            return await self._ask_in_channel(self._channel_turn, case, channel)
        return None

    @staticmethod
    async def _ask_in_channel(
        channel_turn: ChannelTurn, case: Case, channel: ChannelBinding
    ) -> frozenset[str] | None:
        """The connector's members of the channel, asked in a proactive turn there."""
        found: list[frozenset[str] | None] = []

        async def ask(context: TurnContext) -> None:
            found.append(await connector_members(context))

        try:
            await channel_turn(channel.conversation_reference, ask)
        except Exception as err:  # the connector is remote: any failure means "unknown"
            logger.warning(
                "Channel members of case %s unavailable: %s", case.id, type(err).__name__
            )
            return None
        return found[0] if found else None


async def connector_members(context: TurnContext) -> frozenset[str] | None:
    """The members of the turn's conversation, from the Bot Framework connector (paged)."""
    accounts = await connector_accounts(context)
    return None if accounts is None else frozenset(accounts)


async def connector_accounts(context: TurnContext) -> dict[str, str] | None:
    """Entra object id (lower case) -> Teams user id of the turn's conversation's members."""
    client: ConnectorClientBase | None = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
    conversation = _conversation_channel(context)
    if client is None or conversation is None:
        return None
    members: dict[str, str] = {}
    token: str | None = None
    try:
        for _ in range(MAX_PAGES):
            page = await client.conversations.get_conversation_paged_members(
                conversation, page_size=PAGE_SIZE, continuation_token=token
            )
            members.update(
                (m.aad_object_id.lower(), m.id) for m in page.members or [] if m.aad_object_id
            )
            token = page.continuation_token
            if not token:
                break
    except Exception as err:  # the connector is remote: any failure means "unknown"
        logger.warning("Paged members of %s unavailable: %s", conversation, type(err).__name__)
        return None
    return members


def _conversation_channel(context: TurnContext) -> str | None:
    """The channel id of the turn's conversation, without the thread's `;messageid=`."""
    conversation = context.activity.conversation
    if conversation is None or not conversation.id:
        return None
    return conversation.id.split(";", 1)[0]
