"""Learning the display name of the channel a case is bound to.

Sources, in order: the activity itself (`channelData.channel.name`, which Teams often leaves out,
always for the General channel); Microsoft Graph (`GET /teams/{id}/channels/{id}`) when the
directory is Graph and the team's Entra id is known; the Bot Framework connector's list of the
team's channels (`GET /v3/teams/{id}/conversations`, what TeamsInfo asks, also answered by the
Agents Playground), where the General channel is the one whose id is the team's and has no name.
Every lookup is remote: a failure means "not known yet", never an error for the officer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.connector import ConnectorClient, ConnectorClientBase

from evidence.channel_names import channel_display_name, named
from evidence.errors import DirectoryUnavailable
from evidence.model import ChannelBinding
from evidence.ports import ChannelNames

logger = logging.getLogger(__name__)

GENERAL = "General"  # Teams' name for a team's first channel, whose id is the team's
LOOKUP_SECONDS = 10.0


async def learn_channel_name(
    context: TurnContext, channel: ChannelBinding, graph: ChannelNames | None
) -> ChannelBinding:
    """`channel` with its display name, from the first source that knows it (or unchanged)."""
    if channel.name:
        return channel
    name = None
    if graph is not None and channel.graph_team_id:
        try:
            name = await graph.channel_name(channel.graph_team_id, channel.channel_id)
        except DirectoryUnavailable as err:
            logger.warning("Channel name of %s unavailable (%s)", channel.channel_id, err.status)
    if name is None:
        name = await connector_channel_name(context, channel.team_id, channel.channel_id)
    return named(channel, channel_display_name(name))


async def connector_channel_name(context: TurnContext, team_id: str, channel_id: str) -> str | None:
    """The channel's name from the connector's list of the team's channels; None if unknown."""
    client = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
    if not isinstance(client, ConnectorClient) or not team_id:
        return None
    try:
        async with (
            asyncio.timeout(LOOKUP_SECONDS),
            client.client.get(f"v3/teams/{quote(team_id, safe='')}/conversations") as response,
        ):
            response.raise_for_status()
            body: Any = await response.json()
    except Exception as err:  # the connector is remote: any failure means "unknown"
        logger.warning("Channels of team %s unavailable: %s", team_id, type(err).__name__)
        return None
    conversations = body.get("conversations") if isinstance(body, dict) else None
    for conversation in conversations if isinstance(conversations, list) else []:
        if isinstance(conversation, dict) and conversation.get("id") == channel_id:
            name = channel_display_name(conversation.get("name"))
            return name or (GENERAL if channel_id == team_id else None)
    return None
