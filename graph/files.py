"""Files posted in channels and group chats, fetched through Microsoft Graph.

Teams sends a bot no file from a channel or a group chat: the activity only says a message was
posted. The message is read through Graph (`GET /teams/{id}/channels/{id}/messages/{id}`, its
`/replies/{id}`, or `GET /chats/{id}/messages/{id}`) and its `reference` attachments name the
files by SharePoint URL. A URL becomes a driveItem through `/shares/u!{base64url}/driveItem`
(name, size, eTag, QuickXorHash) and its bytes through `.../driveItem/content`, which answers
302 to a pre-authenticated URL: that URL is fetched by `HttpSource`, without Graph's bearer and
only if its host is on the allow-list. Nothing here reads a whole file into memory.

Before anything is fetched, the bot checks that a driveItem lives where the case's files live:
the case channel's drive (`/teams/{id}/channels/{id}/filesFolder` → `parentReference.driveId`)
or, for a chat, the sender's OneDrive (`/users/{id}/drive`).

Permissions: RSC `ChannelMessage.Read.Group` / `ChatMessage.Read.Chat` (or the application
`ChannelMessage.Read.All` / `Chat.Read.All`) for messages, application `Files.Read.All` (or,
narrower, `Sites.Selected` granted per case team's site) for files; the channel's files folder
needs `Files.Read.All` (or the RSC `File.Read.Group`), a user's drive `Files.Read.All`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Self

import httpx
from azure.core.exceptions import AzureError, ClientAuthenticationError
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import RedirectHandlerOption
from msgraph.generated.models.chat_message import ChatMessage
from msgraph.generated.models.drive_item import DriveItem as GraphDriveItem
from msgraph.generated.shares.item.drive_item.drive_item_request_builder import (
    DriveItemRequestBuilder,
)
from msgraph.generated.shares.item.shared_drive_item_item_request_builder import (
    SharedDriveItemItemRequestBuilder,
)
from yarl import URL

from evidence.errors import (
    ExhibitError,
    SourceError,
    SourceExpired,
    SourceForbidden,
    SourceInvalid,
    SourceUnavailable,
)
from graph.client import GraphConnection, connect
from graph.config import GraphDirectoryConfig
from graph.credentials import build_credential
from graph.errors import GraphProtocolError, odata_code
from graph.ids import canonical_id
from storage.sources import REDIRECTS, Download, HttpSource

logger = logging.getLogger(__name__)

DRIVE_ITEM_FIELDS = ("id", "name", "size", "eTag", "file", "folder", "parentReference")
MAX_ERROR_BODY = 64 * 1024
_THREAD_ID = re.compile(r"^19:[^/?#;\s\\]{1,200}$")  # channel and chat ids: 19:...@thread.v2
_MESSAGE_ID = re.compile(r"^[0-9]{1,20}$")


@dataclass(frozen=True, slots=True)
class Reference:
    """A file a Teams message points at: its name and SharePoint URL, as Graph lists them."""

    id: str
    name: str
    content_url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DriveItem:
    """What SharePoint says about a file, recorded beside Exhibit's own hashes."""

    name: str
    size: int
    etag: str | None
    quick_xor_hash: str | None  # base64; the only hash SharePoint guarantees
    mime_type: str | None
    id: str
    drive_id: str | None


def share_id(content_url: str) -> str:
    """Graph's sharing token for a URL: `u!` and the URL in unpadded base64url."""
    encoded = base64.urlsafe_b64encode(content_url.encode("utf-8")).decode("ascii")
    return "u!" + encoded.rstrip("=")


class GraphFileSource:
    """Reads message attachments and SharePoint files through Graph (application permissions).

    `downloads` fetches the pre-authenticated URLs Graph redirects to; its allow-list must hold
    the tenant's SharePoint hosts. `timeout` bounds each Graph call (not the download).
    """

    def __init__(
        self,
        connection: GraphConnection,
        downloads: HttpSource,
        *,
        timeout: float = 10.0,
        owns_connection: bool = False,
    ) -> None:
        self._connection = connection
        self._client = connection.client
        self._downloads = downloads
        self._timeout = timeout
        self._owns_connection = owns_connection
        self._host = URL(connection.adapter.base_url).host or "graph"

    async def attachments_of_channel_message(
        self,
        team_aad_group_id: str,
        channel_id: str,
        root_message_id: str,
        reply_id: str | None = None,
    ) -> list[Reference]:
        """The files attached to a channel post, or to one of its replies (`reply_id`)."""
        team = canonical_id(team_aad_group_id)
        if team is None:
            raise SourceInvalid(self._host, "the team id is not an Entra group id")
        self._check(_THREAD_ID, channel_id, "channel id")
        self._check(_MESSAGE_ID, root_message_id, "message id")
        channel = self._client.teams.by_team_id(team).channels.by_channel_id(channel_id)
        builder = channel.messages.by_chat_message_id(root_message_id)
        with self._translated("read channel message"):
            async with asyncio.timeout(self._timeout):
                if reply_id is None:
                    message = await builder.get()
                else:
                    self._check(_MESSAGE_ID, reply_id, "reply id")
                    message = await builder.replies.by_chat_message_id1(reply_id).get()
        return self._references(message)

    async def attachments_of_chat_message(self, chat_id: str, message_id: str) -> list[Reference]:
        """The files attached to a message in a group (or 1:1) chat."""
        self._check(_THREAD_ID, chat_id, "chat id")
        self._check(_MESSAGE_ID, message_id, "message id")
        builder = self._client.chats.by_chat_id(chat_id).messages.by_chat_message_id(message_id)
        with self._translated("read chat message"):
            async with asyncio.timeout(self._timeout):
                message = await builder.get()
        return self._references(message)

    async def drive_item(self, content_url: str) -> DriveItem:
        """SharePoint's record of the file at `content_url` (a reference attachment's URL)."""
        query = DriveItemRequestBuilder.DriveItemRequestBuilderGetQueryParameters(
            select=list(DRIVE_ITEM_FIELDS)
        )
        builder = self._share(content_url).drive_item
        with self._translated("read drive item"):
            async with asyncio.timeout(self._timeout):
                item = await builder.get(RequestConfiguration(query_parameters=query))
            return _drive_item(item, self._host)

    async def channel_drive_id(self, team_aad_group_id: str, channel_id: str) -> str:
        """The drive holding a channel's files: its `filesFolder`'s drive.

        A private or shared channel keeps its files in a site of its own, so the channel's
        folder, not the team's default drive, is what says where its files live.
        """
        team = canonical_id(team_aad_group_id)
        if team is None:
            raise SourceInvalid(self._host, "the team id is not an Entra group id")
        self._check(_THREAD_ID, channel_id, "channel id")
        builder = self._client.teams.by_team_id(team).channels.by_channel_id(channel_id)
        with self._translated("read channel files folder"):
            async with asyncio.timeout(self._timeout):
                folder = await builder.files_folder.get()
        parent = folder.parent_reference if folder is not None else None
        if parent is None or not parent.drive_id:
            raise SourceInvalid(self._host, "the channel's files folder names no drive")
        return parent.drive_id

    async def user_drive_id(self, object_id: str) -> str:
        """The id of a user's OneDrive (where files shared in chats live)."""
        user = canonical_id(object_id)
        if user is None:
            raise SourceInvalid(self._host, "the user id is not an Entra object id")
        with self._translated("read user drive"):
            async with asyncio.timeout(self._timeout):
                drive = await self._client.users.by_user_id(user).drive.get()
        if drive is None or not drive.id:
            raise SourceInvalid(self._host, "the user's drive has no id")
        return drive.id

    async def open_drive_item(self, content_url: str) -> Download:
        """Start downloading the file at `content_url`; read it with `chunks()`.

        Graph answers `/driveItem/content` with a redirect; the pre-authenticated URL it names is
        fetched without Graph's token, and refused unless its host is allowed.
        """
        request = self._share(content_url).drive_item.content.to_get_request_information()
        request.add_request_options([RedirectHandlerOption(should_redirect=False)])
        adapter = self._connection.adapter
        request.path_parameters["baseurl"] = adapter.base_url
        with self._translated("read drive item content"):
            async with asyncio.timeout(self._timeout):
                native = await adapter.convert_to_native_async(request)
                # Streamed: should Graph ever answer with the bytes themselves, they stay unread.
                response = await self._connection.http.send(native, stream=True)
                try:
                    location = await self._location(response)
                finally:
                    await response.aclose()
        logger.debug("graph: drive item content redirected")
        return await self._downloads.open_download(location)

    async def aclose(self) -> None:
        """Close the Graph connection, if this source owns it."""
        if self._owns_connection:
            await self._connection.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _share(self, content_url: str) -> SharedDriveItemItemRequestBuilder:
        # Graph fetches the URL, not us; still, only files on allowed hosts are evidence sources.
        try:
            url = URL(content_url)
        except ValueError as err:
            raise SourceInvalid(self._host, "the file's URL is not a URL") from err
        self._downloads.allowed.check(url)
        return self._client.shares.by_shared_drive_item_id(share_id(content_url))

    def _check(self, pattern: re.Pattern[str], value: str, what: str) -> None:
        if not pattern.match(value):
            raise SourceInvalid(self._host, f"the {what} is not one Teams gives")

    def _references(self, message: ChatMessage | None) -> list[Reference]:
        if message is None:
            raise SourceInvalid(self._host, "Graph answered without a message")
        found = []
        for attachment in message.attachments or []:
            if attachment.content_type != "reference":
                continue
            if not attachment.content_url:
                logger.warning("graph: reference attachment %s has no URL", attachment.id)
                continue
            found.append(
                Reference(
                    id=attachment.id or "",
                    name=attachment.name or "",
                    content_url=attachment.content_url,
                )
            )
        return found

    async def _location(self, response: httpx.Response) -> str:
        status = response.status_code
        if status in REDIRECTS:
            location = response.headers.get("location")
            if not location:
                raise SourceInvalid(self._host, "redirect without a location", status=status)
            return str(URL(str(response.request.url)).join(URL(location)))
        if 200 <= status < 300:
            raise SourceInvalid(self._host, "Graph sent content instead of a link", status=status)
        body = b""
        async for piece in response.aiter_bytes():
            body += piece
            if len(body) > MAX_ERROR_BODY:
                break
        raise _status_error(self._host, status, _odata_code(body), response.headers)

    @contextmanager
    def _translated(self, operation: str) -> Iterator[None]:
        try:
            yield
        except ExhibitError:
            raise
        except APIError as err:
            status = err.response_status_code or 0
            error = _status_error(self._host, status, odata_code(err), err.response_headers or {})
            logger.warning("graph %s failed: %s", operation, error)
            raise error from err
        except TimeoutError as err:
            raise SourceUnavailable(self._host, f"{operation}: no answer in time") from err
        except ClientAuthenticationError as err:
            raise SourceUnavailable(self._host, f"{operation}: no Graph token") from err
        except (httpx.HTTPError, AzureError) as err:
            raise SourceUnavailable(self._host, f"{operation}: {type(err).__name__}") from err
        except GraphProtocolError as err:
            raise SourceInvalid(self._host, f"{operation}: {err.what}") from err


async def open_graph_file_source(
    config: GraphDirectoryConfig, downloads: HttpSource
) -> GraphFileSource:
    """A source with a Graph connection of its own (built off the event loop); `aclose()` it."""
    connection = await asyncio.to_thread(_connect, config)
    return GraphFileSource(connection, downloads, timeout=config.timeout, owns_connection=True)


def _connect(config: GraphDirectoryConfig) -> GraphConnection:
    credential = build_credential(config)
    _warm_models()
    return connect(config, credential)


def _warm_models() -> None:
    # The SDK imports its model modules on first parse: pay that here, in a thread.
    from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory

    factory = JsonParseNodeFactory()
    samples: list[tuple[bytes, Any]] = [
        (b'{"id":"1","attachments":[{"contentType":"reference","name":"a"}]}', ChatMessage),
        (b'{"id":"1","file":{"hashes":{"quickXorHash":"x"}},"parentReference":{}}', GraphDriveItem),
    ]
    for content, model in samples:
        factory.get_root_parse_node("application/json", content).get_object_value(model)


def _drive_item(item: GraphDriveItem | None, host: str) -> DriveItem:
    if item is None or not item.id:
        raise GraphProtocolError("drive item without an id")
    if item.file is None:
        kind = "a folder" if item.folder is not None else "not a file"
        raise SourceInvalid(host, f"the shared item is {kind}")
    if item.size is None or item.size < 0:
        raise GraphProtocolError("drive item without a size")
    hashes = item.file.hashes
    return DriveItem(
        id=item.id,
        name=item.name or "",
        size=item.size,
        etag=item.e_tag,
        quick_xor_hash=hashes.quick_xor_hash if hashes is not None else None,
        mime_type=item.file.mime_type,
        drive_id=item.parent_reference.drive_id if item.parent_reference is not None else None,
    )


def _status_error(
    host: str, status: int, code: str, headers: Mapping[str, str] | Any
) -> SourceError:
    if status in (401, 403):
        return SourceForbidden(host, status=status, code=code)
    if status in (404, 410):
        return SourceExpired(host, status=status)
    if status in (408, 429) or status >= 500:
        return SourceUnavailable(
            host, "Graph failed", status=status, retry_after=_retry_after(headers)
        )
    return SourceInvalid(host, f"Graph refused the request ({code or 'no code'})", status=status)


def _retry_after(headers: Mapping[str, str] | Any) -> float | None:
    try:
        value = headers.get("Retry-After") or headers.get("retry-after")
        return max(0.0, float(value)) if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None


def _odata_code(body: bytes) -> str:
    try:
        document = json.loads(body)
    except ValueError:
        return ""
    error = document.get("error") if isinstance(document, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else ""
