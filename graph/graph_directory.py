"""`GraphDirectory`: officers, their roles and channel members from Microsoft Graph.

Request economy (docs/directory.md has the measurements):
- users: `GET /users/{id}` for one officer, `GET /users?$filter=id in (...)` for up to 15 ids
  (Graph's limit for `in`) when there are more;
- roles (graph/roles.py), whichever costs fewer requests:
  - per officer: `GET /users/{id}/transitiveMemberOf` (strongly consistent; one officer, or a
    few officers against many role groups);
  - per role group: `GET /groups/{g}/transitiveMembers/graph.user?$filter=id in (...)` for the
    same chunks of 15 ids (an advanced query: `ConsistencyLevel: eventual` and `$count=true`),
    so 100 officers and 4 role groups cost 7 x 5 = 35 requests instead of 107;
- everything is packed 20 to a `$batch`, and answers are cached (graph/cache.py), so repeated
  and concurrent lookups cost nothing more.
`$expand=transitiveMemberOf` is not used: it stops at 20 items, without paging or a nested
`$select`, so it cannot be trusted for authorization. If Graph refuses the group query (400, or
403 without `GroupMember.Read.All`), the directory says so once in the log and asks per officer
from then on.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Self

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.aad_user_conversation_member import AadUserConversationMember
from msgraph.generated.models.channel import Channel
from msgraph.generated.models.channel_membership_type import ChannelMembershipType
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.teams.item.channels.item.channel_item_request_builder import (
    ChannelItemRequestBuilder,
)
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from evidence.errors import InvalidInput
from evidence.officers import Officer
from graph.batch import BatchItem, BatchRunner
from graph.cache import Failed, SingleFlightCache
from graph.client import GraphConnection, connect
from graph.config import GraphDirectoryConfig
from graph.credentials import build_credential
from graph.errors import GraphProtocolError, odata_code, translated
from graph.ids import canonical_id
from graph.roles import IN_FILTER_MAX, MAX_PAGES, RoleLookup, failed_answer, id_in
from graph.users import USER_FIELDS, officer_from, roles_from, user_id

logger = logging.getLogger(__name__)

BULK_SLICE = 200  # ids per load: 14 chunks x (1 user list + 4 role groups) = 4 batches
_CHANNEL_ID = re.compile(r"^19:[^/?#;\s]+$")
_CHANNEL_NAME_FORBIDDEN = re.compile(r"[~#%&*{}+/\\:<>?|'\"]")

ChannelKey = tuple[str, str]


class GraphDirectory:
    """The Directory port on Microsoft Graph (application permissions)."""

    def __init__(
        self,
        config: GraphDirectoryConfig,
        connection: GraphConnection,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._connection = connection
        self._client = connection.client
        self._batch = BatchRunner(
            connection.adapter,
            max_retries=config.max_retries,
            retry_delay=config.retry_delay,
            max_wait=config.timeout,
        )
        self._officers: SingleFlightCache[str, Officer] = SingleFlightCache(
            ttl=config.cache_ttl,
            negative_ttl=config.negative_ttl,
            stale_if_error=config.stale_if_error,
            max_entries=config.max_cache_entries,
            clock=clock,
        )
        self._channels: SingleFlightCache[ChannelKey, frozenset[str]] = SingleFlightCache(
            ttl=config.cache_ttl,
            negative_ttl=config.negative_ttl,
            stale_if_error=config.stale_if_error,
            max_entries=config.max_cache_entries,
            clock=clock,
        )
        self._base = config.base_url.rstrip("/") + "/"
        self._roles = RoleLookup(connection, self._base, config.role_groups)

    @property
    def source(self) -> str:
        """Answers come from Microsoft Graph."""
        return "graph"

    async def officer(self, object_id: str, *, fresh: bool = False) -> Officer | None:
        """The officer with this object id, or None if Entra does not know it.

        `fresh`: asked of Graph now, past the cache (the answer then refreshes the cache).
        """
        key = canonical_id(object_id)
        if key is None:
            return None
        found = await self._officers.get_many([key], self._load_officers, fresh=fresh)
        return found.get(key)

    async def officers(self, object_ids: Iterable[str]) -> Mapping[str, Officer]:
        """The known officers among `object_ids`, keyed by the ids as given."""
        keys = {given: canonical_id(given) for given in object_ids}
        wanted = list(dict.fromkeys(key for key in keys.values() if key is not None))
        found: dict[str, Officer | None] = {}
        # Each slice is one load with its own timeout: a long list cannot starve the budget.
        for start in range(0, len(wanted), BULK_SLICE):
            slice_ = wanted[start : start + BULK_SLICE]
            found.update(await self._officers.get_many(slice_, self._load_officers))
        return {
            given: officer
            for given, key in keys.items()
            if key is not None and (officer := found.get(key)) is not None
        }

    async def channel_members(
        self, team_id: str, channel_id: str, *, fresh: bool = False
    ) -> frozenset[str]:
        """Object ids of a channel's Entra members; empty for an unknown team or channel."""
        team = canonical_id(team_id)
        if team is None or not _CHANNEL_ID.match(channel_id):
            return frozenset()
        key = (team, channel_id)
        found = await self._channels.get_many([key], self._load_channels, fresh=fresh)
        return found.get(key) or frozenset()

    async def create_channel(self, team_id: str, display_name: str, description: str) -> str:
        """Create a standard channel in the team (Graph `POST /teams/{id}/channels`)."""
        team = canonical_id(team_id)
        if team is None:
            raise InvalidInput("team", "is not a Teams group id")
        name = display_name.strip()
        if not name or len(name) > 50 or _CHANNEL_NAME_FORBIDDEN.search(name):
            raise InvalidInput("channel name", "needs 1-50 characters, none of ~#%&*{}+/\\:<>?|'\"")
        if name.startswith(("_", ".")) or name.endswith("."):
            raise InvalidInput("channel name", "must not start with _ or . nor end with .")
        body = Channel(
            display_name=name,
            description=description[:1024],
            membership_type=ChannelMembershipType.Standard,
        )
        with translated("create channel"):
            try:
                async with asyncio.timeout(self._config.timeout):
                    created = await self._client.teams.by_team_id(team).channels.post(body)
            except ODataError as err:
                status = err.response_status_code
                if status == 404:
                    raise InvalidInput("team", "is not a team Exhibit can see") from err
                if status in (400, 409):
                    problem = "already exists" if status == 409 else "was refused by Teams"
                    raise InvalidInput("channel name", f"{problem} ({odata_code(err)})") from err
                raise
            if created is None or not created.id:
                raise GraphProtocolError("created channel has no id")
        logger.info("graph: created channel %s in team %s", created.id, team)
        return created.id

    async def channel_name(self, team_id: str, channel_id: str) -> str | None:
        """The channel's display name (Graph `GET /teams/{id}/channels/{id}`); None if unknown.

        Needs RSC `ChannelSettings.Read.Group` in the team (or `Channel.ReadBasic.All`).
        """
        team = canonical_id(team_id)
        if team is None or not _CHANNEL_ID.match(channel_id):
            return None
        builder = self._client.teams.by_team_id(team).channels.by_channel_id(channel_id)
        query = ChannelItemRequestBuilder.ChannelItemRequestBuilderGetQueryParameters(
            select=["id", "displayName"]
        )
        config = RequestConfiguration(query_parameters=query)
        with translated("read channel"):
            try:
                async with asyncio.timeout(self._config.timeout):
                    channel = await builder.get(request_configuration=config)
            except ODataError as err:
                if err.response_status_code in (403, 404):
                    return None
                raise
        return channel.display_name if channel is not None and channel.display_name else None

    async def aclose(self) -> None:
        """Stop loads in flight and close the HTTP client and the credential."""
        await self._officers.aclose()
        await self._channels.aclose()
        await self._connection.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _load_officers(self, ids: list[str]) -> dict[str, Officer | Failed | None]:
        with translated("resolve officers"):
            async with asyncio.timeout(self._config.timeout):
                results = await self._resolve(ids)
        return results

    async def _resolve(self, ids: list[str]) -> dict[str, Officer | Failed | None]:
        chunks = [ids[start : start + IN_FILTER_MAX] for start in range(0, len(ids), IN_FILTER_MAX)]
        user_items = self._user_requests(ids, chunks)
        by_group = self._roles.by_group(ids, chunks)
        if not self._roles.role_groups:
            role_items: list[BatchItem] = []
        elif by_group:
            role_items = self._roles.group_requests(chunks)
        else:
            role_items = self._roles.officer_requests(ids)
        answers = await self._batch.run([item for item, _ in user_items] + role_items)
        results: dict[str, Officer | Failed | None] = dict.fromkeys(ids)
        users: dict[str, dict[str, Any]] = {}
        for item, covered in user_items:
            answer = answers[item.id]
            if answer.status == 200:
                users.update(_users_in(answer.body, covered))
            elif answer.status != 404:
                failed = failed_answer("user lookup", answer)
                results.update(dict.fromkeys(covered, failed))
        if by_group and role_items:
            members = await self._roles.group_members(chunks, answers)
            if members is None:
                return await self._resolve(ids)  # the group query was refused: ask per officer
            for object_id, user in users.items():
                results[object_id] = self._officer(user, members.get(object_id, frozenset()))
        else:
            for object_id, user in users.items():
                groups = await self._roles.groups_of(object_id, answers) if role_items else []
                results[object_id] = self._officer(user, groups)
        return results

    def _officer(
        self, user: Mapping[str, Any], groups: Iterable[str] | Failed | None
    ) -> Officer | Failed | None:
        if groups is None or isinstance(groups, Failed):
            return groups
        return officer_from(user, roles_from(groups, self._roles.role_groups))

    def _user_requests(
        self, ids: list[str], chunks: list[list[str]]
    ) -> list[tuple[BatchItem, list[str]]]:
        users = self._client.users
        if len(ids) == 1:
            query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
                select=list(USER_FIELDS)
            )
            request = users.by_user_id(ids[0]).to_get_request_information(
                RequestConfiguration(query_parameters=query)
            )
            return [(BatchItem(f"user-{ids[0]}", request), ids)]
        items = []
        for number, chunk in enumerate(chunks):
            list_query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
                filter=id_in(chunk), select=list(USER_FIELDS), top=IN_FILTER_MAX
            )
            request = users.to_get_request_information(
                RequestConfiguration(query_parameters=list_query)
            )
            items.append((BatchItem(f"users-{number}", request), chunk))
        return items

    async def _load_channels(
        self, keys: list[ChannelKey]
    ) -> dict[ChannelKey, frozenset[str] | Failed | None]:
        results: dict[ChannelKey, frozenset[str] | Failed | None] = {}
        for key in keys:
            with translated("list channel members"):
                try:
                    async with asyncio.timeout(self._config.timeout):
                        results[key] = await self._members(*key)
                except ODataError as err:
                    if err.response_status_code != 404:
                        raise
                    results[key] = None
        return results

    async def _members(self, team_id: str, channel_id: str) -> frozenset[str]:
        # No $select: userId belongs to the derived aadUserConversationMember type only.
        builder = self._client.teams.by_team_id(team_id).channels.by_channel_id(channel_id).members
        page = await builder.get()
        members: set[str] = set()
        pages = 0
        while page is not None:
            pages += 1
            for member in page.value or []:
                if isinstance(member, AadUserConversationMember) and member.user_id:
                    found = canonical_id(member.user_id)
                    if found is not None:
                        members.add(found)
            next_link = page.odata_next_link
            if not next_link:
                break
            if not next_link.startswith(self._base) or pages >= MAX_PAGES:
                raise GraphProtocolError("member paging left Graph or did not end")
            page = await builder.with_url(next_link).get()
        return frozenset(members)


async def open_graph_directory(
    config: GraphDirectoryConfig, *, clock: Callable[[], float] = time.monotonic
) -> GraphDirectory:
    """Build the credential and Graph client off the event loop; close with `aclose()`."""
    connection = await asyncio.to_thread(_connect, config)
    return GraphDirectory(config, connection, clock=clock)


def _connect(config: GraphDirectoryConfig) -> GraphConnection:
    credential = build_credential(config)
    _warm_models()
    return connect(config, credential)


def _warm_models() -> None:
    # The SDK imports its model modules on first parse (~0.7 s): pay that here, in a thread.
    from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
    from msgraph.generated.models.conversation_member_collection_response import (
        ConversationMemberCollectionResponse,
    )

    samples: list[tuple[bytes, Any]] = [
        (
            b'{"value":[{"@odata.type":"#microsoft.graph.aadUserConversationMember",'
            b'"id":"m","userId":"u"}]}',
            ConversationMemberCollectionResponse,
        ),
        (b'{"id":"19:c@thread.tacv2","displayName":"c"}', Channel),
        (b'{"error":{"code":"c","message":"m"}}', ODataError),
    ]
    factory = JsonParseNodeFactory()
    for content, model in samples:
        node = factory.get_root_parse_node("application/json", content)
        node.get_object_value(model)


def _users_in(body: Any, covered: list[str]) -> dict[str, dict[str, Any]]:
    if isinstance(body, dict) and isinstance(body.get("value"), list):
        users = body["value"]
    else:
        users = [body]
    wanted = set(covered)
    found: dict[str, dict[str, Any]] = {}
    for user in users:
        object_id = user_id(user)
        if object_id in wanted:
            found[object_id] = user
    return found
