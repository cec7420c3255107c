"""GraphFileSource on the real msgraph-sdk/kiota/azure-identity pipeline, against local fakes.

The token endpoint is a local HTTPS server; Graph is the fake, which also plays SharePoint's
pre-authenticated download host (plain HTTP on 127.0.0.1, refusing any bearer).
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from evidence.errors import (
    HostNotAllowed,
    SourceExpired,
    SourceForbidden,
    SourceInvalid,
    SourceUnavailable,
)
from evidence.hashing import QuickXorHash
from graph.files import DriveItem, GraphFileSource, Reference, open_graph_file_source, share_id
from storage.host_allow_list import HostAllowList
from storage.sources import HttpSource
from tests.fakes.graph_server import Fault, reference_attachment
from tests.fakes.tenant import FakeTenant, Tls, fake_tenant

MIB = 1024 * 1024
TEAM = "7b3f9e21-4c5d-4e6f-8a7b-9c0d1e2f3a4b"
CHANNEL = "19:exhibit-case-channel@thread.tacv2"
CHAT = "19:meeting_NjQ5ZmQ2ZTAtZGFmNy00YjVi@thread.v2"
ROOT = "1710238500000"
REPLY = "1710238560000"
SITE = "https://met.sharepoint.com/sites/MET-24-0001/Shared%20Documents/General"
CCTV = f"{SITE}/CCTV%20still%20(1).jpg"
STATEMENT = f"{SITE}/Statement%20PC%20Smith.docx"
CARD = {
    "id": "74d20c7f34aa4a7fb74e2b30004247c5",
    "contentType": "application/vnd.microsoft.card.adaptive",
    "contentUrl": None,
    "content": '{"type":"AdaptiveCard"}',
    "name": None,
}

Opener = Callable[..., Awaitable[GraphFileSource]]


@pytest.fixture
async def tenant(tls: Tls) -> AsyncIterator[FakeTenant]:
    async with fake_tenant(tls) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client:
        yield client


def downloads(session: aiohttp.ClientSession, *hosts: str) -> HttpSource:
    allowed = HostAllowList.of(
        hosts or ("*.sharepoint.com", "127.0.0.1"), dangerously_allow_http_on_loopback=True
    )
    return HttpSource(session, allowed, max_size=64 * MIB, read_timeout=5.0)


@pytest.fixture
async def open_source(tenant: FakeTenant, session: aiohttp.ClientSession) -> AsyncIterator[Opener]:
    opened: list[GraphFileSource] = []

    async def open_(*hosts: str, **overrides: Any) -> GraphFileSource:
        overrides.setdefault("max_retries", 0)
        source = await open_graph_file_source(
            tenant.config(**overrides), downloads(session, *hosts)
        )
        opened.append(source)
        return source

    yield open_
    for source in opened:
        await source.aclose()


# --- messages -------------------------------------------------------------------------------


async def test_a_channel_post_lists_its_files(tenant: FakeTenant, open_source: Opener) -> None:
    tenant.graph.add_channel_message(
        TEAM,
        CHANNEL,
        ROOT,
        attachments=[
            reference_attachment("CCTV still (1).jpg", CCTV, attachment_id="A1"),
            CARD,
            reference_attachment("Statement PC Smith.docx", STATEMENT, attachment_id="A2"),
        ],
    )
    source = await open_source()

    found = await source.attachments_of_channel_message(TEAM, CHANNEL, ROOT)

    assert found == [
        Reference(id="A1", name="CCTV still (1).jpg", content_url=CCTV),
        Reference(id="A2", name="Statement PC Smith.docx", content_url=STATEMENT),
    ]
    assert tenant.graph.http_requests == {"GET /teams/{id}/channels/{id}/messages/{id}": 1}
    assert tenant.tokens.grants == {"client_secret": 1}
    assert tenant.graph.unauthorized == 0


async def test_a_reply_is_read_under_its_post(tenant: FakeTenant, open_source: Opener) -> None:
    tenant.graph.add_channel_message(TEAM, CHANNEL, ROOT)
    tenant.graph.add_channel_message(
        TEAM, CHANNEL, REPLY, reply_to=ROOT, attachments=[reference_attachment("a.jpg", CCTV)]
    )
    source = await open_source()

    found = await source.attachments_of_channel_message(TEAM.upper(), CHANNEL, ROOT, REPLY)

    assert [ref.content_url for ref in found] == [CCTV]
    assert tenant.graph.http_requests == {
        "GET /teams/{id}/channels/{id}/messages/{id}/replies/{id}": 1
    }


async def test_a_chat_message_lists_its_files(tenant: FakeTenant, open_source: Opener) -> None:
    tenant.graph.add_chat_message(
        CHAT, ROOT, attachments=[reference_attachment("Statement PC Smith.docx", STATEMENT)]
    )
    source = await open_source()

    found = await source.attachments_of_chat_message(CHAT, ROOT)

    assert [ref.name for ref in found] == ["Statement PC Smith.docx"]
    assert tenant.graph.http_requests == {"GET /chats/{id}/messages/{id}": 1}


async def test_a_message_without_files_lists_none(tenant: FakeTenant, open_source: Opener) -> None:
    tenant.graph.add_chat_message(CHAT, ROOT, attachments=[CARD])
    source = await open_source()

    assert await source.attachments_of_chat_message(CHAT, ROOT) == []


async def test_a_deleted_message_has_expired(tenant: FakeTenant, open_source: Opener) -> None:
    source = await open_source()

    with pytest.raises(SourceExpired) as caught:
        await source.attachments_of_channel_message(TEAM, CHANNEL, ROOT, REPLY)

    assert caught.value.status == 404


async def test_a_missing_permission_is_forbidden(tenant: FakeTenant, open_source: Opener) -> None:
    tenant.graph.faults.append(Fault(403))
    source = await open_source()

    with pytest.raises(SourceForbidden) as caught:
        await source.attachments_of_chat_message(CHAT, ROOT)

    assert caught.value.status == 403


async def test_a_token_graph_refuses_is_forbidden(tenant: FakeTenant, open_source: Opener) -> None:
    tenant.graph.token = "another-token"
    source = await open_source()

    with pytest.raises(SourceForbidden) as caught:
        await source.attachments_of_chat_message(CHAT, ROOT)

    assert caught.value.status == 401
    assert caught.value.code == "InvalidAuthenticationToken"


async def test_throttling_past_the_retries_is_unavailable(
    tenant: FakeTenant, open_source: Opener
) -> None:
    tenant.graph.faults.append(Fault(429, retry_after=30, times=5))
    source = await open_source()

    with pytest.raises(SourceUnavailable) as caught:
        await source.attachments_of_chat_message(CHAT, ROOT)

    assert caught.value.status == 429
    assert caught.value.retry_after == 30.0


async def test_a_slow_graph_is_unavailable(tenant: FakeTenant, open_source: Opener) -> None:
    tenant.graph.delay = 0.8
    source = await open_source(timeout=0.3)

    with pytest.raises(SourceUnavailable, match=r"in time|Timeout"):
        await source.attachments_of_chat_message(CHAT, ROOT)


async def test_a_refused_secret_is_unavailable(tenant: FakeTenant, open_source: Opener) -> None:
    source = await open_source(client_secret="not-the-secret")

    with pytest.raises(SourceUnavailable, match="no Graph token"):
        await source.attachments_of_chat_message(CHAT, ROOT)

    assert tenant.graph.total_http == 0


@pytest.mark.parametrize(
    ("team", "channel", "root", "reply"),
    [
        ("not-a-guid", CHANNEL, ROOT, None),
        (TEAM, "general", ROOT, None),
        (TEAM, "19:x/../../users", ROOT, None),
        (TEAM, CHANNEL, "1710238500000?$expand=x", None),
        (TEAM, CHANNEL, ROOT, "../../chats"),
    ],
)
async def test_ids_teams_would_not_give_are_refused_before_graph(
    tenant: FakeTenant, open_source: Opener, team: str, channel: str, root: str, reply: str | None
) -> None:
    source = await open_source()

    with pytest.raises(SourceInvalid):
        await source.attachments_of_channel_message(team, channel, root, reply)

    assert tenant.graph.total_http == 0


# --- drive items ----------------------------------------------------------------------------


async def test_a_drive_item_reports_sharepoints_record(
    tenant: FakeTenant, open_source: Opener
) -> None:
    fake = tenant.graph.add_drive_item(CCTV, "CCTV still (1).jpg", b"\xff\xd8\xff" + bytes(997))
    source = await open_source()

    item = await source.drive_item(CCTV)

    assert item == DriveItem(
        id=fake.id,
        name="CCTV still (1).jpg",
        size=1000,
        etag=fake.etag,
        quick_xor_hash=fake.quick_xor_hash,
        mime_type="application/octet-stream",
        drive_id=fake.drive_id,
    )
    assert tenant.graph.http_requests == {"GET /shares/{id}/driveItem": 1}
    assert tenant.graph.selects == ["id,name,size,eTag,file,folder,parentReference"]


async def test_a_drive_item_streams_without_the_bearer(
    tenant: FakeTenant, open_source: Opener
) -> None:
    content = random.Random(7).randbytes(9 * MIB + 11)
    tenant.graph.add_drive_item(STATEMENT, "Statement PC Smith.docx", content)
    source = await open_source()

    item = await source.drive_item(STATEMENT)
    async with await source.open_drive_item(STATEMENT) as download:
        assert download.declared_size == len(content)
        sha, quick_xor = hashlib.sha256(), QuickXorHash()
        async for chunk in download.chunks():
            sha.update(chunk)
            quick_xor.update(chunk)

    assert sha.digest() == hashlib.sha256(content).digest()
    assert quick_xor.digest_base64() == item.quick_xor_hash
    assert tenant.graph.http_requests == {
        "GET /shares/{id}/driveItem": 1,
        "GET /shares/{id}/driveItem/content": 1,
    }
    (file_request,) = tenant.graph.file_requests
    assert "Authorization" not in file_request
    assert tenant.graph.unauthorized == 0


async def test_a_throttled_content_request_is_retried(
    tenant: FakeTenant, open_source: Opener
) -> None:
    tenant.graph.add_drive_item(CCTV, "a.jpg", b"jpeg bytes")
    tenant.graph.faults.append(Fault(503, retry_after=0))
    source = await open_source(max_retries=1)

    async with await source.open_drive_item(CCTV) as download:
        body = b"".join([chunk async for chunk in download.chunks()])

    assert body == b"jpeg bytes"
    assert tenant.graph.http_requests == {"GET /shares/{id}/driveItem/content": 2}


async def test_a_redirect_to_a_host_not_allowed_is_not_followed(
    tenant: FakeTenant, open_source: Opener
) -> None:
    port = tenant.graph.origin.rsplit(":", 1)[1]
    tenant.graph.add_drive_item(
        CCTV, "a.jpg", b"x", download_url=f"http://localhost:{port}/_files/anything"
    )
    source = await open_source()

    with pytest.raises(HostNotAllowed) as caught:
        await source.open_drive_item(CCTV)

    assert caught.value.host == "localhost"
    assert tenant.graph.file_requests == []


async def test_an_expired_download_link_has_expired(
    tenant: FakeTenant, open_source: Opener
) -> None:
    item = tenant.graph.add_drive_item(CCTV, "a.jpg", b"x")
    item.download_url = f"{tenant.graph.origin}/_files/{item.id}?tempauth=expired"
    source = await open_source()

    with pytest.raises(SourceExpired) as caught:
        await source.open_drive_item(CCTV)

    assert caught.value.status == 401


async def test_a_file_no_longer_shared_has_expired(tenant: FakeTenant, open_source: Opener) -> None:
    source = await open_source()

    with pytest.raises(SourceExpired):
        await source.drive_item(CCTV)
    with pytest.raises(SourceExpired):
        await source.open_drive_item(CCTV)


async def test_a_folder_is_not_a_file(tenant: FakeTenant, open_source: Opener) -> None:
    tenant.graph.add_drive_item(SITE, "General", b"", folder=True)
    source = await open_source()

    with pytest.raises(SourceInvalid, match="folder"):
        await source.drive_item(SITE)
    with pytest.raises(SourceInvalid) as caught:
        await source.open_drive_item(SITE)

    assert caught.value.status == 400


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/sites/x/a.jpg",
        "http://met.sharepoint.com/sites/x/a.jpg",
        "https://met.sharepoint.com.evil.example/a.jpg",
        "/sites/x/a.jpg",
    ],
)
async def test_a_file_on_a_host_not_allowed_is_refused_before_graph(
    tenant: FakeTenant, open_source: Opener, url: str
) -> None:
    source = await open_source()

    with pytest.raises(HostNotAllowed):
        await source.drive_item(url)
    with pytest.raises(HostNotAllowed):
        await source.open_drive_item(url)

    assert tenant.graph.total_http == 0


def test_share_ids_are_unpadded_base64url() -> None:
    assert share_id("https://a.b/c") == "u!aHR0cHM6Ly9hLmIvYw"
    url = "https://met.sharepoint.com/~~~/??>>.jpg"

    encoded = share_id(url)

    assert not {"=", "+", "/"} & set(encoded)
    assert {"-", "_"} & set(encoded)
    padded = encoded[2:] + "=" * (-len(encoded[2:]) % 4)
    assert base64.urlsafe_b64decode(padded).decode() == url


async def test_a_shared_connection_is_left_open(
    tenant: FakeTenant, session: aiohttp.ClientSession
) -> None:
    owned = await open_graph_file_source(tenant.config(), downloads(session))
    borrowed = GraphFileSource(owned._connection, downloads(session))
    tenant.graph.add_chat_message(CHAT, ROOT)

    await borrowed.aclose()
    assert await owned.attachments_of_chat_message(CHAT, ROOT) == []
    await owned.aclose()
