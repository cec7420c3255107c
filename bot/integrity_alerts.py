"""Integrity alerts posted in Teams: the case's channel, and the force's security channel.

Implements the worker's `IntegrityAlerts` port. Both are proactive posts (a new top-level post
in the channel): the case channel from the reference stored when it was bound, the security
channel from the reference its settings make (`security_channel_reference`).
"""

from __future__ import annotations

import json

from microsoft_agents.hosting.core import TurnContext

from bot.proactive import Proactive, post_new
from bot.replies import card_activity
from cards.integrity import build_integrity_alert_card
from evidence.model import Case
from evidence.sweeps import AlertTarget, IntegrityAlert

TEAMS = "msteams"


def security_channel_reference(
    service_url: str, channel_id: str, tenant_id: str, bot_app_id: str | None
) -> str:
    """A stored conversation reference for a Teams channel Exhibit is installed in.

    Teams lets a bot post to a channel of a team it was added to, by the channel's id, at the
    service URL of the tenant's region (what the bot saw in that team's activities).
    """
    document = {
        "bot": {"id": f"28:{bot_app_id or 'exhibit'}", "name": "Exhibit"},
        "channelId": TEAMS,
        "conversation": {
            "conversationType": "channel",
            "id": channel_id,
            "isGroup": True,
            "tenantId": tenant_id,
        },
        "serviceUrl": service_url,
    }
    return json.dumps(document, sort_keys=True)


class AlertNotPosted(Exception):
    """Teams did not take the alert (the sweep keeps it and tries again)."""

    def __init__(self, target: AlertTarget) -> None:
        super().__init__(str(target))
        self.target = target


class ChannelAlerts:
    """Posts the alert card to the case's bound channel and to the security channel."""

    def __init__(self, proactive: Proactive, security_channel: str | None) -> None:
        self._proactive = proactive
        self._security_channel = security_channel

    def targets(self, case: Case) -> frozenset[AlertTarget]:
        """The case's channel if it has one; the security channel if one is set."""
        targets = set()
        if case.channel is not None:
            targets.add(AlertTarget.CASE_CHANNEL)
        if self._security_channel is not None:
            targets.add(AlertTarget.SECURITY_CHANNEL)
        return frozenset(targets)

    async def post(self, alert: IntegrityAlert, case: Case, target: AlertTarget) -> None:
        """Post the alert card to `target`; raises when Teams did not take it."""
        if target is AlertTarget.CASE_CHANNEL:
            if case.channel is None:
                raise LookupError("the case is not bound to a channel")
            reference = case.channel.conversation_reference
        else:
            if self._security_channel is None:
                raise LookupError("no security channel is set")
            reference = self._security_channel
        activity = card_activity(build_integrity_alert_card(case.reference, alert))
        posted: list[bool] = []

        async def post(context: TurnContext) -> None:
            await post_new(context, activity)
            posted.append(True)

        # The adapter logs a failed proactive turn and carries on: success is what was posted.
        await self._proactive.run(reference, post)
        if not posted:
            raise AlertNotPosted(target)
