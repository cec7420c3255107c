"""Officers' role groups from Microsoft Graph, asked per officer or per role group.

Whichever costs fewer requests (docs/directory.md has the measurements):
- per officer: `GET /users/{id}/transitiveMemberOf` (strongly consistent; one officer, or a few
  officers against many role groups);
- per role group: `GET /groups/{g}/transitiveMembers/graph.user?$filter=id in (...)` for chunks of
  15 ids (an advanced query: `ConsistencyLevel: eventual` and `$count=true`).
If Graph refuses the group query (400, or 403 without `GroupMember.Read.All`), `RoleLookup` says
so once in the log and asks per officer from then on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.request_information import RequestInformation
from msgraph.generated.groups.item.transitive_members.graph_user.graph_user_request_builder import (
    GraphUserRequestBuilder,
)
from msgraph.generated.users.item.transitive_member_of import (
    transitive_member_of_request_builder as member_of,
)
from msgraph.graph_service_client import GraphServiceClient

from evidence.errors import DirectoryUnavailable
from evidence.officers import Role
from graph.batch import BatchItem, BatchResult, send_for_bytes
from graph.cache import Failed
from graph.client import GraphConnection
from graph.errors import GraphProtocolError
from graph.users import group_ids

logger = logging.getLogger(__name__)

IN_FILTER_MAX = 15  # Graph allows at most 15 values in an `in` filter on directory objects
MEMBERSHIP_PAGE = 999  # the largest page transitiveMemberOf returns
MAX_PAGES = 50


class RoleLookup:
    """The batch requests that ask for officers' role groups, and the reading of their answers."""

    def __init__(
        self, connection: GraphConnection, base: str, role_groups: Mapping[str, Role]
    ) -> None:
        self._connection = connection
        self._client: GraphServiceClient = connection.client
        self._base = base
        self.role_groups = role_groups
        self._ask_groups = True  # cleared for good if Graph refuses the group query

    def by_group(self, ids: list[str], chunks: list[list[str]]) -> bool:
        """Whether asking each role group about each chunk costs fewer requests."""
        return self._ask_groups and len(chunks) * len(self.role_groups) < len(ids)

    def group_requests(self, chunks: list[list[str]]) -> list[BatchItem]:
        """Per role group: which of each chunk's ids are (transitive) members."""
        items = []
        for group in self.role_groups:
            builder = self._client.groups.by_group_id(group).transitive_members.graph_user
            for number, chunk in enumerate(chunks):
                query = GraphUserRequestBuilder.GraphUserRequestBuilderGetQueryParameters(
                    filter=id_in(chunk), select=["id"], count=True, top=IN_FILTER_MAX
                )
                config = RequestConfiguration(query_parameters=query)
                config.headers.add("ConsistencyLevel", "eventual")
                request = builder.to_get_request_information(config)
                items.append(BatchItem(f"members-{group}-{number}", request))
        return items

    async def group_members(
        self, chunks: list[list[str]], answers: Mapping[str, BatchResult]
    ) -> dict[str, frozenset[str] | Failed] | None:
        """Each officer's role groups, from the per-group answers; None if Graph refused them."""
        found: dict[str, set[str]] = {}
        failed: dict[str, Failed] = {}
        for group in self.role_groups:
            for number, chunk in enumerate(chunks):
                answer = answers[f"members-{group}-{number}"]
                if answer.status == 404:
                    logger.warning("graph: role group %s does not exist; it grants nothing", group)
                    continue
                if answer.status in (400, 403):
                    # 400: Graph does not take the query; 403: no GroupMember.Read.All. Asking
                    # per officer needs only User.Read.All, so that still works.
                    logger.warning(
                        "graph: the group member query was refused (%s, HTTP %s); asking per "
                        "officer from now on",
                        _error_code(answer.body),
                        answer.status,
                    )
                    self._ask_groups = False
                    return None
                if answer.status != 200:
                    failed.update(dict.fromkeys(chunk, failed_answer("membership lookup", answer)))
                    continue
                wanted = set(chunk)
                for member in await self._member_pages(group, answer.body):
                    if member in wanted:
                        found.setdefault(member, set()).add(group)
        members: dict[str, frozenset[str] | Failed] = {
            member: frozenset(groups) for member, groups in found.items()
        }
        members.update(failed)
        return members

    def officer_requests(self, ids: list[str]) -> list[BatchItem]:
        """Per officer: the groups each id is a (transitive) member of."""
        query = member_of.TransitiveMemberOfRequestBuilder.TransitiveMemberOfRequestBuilderGetQueryParameters(  # noqa: E501
            select=["id"], top=MEMBERSHIP_PAGE
        )
        config = RequestConfiguration(query_parameters=query)
        items = []
        for object_id in ids:
            builder = self._client.users.by_user_id(object_id).transitive_member_of
            items.append(
                BatchItem(f"groups-{object_id}", builder.to_get_request_information(config))
            )
        return items

    async def groups_of(
        self, object_id: str, answers: Mapping[str, BatchResult]
    ) -> list[str] | Failed | None:
        """One officer's groups, from the per-officer answers; None if the user is gone."""
        answer = answers[f"groups-{object_id}"]
        if answer.status == 404:
            return None  # deleted between the two requests
        if answer.status != 200:
            return failed_answer("membership lookup", answer)
        builder = self._client.users.by_user_id(object_id).transitive_member_of
        return await self._all_ids(
            answer.body, lambda link: builder.with_url(link).to_get_request_information()
        )

    async def _member_pages(self, group: str, body: Any) -> list[str]:
        builder = self._client.groups.by_group_id(group).transitive_members.graph_user

        def page(link: str) -> RequestInformation:
            request = builder.with_url(link).to_get_request_information()
            request.headers.add("ConsistencyLevel", "eventual")
            return request

        return await self._all_ids(body, page)

    async def _all_ids(self, body: Any, page: Callable[[str], RequestInformation]) -> list[str]:
        """The object ids of a list's first page (`body`) and of every page after it."""
        found, next_link = group_ids(body)
        pages = 1
        while next_link is not None:
            if not next_link.startswith(self._base) or pages >= MAX_PAGES:
                raise GraphProtocolError("paging left Graph or did not end")
            raw = await send_for_bytes(self._connection.adapter, page(next_link))
            more, next_link = group_ids(_json(raw))
            found.extend(more)
            pages += 1
        return found


def id_in(chunk: list[str]) -> str:
    """The OData filter `id in ('a','b',...)` for a chunk of canonical ids."""
    # Only canonical GUIDs reach this filter: nothing can break out of the quotes.
    listed = ",".join(f"'{object_id}'" for object_id in chunk)
    return f"id in ({listed})"


def failed_answer(what: str, answer: BatchResult) -> Failed:
    """A failed lookup for the cache, from a batch answer that is not a success."""
    return Failed(DirectoryUnavailable(f"{what}: Graph answered", status=answer.status))


def _error_code(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else "no code"


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as err:
        raise GraphProtocolError("page is not JSON") from err
