"""The display name of a case's channel: taken when the channel is bound, kept current on rename.

The name is a label for people (the case card shows it); access never depends on it — the
binding is the channel's id. A rename counts only when it names the channel a case is bound to
and the team that channel was bound in: Teams sends `channelRenamed` to the team's conversation,
so a team cannot rename another team's case channel.
"""

from __future__ import annotations

from dataclasses import replace

from evidence.model import Case, ChannelBinding
from evidence.records import RecordsUnit

MAX_CHANNEL_NAME = 200  # Teams allows 50; anything longer is not a name Teams gave


def channel_display_name(text: object) -> str | None:
    """`text` as a channel name (whitespace folded, bounded), or None if it is not one."""
    if not isinstance(text, str):
        return None
    name = " ".join(text.split())[:MAX_CHANNEL_NAME]
    return name or None


def named(channel: ChannelBinding, name: str | None) -> ChannelBinding:
    """The binding with `name`, if one is known (an unknown name never erases a known one)."""
    return replace(channel, name=name) if name else channel


async def rename_bound_channel(
    unit: RecordsUnit, *, team_id: str, channel_id: str, name: str
) -> Case | None:
    """Store the new name of the channel bound to a case; None (nothing changed) when no case
    is bound to `channel_id` in the team `team_id`, or the name is already that."""
    case = await unit.case_by_channel(channel_id)
    if case is None or case.channel is None or case.channel.team_id != team_id:
        return None
    if case.channel.name == name or not await unit.rename_channel(case.id, channel_id, name):
        return None
    return replace(case, channel=replace(case.channel, name=name))
