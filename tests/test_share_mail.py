"""Share links e-mailed through Graph `sendMail`: the message, the mailer, the approval flow.

The mailer is the real msgraph-sdk client with a client-secret token from the fake tenant's
HTTPS token endpoint; the fake Graph checks the documented `sendMail` JSON and answers 202.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.share_mail import share_mail
from evidence.custody import Action
from evidence.errors import InvalidInput, MailNotSent
from evidence.ports import MailMessage
from evidence.shares import Share, ShareStatus
from exhibit.settings import Settings, SettingsError, load_settings
from graph.graph_directory import GraphDirectory, open_graph_directory
from graph.mail import GraphMailer, open_graph_mailer
from storage.database import create_engine
from storage.records import SqlRecords
from tests.conftest import BotClientFactory
from tests.fakes.tenant import (
    FakeTenant,
    Tls,
    fake_tenant,
)
from tests.support.connector import RecordingConnector
from tests.support.conversation import CASE_CHANNEL, Conversation
from tests.support.graph_mode import (
    APPROVERS_GROUP,
    CHANNEL,
    OFFICERS_GROUP,
    ROLE_GROUPS,
    TEAM,
    graph_env,
)
from tests.support.people import JANE, RAVI, channel_members
from tests.test_sharing import _case_with_exhibit, _share_id
from tests.test_sharing import file_url as file_url  # the fixture

SENDER = "exhibit-noreply@met.example"


def a_share(**changes: object) -> Share:
    fields: dict[str, object] = {
        "id": "S-0123456789",
        "case_id": "case-1",
        "exhibit_ids": ("e1", "e2"),
        "requested_by": JANE.object_id,
        "requested_by_name": "Jane <b>Smith</b>",
        "recipient": "lawyer@cps.gov.uk",
        "organisation_type": "prosecutor",
        "reason": "trial bundle",
        "days": 7,
        "status": ShareStatus.APPROVED,
        "created_at": datetime(2026, 11, 1, tzinfo=UTC),
        "request_expires_at": datetime(2026, 11, 8, tzinfo=UTC),
        "decided_by": RAVI.object_id,
        "decided_by_name": "Ravi Patel",
        "link_expires_at": datetime(2026, 11, 8, 9, 30, tzinfo=UTC),
        "requester_email": "jane.smith@met.example",
        "requester_phone": "020 7946 0018",
    }
    fields.update(changes)
    return Share(**fields)  # type: ignore[arg-type]


# --- the message ---------------------------------------------------------------------------


FORCE = "Metropolitan Police Service"
CONTACT = "evidence.unit@met.example"


def test_the_message_carries_the_link_marking_and_expiry_and_nothing_else() -> None:
    url = "https://exhibit.met.example/s/abc_DEF-123"
    message = share_mail(
        a_share(),
        case_reference="MET-24-0300",
        url=url,
        classification="OFFICIAL-SENSITIVE",
        force_name=FORCE,
        contact=CONTACT,
    )

    assert message.to == "lawyer@cps.gov.uk"
    assert message.subject == (
        "[OFFICIAL-SENSITIVE] Evidence shared with you: case MET-24-0300, 2 exhibits"
    )
    assert message.html.count("<strong>OFFICIAL-SENSITIVE</strong>") == 2  # top and bottom
    assert f'<a href="{url}">{url}</a>' in message.html
    assert "08 Nov 2026 09:30 GMT" in message.html  # UK local time, with its zone
    assert "UTC" not in message.html
    # Who shared and who approved, of which force, and whom to ask.
    assert "Smith&lt;/b&gt; of Metropolitan Police Service has shared" in message.html
    assert "approved by Ravi Patel of Metropolitan Police Service" in message.html
    assert (
        "Questions about this evidence: Jane &lt;b&gt;Smith&lt;/b&gt;, jane.smith@met.example, "
        f"020 7946 0018. The general line of {FORCE}: {CONTACT}."
    ) in message.html
    assert "SHA-256" in message.html
    # Names are escaped: nothing an officer's display name holds becomes markup.
    assert "Jane &lt;b&gt;Smith&lt;/b&gt;" in message.html
    assert "<b>" not in message.html


def test_one_exhibit_and_a_download_limit_are_said_plainly() -> None:
    message = share_mail(
        a_share(exhibit_ids=("e1",), max_downloads=3, requester_email="", requester_phone=""),
        case_reference="MET-24-0300",
        url="https://x.example/s/t",
        classification="OFFICIAL",
        force_name=FORCE,
        contact="",
    )
    assert message.subject.endswith("case MET-24-0300, 1 exhibit")
    assert "used for 3 downloads" in message.html
    # No contact recorded or set: the officer is named, nothing is invented.
    assert "Questions about this evidence: Jane &lt;b&gt;Smith&lt;/b&gt;.</p>" in message.html
    assert "general line" not in message.html


def test_a_summer_expiry_is_in_british_summer_time() -> None:
    summer = a_share(link_expires_at=datetime(2026, 7, 8, 9, 30, tzinfo=UTC))
    message = share_mail(
        summer,
        case_reference="MET-24-0300",
        url="https://x.example/s/t",
        classification="OFFICIAL",
        force_name=FORCE,
        contact=CONTACT,
    )
    assert "The link works until 08 Jul 2026 10:30 BST." in message.html


# --- the mailer, on the real SDK against the fake tenant -----------------------------------


@pytest.fixture
async def tenant(tls: Tls) -> AsyncIterator[FakeTenant]:
    async with fake_tenant(tls) as running:
        graph = running.graph
        graph.mailboxes.add(SENDER)
        graph.add_user(
            JANE.object_id, "Jane Smith", jobTitle="Police Constable", groups=[OFFICERS_GROUP]
        )
        graph.add_user(RAVI.object_id, "Ravi Patel", jobTitle="Detective Sergeant",
                       groups=[OFFICERS_GROUP, APPROVERS_GROUP])  # fmt: skip
        graph.add_channel(TEAM, CHANNEL, [JANE.object_id, RAVI.object_id])
        yield running


@pytest.fixture
async def mailer(tenant: FakeTenant) -> AsyncIterator[GraphMailer]:
    opened = await open_graph_mailer(tenant.config(timeout=2.0), SENDER.upper())
    yield opened
    await opened.aclose()


MESSAGE = MailMessage(to="lawyer@cps.gov.uk", subject="[OFFICIAL] a subject", html="<p>hi</p>")


async def test_the_mailer_sends_as_its_mailbox(tenant: FakeTenant, mailer: GraphMailer) -> None:
    await mailer.send(MESSAGE)

    assert mailer.sender == SENDER
    assert tenant.graph.sent_mail == [
        {
            "from": SENDER,
            "to": ["lawyer@cps.gov.uk"],
            "subject": "[OFFICIAL] a subject",
            "contentType": "html",
            "content": "<p>hi</p>",
            "saveToSentItems": True,
        }
    ]
    assert tenant.graph.http_requests == {"POST /users/{id}/sendMail": 1}
    assert tenant.graph.unauthorized == 0


async def test_a_mailbox_the_app_may_not_send_from_is_not_sent(
    tenant: FakeTenant, mailer: GraphMailer
) -> None:
    tenant.graph.mail_refused.add(SENDER)

    with pytest.raises(MailNotSent) as raised:
        await mailer.send(MESSAGE)

    assert raised.value.status == 403
    assert "ErrorAccessDenied" in raised.value.reason
    assert tenant.graph.sent_mail == []


async def test_an_unknown_mailbox_and_a_slow_graph_are_not_sent(
    tenant: FakeTenant, mailer: GraphMailer
) -> None:
    tenant.graph.mailboxes.clear()
    with pytest.raises(MailNotSent) as unknown:
        await mailer.send(MESSAGE)
    assert unknown.value.status == 404

    tenant.graph.mailboxes.add(SENDER)
    tenant.graph.delay = 3.0  # Graph only: the token endpoint still answers at once
    async with await open_graph_mailer(tenant.config(timeout=1.0), SENDER) as slow:
        with pytest.raises(MailNotSent, match="in time"):
            await slow.send(MESSAGE)
    assert tenant.graph.sent_mail == []


async def test_addresses_are_checked_before_graph_is_called(
    tenant: FakeTenant, mailer: GraphMailer
) -> None:
    for bad in ("lawyer@cps.gov.uk/../../me", "not-an-address", "a@b.c\r\nBcc: x@y.z"):
        with pytest.raises(InvalidInput):
            await mailer.send(MailMessage(to=bad, subject="s", html="h"))
    with pytest.raises(InvalidInput):
        await open_graph_mailer(tenant.config(), "../users/someone-else")
    assert tenant.graph.total_http == 0


def test_mail_needs_the_graph_directory_and_a_mailbox(base_env: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as local:
        load_settings({**base_env, "EXHIBIT_SHARE_MAIL_FROM": SENDER})
    assert local.value.name == "EXHIBIT_SHARE_MAIL_FROM"
    with pytest.raises(SettingsError) as bad:
        load_settings(graph_env(base_env, EXHIBIT_SHARE_MAIL_FROM="noreply at met"))
    assert bad.value.name == "EXHIBIT_SHARE_MAIL_FROM"
    assert load_settings(graph_env(base_env)).share_mail_from is None


# --- the approval flow ---------------------------------------------------------------------


@pytest.fixture
async def directory(tenant: FakeTenant) -> AsyncIterator[GraphDirectory]:
    opened = await open_graph_directory(tenant.config(role_groups=ROLE_GROUPS))
    yield opened
    await opened.aclose()


@pytest.fixture
def mail_settings(base_env: dict[str, str], tenant: FakeTenant, tls: Tls) -> Settings:
    return load_settings(
        graph_env(
            base_env,
            EXHIBIT_GRAPH_AUTHORITY_HOST=tenant.tokens.authority,
            EXHIBIT_GRAPH_CA_BUNDLE=str(tls.material.ca_file),
            EXHIBIT_GRAPH_BASE_URL=tenant.graph.base_url,
            EXHIBIT_DOWNLOAD_HOSTS="127.0.0.1",
            EXHIBIT_SHARE_MAIL_FROM=SENDER,
        )
    )


@pytest.fixture
async def team(
    mail_settings: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    directory: GraphDirectory,
) -> Conversation:
    recorder, url = connector
    recorder.members[CHANNEL] = channel_members(JANE, RAVI)
    return Conversation(
        await bot_client(mail_settings, directory=directory), recorder, url, where=CASE_CHANNEL
    )


async def _custody(settings: Settings, share_id: str) -> list[tuple[str, dict[str, object]]]:
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        async with SqlRecords(engine).unit() as unit:
            share = await unit.share(share_id)
            assert share is not None
            entries = await unit.custody(share.case_id)
    finally:
        await engine.dispose()
    return [(entry.action, dict(entry.details)) for entry in entries]


async def test_an_approved_link_is_emailed_and_recorded(
    team: Conversation, file_url: str, tenant: FakeTenant, mail_settings: Settings
) -> None:
    await _case_with_exhibit(team, file_url, "MET-24-0300")
    share_id = _share_id(await team.say("share JS/1 with lawyer@cps.gov.uk reason trial bundle"))

    assert "Approved" in await team.click_share("share.approve", share_id, sender=RAVI)

    (mail,) = tenant.graph.sent_mail
    assert mail["from"] == SENDER
    assert mail["to"] == ["lawyer@cps.gov.uk"]
    assert "MET-24-0300" in mail["subject"]
    link = re.search(r'href="[^"]*(/s/[A-Za-z0-9_-]{43,})"', mail["content"])
    assert link is not None
    assert (await team.client.get(link.group(1))).status == 200  # the mailed link works
    cards = [str(r.body) for r in team.recorder.received if "Share approved" in str(r.body)]
    assert "Exhibit has e-mailed this link to lawyer@cps.gov.uk" in cards[0]
    assert link.group(1) in cards[0]  # the requester still has it
    emailed = [d for a, d in await _custody(mail_settings, share_id) if a == Action.SHARE_EMAILED]
    assert emailed == [{"share": share_id, "recipient": "lawyer@cps.gov.uk", "from": SENDER}]
    # A second click changes nothing and sends nothing.
    assert "Approved" in await team.click_share("share.approve", share_id, sender=RAVI)
    assert len(tenant.graph.sent_mail) == 1


async def test_a_refused_mail_leaves_the_share_approved_and_says_so(
    team: Conversation, file_url: str, tenant: FakeTenant, mail_settings: Settings
) -> None:
    tenant.graph.mail_refused.add(SENDER)
    await _case_with_exhibit(team, file_url, "MET-24-0301")
    share_id = _share_id(await team.say("share JS/1 with lawyer@cps.gov.uk reason trial bundle"))

    assert "Approved" in await team.click_share("share.approve", share_id, sender=RAVI)

    assert tenant.graph.sent_mail == []
    cards = [str(r.body) for r in team.recorder.received if "Share approved" in str(r.body)]
    assert "Exhibit could not e-mail the link" in cards[0]
    assert "send it to lawyer@cps.gov.uk yourself" in cards[0]
    assert re.search(r"/s/[A-Za-z0-9_-]{43,}", cards[0])
    custody = await _custody(mail_settings, share_id)
    (failed,) = [d for a, d in custody if a == Action.SHARE_EMAIL_FAILED]
    assert "ErrorAccessDenied" in str(failed["problem"])
    assert [a for a, _ in custody].count(Action.SHARE_APPROVED) == 1
