"""At any log level no link token, SAS, pre-authenticated URL, bearer, file name, case title or
recipient reaches a log record: ours or a third party's.

A whole flow runs at DEBUG with the logging `python -m exhibit` sets up (third-party loggers pinned,
and, as the second line, the redacting filter on the handler): a case with a private title, a
file from a pre-authenticated URL with a secret in its query, a share to a named recipient, its
approval, the link page and the download (a SAS URL), and a request with a forged token. Then
every captured record (message, arguments and exception text) is searched for each secret.
"""

from __future__ import annotations

import logging
import re
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from exhibit.log_config import QUIET_LOGGERS, RedactingFilter, quiet_third_party_loggers, redact
from exhibit.settings import Settings
from tests.conftest import BotClientFactory
from tests.support.activities import load_activity
from tests.support.connector import RecordingConnector
from tests.support.conversation import CASE_CHANNEL, Conversation, teams_file
from tests.support.people import JANE, RAVI, SARAH, channel_members

CHANNEL = "19:exhibit-case-channel@thread.tacv2"
TITLE = "Assault on Wisteria Quennell"
FILE_NAME = "Statement of Peregrine Ashdown.pdf"
RECIPIENT = "marigold.fenwick@cps.gov.uk"
TEMPAUTH = "tempauth-" + uuid.uuid4().hex
FORGED_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJmb3JnZWQifQ." + uuid.uuid4().hex


@pytest.fixture
def pinned() -> Iterator[None]:
    """The third-party loggers pinned as `python -m exhibit` pins them, restored afterwards."""
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    quiet_third_party_loggers()
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
async def file_url() -> AsyncIterator[str]:
    """A file served only at a pre-authenticated URL (its secret in the query, as SharePoint's)."""

    async def serve(request: web.Request) -> web.Response:
        if request.query.get("tempauth") != TEMPAUTH:
            return web.Response(status=401)
        return web.Response(body=b"%PDF-1.7\n" + b"statement " * 5000)

    app = web.Application()
    app.router.add_get("/_layouts/15/download.aspx", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url(f"/_layouts/15/download.aspx?UniqueId=1&tempauth={TEMPAUTH}"))
    await server.close()


async def _run_the_flow(channel: Conversation, file_url: str) -> list[str]:
    """Everything a secret could leak from; returns the secrets the flow handed out."""
    reference = f"MET-26-{uuid.uuid4().int % 10000:04d}"
    await channel.say(f"case open {reference} {TITLE}")
    attachment = teams_file(FILE_NAME, file_url)
    await channel.say(f"add {reference}", [attachment])
    await channel.sent("Exhibit JS/1")
    requested = await channel.say(f"share JS/1 with {RECIPIENT} for 7d reason trial bundle")
    share_id = re.search(r"S-[0-9A-F]{10}", requested)
    assert share_id is not None, requested
    assert "Approved" in await channel.click(
        "share.approve", {"shareId": share_id.group(0)}, sender=SARAH
    )
    link = re.search(r"/s/[A-Za-z0-9_-]{43,}", await channel.sent("/s/"))
    assert link is not None
    assert (await channel.client.get(link.group(0))).status == 200
    download = await channel.client.get(f"{link.group(0)}/1", allow_redirects=False)
    assert download.status == 302
    sas = download.headers["Location"]
    signature = re.search(r"sig=([^&]+)", sas)
    assert signature is not None
    forged = load_activity("personal_message", channel.url)
    response = await channel.client.post(
        "/api/messages", json=forged, headers={"Authorization": f"Bearer {FORGED_TOKEN}"}
    )
    assert response.status == 401
    token = link.group(0).removeprefix("/s/")
    return [token, sas, signature.group(1), TEMPAUTH, FORGED_TOKEN, FILE_NAME, TITLE, RECIPIENT]


def _everything_in(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), repr(record.args), record.exc_text or ""]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(record.exc_info[1])))
    return "\n".join(parts)


@pytest.mark.parametrize("redacting", [False, True], ids=["pinned-loggers", "with-redaction"])
async def test_a_full_flow_at_debug_logs_no_secret_and_no_personal_detail(
    settings: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    file_url: str,
    pinned: None,
    caplog: pytest.LogCaptureFixture,
    redacting: bool,
) -> None:
    if redacting:
        caplog.handler.addFilter(RedactingFilter())
    caplog.set_level(logging.DEBUG)
    recorder, url = connector
    recorder.members[CHANNEL] = channel_members(JANE, RAVI, SARAH)
    channel = Conversation(await bot_client(settings), recorder, url, where=CASE_CHANNEL)
    secrets = await _run_the_flow(channel, file_url)
    assert len(caplog.records) > 10, "the flow logged at DEBUG"
    leaks = [
        (record.name, secret)
        for record in caplog.records
        for secret in secrets
        if secret in _everything_in(record)
    ]
    assert leaks == []


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET https://acct.blob.core.windows.net/evidence/c/JS-1?sv=2024&sig=abc%2Bdef", "abc"),
        ("downloadUrl https://x.sharepoint.com/_layouts/15/download.aspx?tempauth=v1.eyJx", "v1"),
        ("headers {'Authorization': 'Bearer abc.def.ghi'}", "abc.def"),
        ("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", "c2lnbmF0dXJl"),
        ("GET /s/Qx3v9Zb0_-kLmNoPqRsTuVwXyZ0123456789abcdEFG HTTP/1.1", "Qx3v9Zb0"),
        ("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0a2V5;", "c2VjcmV0"),
        ("mail to marigold.fenwick@cps.gov.uk failed", "marigold"),
    ],
)
def test_the_filter_redacts_what_looks_like_a_secret(text: str, secret: str) -> None:
    assert secret not in redact(text)
    record = logging.LogRecord("azure", logging.DEBUG, __file__, 1, "%s", (text,), None)
    assert RedactingFilter().filter(record)
    assert secret not in record.getMessage()


def test_the_filter_redacts_exception_text() -> None:
    try:
        raise RuntimeError("GET https://x.sharepoint.com/f?tempauth=s3cr3t failed")
    except RuntimeError as err:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None,
                                   (type(err), err, err.__traceback__))  # fmt: skip
    RedactingFilter().filter(record)
    assert "s3cr3t" not in (record.exc_text or "")
    assert "s3cr3t" not in logging.Formatter().format(record)
