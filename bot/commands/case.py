"""`case open`, `case list`, `case show`: Teams in, domain use cases, cards out."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from microsoft_agents.activity import Activity

from bot.case_teams import connector_members
from bot.channel_names import learn_channel_name
from bot.commands.case_grammar import read_case_words
from bot.commands.parsing import split_reason
from bot.replies import card_activity
from bot.services import Turn
from cards.cases import build_case_card, build_case_list_card
from evidence.cases import (
    Binding,
    CaseRequest,
    MembersOf,
    bind_case,
    case_view_event,
    cases_visible_to,
    check_case_open,
    check_consultation,
    check_reason,
    decide_consultation,
    find_case,
    open_case,
    record_case_view,
)
from evidence.channel_names import channel_display_name
from evidence.errors import (
    AccessRefused,
    CaseNotFound,
    ExhibitError,
    InvalidInput,
    ReasonRequired,
)
from evidence.model import Case, ChannelBinding
from evidence.policy import Decision
from evidence.ports import ChannelCreator
from evidence.records import RecordsUnit, run_unit

if TYPE_CHECKING:
    from microsoft_teams.cards import AdaptiveCard

logger = logging.getLogger(__name__)
T = TypeVar("T")


async def case_open(turn: Turn) -> AdaptiveCard:
    """Open a case; in a team channel, bind that channel (or a new one, if so configured)."""
    services = turn.services
    request = check_case_open(read_case_words(turn.command.args), services.case_rules)
    channel = channel_binding(turn.context.activity)
    creator = services.channel_creator
    if channel is not None and creator is not None and channel.graph_team_id:
        return await _open_in_new_channel(turn, request, channel, creator, channel.graph_team_id)
    if channel is not None:
        channel = await learn_channel_name(turn.context, channel, services.channel_names)
    case = await _record_case(turn, request, channel)
    if channel is not None:
        members = await connector_members(turn.context)
        if members is not None:
            services.case_teams.remember(channel.channel_id, members)
    logger.info("Case %s opened by %s", case.id, turn.officer.object_id)
    headline = "Case opened and bound to this channel." if channel else "Case opened."
    return build_case_card(case, exhibits=0, open_shares=0, headline=headline)


async def case_bind(turn: Turn) -> AdaptiveCard:
    """Bind the channel this is typed in to a case opened elsewhere (in personal chat, say)."""
    channel = channel_binding(turn.context.activity)
    if channel is None:
        raise InvalidInput(
            "channel",
            "type `case bind <case-ref>` in the team channel that should be the case's channel, "
            "mentioning Exhibit",
        )
    if not turn.command.args:
        raise InvalidInput("case reference", "name the case, e.g. `case bind MET-24-0001`")
    reference = turn.command.args[0]
    channel = await learn_channel_name(turn.context, channel, turn.services.channel_names)
    now = turn.services.now()

    async def work(unit: RecordsUnit, members_of: MembersOf) -> Binding:
        return await bind_case(unit, turn.officer, reference, channel, members_of, now=now)

    binding = await turn.run_unit_with_teams(work)
    if not binding.decision.allowed:
        raise refusal_error(binding.decision, reference)
    members = await connector_members(turn.context)
    if members is not None:
        turn.services.case_teams.remember(channel.channel_id, members)

    async def count_exhibits(unit: RecordsUnit) -> int:
        return len(await unit.exhibits_of(binding.case.id))

    exhibits = await run_unit(turn.services.records, count_exhibits)
    logger.info("Case %s bound to a channel by %s", binding.case.id, turn.officer.object_id)
    return build_case_card(
        binding.case,
        exhibits=exhibits,
        open_shares=0,
        headline="Case bound to this channel: its members join the case team, and shares are "
        "approved here.",
    )


async def _record_case(turn: Turn, request: CaseRequest, channel: ChannelBinding | None) -> Case:
    case_id = str(uuid.uuid4())
    now = turn.services.now()

    async def work(unit: RecordsUnit) -> Case:
        return await open_case(
            unit, turn.officer, request, case_id=case_id, now=now, channel=channel
        )

    return await run_unit(turn.services.records, work)


async def _open_in_new_channel(
    turn: Turn,
    request: CaseRequest,
    here: ChannelBinding,
    creator: ChannelCreator,
    graph_team_id: str,
) -> AdaptiveCard:
    """Create a channel for the case through Graph, bind it, and post the case card there."""
    services = turn.services
    name = channel_name(request.reference, request.title)
    channel_id = await creator.create_channel(
        graph_team_id, name, f"Evidence for case {request.reference} (Exhibit)"
    )
    reference = json.loads(here.conversation_reference)
    reference["conversation"]["id"] = channel_id
    channel = dataclasses.replace(
        here,
        channel_id=channel_id,
        conversation_reference=json.dumps(reference, sort_keys=True),
        name=name,
    )
    case = await _record_case(turn, request, channel)
    card = build_case_card(case, exhibits=0, open_shares=0, headline="Case opened.")
    await services.proactive.send(channel.conversation_reference, card_activity(card))
    logger.info("Case %s opened in new channel %s", case.id, channel_id)
    return build_case_card(
        case, exhibits=0, open_shares=0, headline=f"Case opened in its own channel, {name}."
    )


_NOT_IN_CHANNEL_NAMES = re.compile(r"[~#%&*{}+/\\:<>?|'\".]")


def channel_name(reference: str, title: str) -> str:
    """A Teams channel name for a case: no forbidden characters, at most 50 of them."""
    name = _NOT_IN_CHANNEL_NAMES.sub(" ", f"{reference} {title}")
    return " ".join(name.split())[:50].strip()


async def case_list(turn: Turn) -> AdaptiveCard:
    """The cases the officer may see."""

    async def work(unit: RecordsUnit, members_of: MembersOf) -> list[Case]:
        return await cases_visible_to(unit, turn.officer, members_of)

    return build_case_list_card(await turn.run_unit_with_teams(work))


async def case_show(turn: Turn) -> AdaptiveCard:
    """One case, by reference or the channel's own; the view is recorded."""

    async def count_exhibits(unit: RecordsUnit, case: Case) -> int:
        return len(await unit.exhibits_of(case.id))

    case, exhibits = await view_case(turn, count_exhibits)
    return build_case_card(await _named_channel(turn, case), exhibits=exhibits, open_shares=0)


async def _named_channel(turn: Turn, case: Case) -> Case:
    """The case with its channel's name learnt and stored, when it was not known (a case bound
    before names were kept) and the command comes from that channel."""
    channel = case.channel
    here = conversation_channel_id(turn.context.activity)
    if channel is None or channel.name or here != channel.channel_id:
        return case
    learnt = await learn_channel_name(turn.context, channel, turn.services.channel_names)
    if not learnt.name:
        return case
    name = learnt.name

    async def store(unit: RecordsUnit) -> bool:
        return await unit.rename_channel(case.id, channel.channel_id, name)

    stored = await run_unit(turn.services.records, store)
    return dataclasses.replace(case, channel=learnt) if stored else case


async def view_case(
    turn: Turn, read: Callable[[RecordsUnit, Case], Awaitable[T]], *, view: str | None = None
) -> tuple[Case, T]:
    """The case the command names (first argument, or the channel's own) and `read` of it.

    The view is recorded (`view` says of what, if not the case itself) before this returns; a
    refusal is recorded, committed, then raised (`refusal_error`). `read` must only read.

    Most views are allowed, so they are read in a read unit (no write lock) and the view is
    appended in a commit shared with concurrent views (`Records.append_grouped`): many officers
    listing evidence at once no longer queue one by one for the database's single writer. A
    refusal found there is decided again and recorded in a write unit, as before.
    """
    words, reason = consultation_words(turn)
    reference = words[0] if words else None
    channel_id = conversation_channel_id(turn.context.activity)
    now = turn.services.now()

    async def look(unit: RecordsUnit, members_of: MembersOf) -> tuple[Case, T | None, Decision]:
        case = await find_case(unit, reference, channel_id)
        decision = await decide_consultation(turn.officer, case, members_of, reason=reason)
        if not decision.allowed:
            return case, None, decision
        return case, await read(unit, case), decision

    case, found, decision = await turn.run_unit_with_teams(look, read_only=True)
    if decision.allowed:
        await turn.services.records.append_grouped(
            case_view_event(turn.officer, case, now=now, view=view, reason=reason)
        )
        return case, cast(T, found)

    async def work(unit: RecordsUnit, members_of: MembersOf) -> tuple[Case, T | None, Decision]:
        case = await find_case(unit, reference, channel_id)
        decision = await check_consultation(
            unit, turn.officer, case, members_of, now=now, reason=reason
        )
        if not decision.allowed:
            return case, None, decision
        await record_case_view(unit, turn.officer, case, now=now, view=view, reason=reason)
        return case, await read(unit, case), decision

    case, found, decision = await turn.run_unit_with_teams(work)
    if not decision.allowed:
        raise refusal_error(decision, reference)
    return case, cast(T, found)


def consultation_words(turn: Turn) -> tuple[tuple[str, ...], str | None]:
    """The command's words before `reason`, and the reason checked (None if none was given)."""
    words, typed = split_reason(turn.command.args)
    return words, None if typed is None else check_reason(typed)


def refusal_error(decision: Decision, reference: str | None) -> ExhibitError:
    """What to raise for a refusal: to someone off the case, it is as if there were no case."""
    if decision.asks_reason:
        return ReasonRequired(reference.upper() if reference else None)
    if decision.hides_case:
        return CaseNotFound(reference.upper() if reference else None)
    return AccessRefused(decision.reason)


def conversation_channel_id(activity: Activity) -> str | None:
    """The Teams channel a channel message was posted in, else None."""
    conversation = activity.conversation
    if conversation is None or conversation.conversation_type != "channel":
        return None
    data = channel_data(activity)
    channel = data.get("channel")
    if isinstance(channel, dict) and isinstance(channel.get("id"), str):
        return str(channel["id"])
    return conversation.id.split(";", 1)[0]


def channel_binding(activity: Activity) -> ChannelBinding | None:
    """How to find and post to the channel of `activity` later; None outside channels."""
    channel_id = conversation_channel_id(activity)
    if channel_id is None:
        return None
    data = channel_data(activity)
    team = _object(data, "team")
    tenant = _object(data, "tenant")
    reference = activity.get_conversation_reference()
    # A reference to the channel itself, not to this message's thread: later posts start
    # new top-level conversations in the channel.
    document = reference.model_dump(mode="json", by_alias=True, exclude_none=True)
    document.pop("activityId", None)
    document["conversation"]["id"] = channel_id
    return ChannelBinding(
        team_id=str(team.get("id") or ""),
        channel_id=channel_id,
        graph_team_id=str(team["aadGroupId"]) if team.get("aadGroupId") else None,
        conversation_reference=json.dumps(document, sort_keys=True),
        tenant_id=str(tenant.get("id") or activity.conversation.tenant_id or ""),
        name=channel_display_name(_object(data, "channel").get("name")),
    )


def channel_data(activity: Activity) -> dict[str, Any]:
    """The activity's `channelData` as a dict (empty when absent or not an object)."""
    data = activity.channel_data
    if isinstance(data, dict):
        return data
    if data is not None and hasattr(data, "model_dump"):
        dumped = data.model_dump(mode="json", by_alias=True, exclude_none=True)
        return dumped if isinstance(dumped, dict) else {}
    return {}


def _object(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    return value if isinstance(value, dict) else {}
