"""Teams' channel events: a renamed case channel keeps its name current on the case card.

Teams sends `conversationUpdate` with `channelData.eventType` `channelRenamed` to the team's
conversation (`conversation.id` is the team's id, the General channel's), naming the channel
in `channelData.channel`.
The activity has passed the edge (a Bot Framework token for this bot and an allowed tenant);
the rename counts only for a case bound to that channel in that same team — anything else is
ignored, answered with nothing and recorded nowhere.
"""

from __future__ import annotations

import logging

from microsoft_agents.activity import Activity

from bot.commands.case import channel_data
from bot.services import Services
from evidence.channel_names import channel_display_name, rename_bound_channel
from evidence.records import RecordsUnit, run_unit

logger = logging.getLogger(__name__)

CHANNEL_RENAMED = "channelRenamed"


async def on_conversation_update(activity: Activity, services: Services) -> None:
    """Act on the Teams events Exhibit follows (a channel renamed); ignore the rest."""
    data = channel_data(activity)
    if data.get("eventType") != CHANNEL_RENAMED:
        return
    team = data.get("team")
    channel = data.get("channel")
    team_id = team.get("id") if isinstance(team, dict) else None
    channel_id = channel.get("id") if isinstance(channel, dict) else None
    name = channel_display_name(channel.get("name") if isinstance(channel, dict) else None)
    conversation = activity.conversation.id if activity.conversation else ""
    if not (isinstance(team_id, str) and isinstance(channel_id, str) and name):
        return
    # Teams sends it in the team's conversation: one from any other conversation is not the
    # team's word about its channel.
    if conversation.split(";", 1)[0] not in (team_id, channel_id):
        return

    async def work(unit: RecordsUnit) -> bool:
        renamed = await rename_bound_channel(
            unit, team_id=team_id, channel_id=channel_id, name=name
        )
        return renamed is not None

    if await run_unit(services.records, work):
        logger.info("Case channel %s renamed", channel_id)
