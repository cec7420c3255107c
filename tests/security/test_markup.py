"""User text never becomes markup: hostile strings against every card that shows user text, the
recipient's landing page and the download's file name.

Each card is built from domain objects carrying the hostile string in every user- or
directory-supplied field; its JSON (as sent to Teams) is walked, and no TextBlock or Fact may
hold an active link, image, mention, tag, entity, URL, bidirectional control or control
character, or run past its bound, while the string itself stays readable.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st
from microsoft_teams.cards import AdaptiveCard

from bot.commands.help import help_card, not_understood_card
from bot.replies import card_payload
from bot.share_mail import share_mail
from bot.wording import not_understood_hint
from cards.cases import build_case_card, build_case_list_card
from cards.common import Tone, build_notice_card
from cards.custody import build_custody_card
from cards.exhibits import (
    ReceiptReviews,
    build_exhibit_card,
    build_exhibit_list_card,
    build_receipt_card,
    build_verify_card,
)
from cards.officer import build_whoami_card
from cards.sharing import build_approval_card, build_link_card, build_share_list_card
from cards.text import SHORT, clean, plain
from evidence.anchoring import AnchoredReport, Finding
from evidence.custody import CustodyEntry
from evidence.exhibits import CustodyView, Verification
from evidence.file_names import sanitize_file_name
from evidence.model import Case, Exhibit, ExhibitRef, SourceKind
from evidence.officers import Officer, Role
from evidence.records import IntakeJob, JobStatus
from evidence.review import Review, ReviewMark
from evidence.shares import Share, ShareStatus
from evidence.sharing import new_link_token
from evidence.stored_blob import StoredBlob
from links.site import SharePages, add_share_routes
from storage.blobs import RegionAccount, RegionalBlobServices, blob_service
from storage.database import create_engine
from storage.evidence_store import BlobEvidenceStore
from storage.migrate import migrate
from storage.records import SqlRecords
from storage.sas import BlobSasSigner
from tests.conftest import Azurite

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SHARE_URL = "https://exhibit.example.police.uk/s/abc"
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
MAX_TEXT = 1500  # no TextBlock or Fact runs longer, whatever it was given


@dataclass(frozen=True)
class Hostile:
    """A string someone could put in a field, what must not survive, and what must."""

    text: str
    forbidden: tuple[str, ...]  # patterns no displayed text may match
    readable: str  # what the viewer must still be able to read (markup characters literal)


ROWS = {
    "markdown-link": Hostile(
        "[click here](https://evil.example/login)", (), "[click here](https://evil.example/login)"
    ),
    "image": Hostile("![pixel](https://evil.example/p.png)", (r"!\[",), "![pixel]"),
    "bold": Hostile("**URGENT** release now", (r"(?<!\\)\*\*URGENT",), "**URGENT** release now"),
    "mention": Hostile("<at>Jane Smith</at>", (), "<at>Jane Smith</at>"),
    "javascript-link": Hostile("[open](javascript:alert(1))", (), "[open](javascript:alert(1))"),
    "bare-url": Hostile("see https://evil.example/x now", (), "see https://evil.example/x now"),
    "www": Hostile("visit www.evil.example today", (), "visit www.evil.example today"),
    "bidi-override": Hostile("evil\u202egpj.exe", (), "evilgpj.exe"),
    "control-chars": Hostile("a\x00b\x1bc\x7fd\x9be\x07f", (), "abcdef"),
    "huge-title": Hostile("T" * 10_000, (r"T{1001}",), "T" * 50),
    "html-script": Hostile("<script>alert(1)</script>", (), "<script>alert(1)</script>"),
    "entity": Hostile("&lt;at&gt;Jane&lt;/at&gt;", (), "&lt;at&gt;Jane"),
}
# Whatever the row: what Teams would render as a link, image, mention, tag, entity or URL.
ACTIVE = (
    r"\]\(",  # [text](url), ![alt](url)
    r"<[A-Za-z/!?]",  # <at>, <script>, </b>, <https://...>
    r"&[#A-Za-z]",  # &lt; &#x3c;
    r"(?i)\b(?:https?|javascript|data|vbscript|file|ftp|mailto):(?=[^\s\u2060])",
    r"(?i)\bwww\.(?!\u2060)",
)


def readable(text: str) -> str:
    """What a reader sees: no joiners, CommonMark backslash escapes resolved."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text.replace("\u2060", ""))


def shown_texts(card: AdaptiveCard, trusted: frozenset[str] = frozenset()) -> Iterator[str]:
    """Every TextBlock text and Fact value of the card as sent to Teams."""

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            kind = node.get("type")
            if kind == "TextBlock":
                yield node["text"]
            elif kind == "FactSet":
                for fact in node["facts"]:
                    yield fact["title"]
                    yield fact["value"]
            elif isinstance(kind, str) and kind.startswith("Input."):
                return  # inputs are not Markdown: raw values stay raw there
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    yield from (text for text in walk(card_payload(card)) if text not in trusted)


# -- domain objects carrying the string -----------------------------------------------------


def case(h: str) -> Case:
    return Case("case-1", "MET-26-0001", h, "uksouth", "officer-1", NOW)


def exhibit(h: str) -> Exhibit:
    return Exhibit(
        id="ex-1", case_id="case-1", ref=ExhibitRef("JS", 1), produced_by="officer-1",
        produced_by_name=h, original_name=h, stored_name=sanitize_file_name(h),
        declared_type=h, detected_type="image/jpeg", size=1234, sha256="ab" * 32,
        region="uksouth", blob_name="case-1/ex-1", source=SourceKind.TEAMS_FILE, created_at=NOW,
    )  # fmt: skip


def share(h: str, status: ShareStatus = ShareStatus.PENDING) -> Share:
    return Share(
        id="S-1", case_id="case-1", exhibit_ids=("ex-1",), requested_by="officer-1",
        requested_by_name=h, recipient=h, organisation_type=h, reason=h, days=14,
        status=status, created_at=NOW, request_expires_at=NOW + timedelta(days=7),
        decided_by="approver-1", decided_by_name=h, decided_at=NOW, decision_reason=h,
        link_expires_at=NOW + timedelta(days=14),
    )  # fmt: skip


def job(h: str, status: JobStatus) -> IntakeJob:
    return IntakeJob(
        id=f"job-{status.value}", case_id="case-1", officer_id="officer-1", officer_name=h,
        source_kind=SourceKind.TEAMS_FILE.value, source_url="https://x.sharepoint.com/f",
        file_name=h, declared_type=h, declared_size=None, status=status, attempts=1,
        created_at=NOW, updated_at=NOW, conversation_reference="{}",
        exhibit_id="ex-1" if status is JobStatus.COMPLETED else None,
        error=h if status is JobStatus.FAILED else None,
    )  # fmt: skip


def custody_view(h: str) -> CustodyView:
    entry = CustodyEntry(
        chain="case-1", sequence=1, at=NOW, actor_id="external:S-1", actor_name=h,
        case_id="case-1", exhibit_id="ex-1", action="link.opened", details={},
        previous_hash="0" * 64, hash="1" * 64,
    )  # fmt: skip
    report = AnchoredReport("case-1", 1, (Finding("entry", 1, h),))
    return CustodyView(case(h), exhibit(h), [entry], report)


def officer(h: str) -> Officer:
    return Officer("officer-1", h, rank=h, unit=h, email=h, roles=frozenset({Role.OFFICER}))


def marks(h: str) -> list[ReviewMark]:
    return [ReviewMark(Review.REVIEWED, h, NOW, None), ReviewMark(Review.FLAGGED, h, NOW, h)]


BUILDERS: dict[str, Callable[[str], AdaptiveCard]] = {
    "notice": lambda h: build_notice_card("Check the share", f"there is no share {h}", Tone.INFO),
    "help-hint": lambda h: help_card(hint=not_understood_hint(h)),
    "not-understood": lambda h: not_understood_card(h),
    "help-topic": lambda h: help_card(h.split() or ["x"]),
    "case": lambda h: build_case_card(case(h), exhibits=1, open_shares=0, headline=f"Case {h}."),
    "case-list": lambda h: build_case_list_card([case(h)]),
    "exhibit": lambda h: build_exhibit_card(
        exhibit(h), "MET-26-0001", reviews=marks(h), with_review_actions=True
    ),
    "receipt": lambda h: build_receipt_card(
        "MET-26-0001",
        [job(h, JobStatus.COMPLETED), job(h, JobStatus.FAILED), job(h, JobStatus.RUNNING)],
        {"ex-1": exhibit(h)},
        review=ReceiptReviews(receipt="r-1", marks={"ex-1": marks(h)}),
    ),
    "exhibit-list": lambda h: build_exhibit_list_card("MET-26-0001", [exhibit(h)]),
    "verify": lambda h: build_verify_card(
        "MET-26-0001",
        Verification(exhibit(h), StoredBlob("uksouth", "b", 1, "cd" * 32, None), False, h),
    ),
    "custody": lambda h: build_custody_card(custody_view(h)),
    "approval": lambda h: build_approval_card(share(h), "MET-26-0001", [exhibit(h)], notice=h),
    "approval-decided": lambda h: build_approval_card(
        share(h, ShareStatus.REJECTED), "MET-26-0001", [exhibit(h)]
    ),
    "link": lambda h: build_link_card(
        share(h, ShareStatus.APPROVED), "MET-26-0001", SHARE_URL, mailed_from=h, mail_problem=h
    ),
    "share-list": lambda h: build_share_list_card("MET-26-0001", [share(h)]),
    "whoami": lambda h: build_whoami_card(officer(h), "graph"),
}


@pytest.mark.parametrize("row", list(ROWS), ids=list(ROWS))
@pytest.mark.parametrize("builder", list(BUILDERS), ids=list(BUILDERS))
def test_cards_show_user_text_literally(builder: str, row: str) -> None:
    hostile = ROWS[row]
    card = BUILDERS[builder](hostile.text)
    texts = list(shown_texts(card, trusted=frozenset({SHARE_URL})))
    for text in texts:
        assert not BIDI & set(text), f"bidi control in {text!r}"
        assert not [c for c in text if unicodedata.category(c) == "Cc" and c != "\n"], text
        assert len(text) <= MAX_TEXT, f"{len(text)} characters"
        for pattern in ACTIVE + hostile.forbidden:
            assert not re.search(pattern, text), f"{pattern!r} is active in {text[:200]!r}"
    assert any(hostile.readable in readable(text) for text in texts), (
        f"{hostile.readable[:60]!r} is not readable on the card: {[t[:80] for t in texts]}"
    )


# -- the landing page, the download and the e-mail ------------------------------------------


PAGE_ROWS = ("markdown-link", "mention", "bidi-override", "control-chars", "huge-title",
             "html-script")  # fmt: skip


@dataclass
class Page:
    client: TestClient[web.Request, web.Application]
    token: str
    exhibit: Exhibit


async def _bytes() -> AsyncIterator[bytes]:
    yield b"evidence bytes"


@pytest.fixture
async def page_for(azurite: Azurite, tmp_path: Path) -> AsyncIterator[Callable[[str], Any]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'exhibit.db'}")
    await migrate(engine)
    records = SqlRecords(engine)
    services = RegionalBlobServices(
        {"uksouth": blob_service(RegionAccount("uksouth", azurite.connection_string("uksouth")))}
    )
    store = BlobEvidenceStore(services, "evidence")
    clients: list[TestClient[web.Request, web.Application]] = []

    async def make(h: str) -> Page:
        now = datetime.now(UTC)
        the_case = Case(str(uuid.uuid4()), f"MET-26-{uuid.uuid4().hex[:4]}", h, "uksouth",
                        "officer-1", now)  # fmt: skip
        blob_name = f"{the_case.id}/ex-1"
        stored = await store.put(
            "uksouth", blob_name, _bytes(), content_type="application/octet-stream",
            metadata={}, tags={},
        )  # fmt: skip
        the_exhibit = Exhibit(
            id=str(uuid.uuid4()), case_id=the_case.id, ref=ExhibitRef("JS", 1),
            produced_by="officer-1", produced_by_name=h, original_name=h,
            stored_name=sanitize_file_name(h), declared_type="application/octet-stream",
            detected_type="application/octet-stream", size=stored.size, sha256=stored.sha256,
            region="uksouth", blob_name=blob_name, source=SourceKind.TEAMS_FILE, created_at=now,
        )  # fmt: skip
        token = new_link_token()
        the_share = Share(
            id=str(uuid.uuid4()), case_id=the_case.id, exhibit_ids=(the_exhibit.id,),
            requested_by="officer-1", requested_by_name=h, recipient=h, organisation_type=h,
            reason=h, days=14, status=ShareStatus.APPROVED, created_at=now,
            request_expires_at=now + timedelta(days=7), decided_by="approver-1",
            decided_by_name=h, decided_at=now, token_sha256=token.sha256,
            link_expires_at=now + timedelta(days=14),
        )  # fmt: skip
        async with records.unit() as unit:
            await unit.add_case(the_case)
            await unit.add_exhibit(the_exhibit)
            await unit.add_share(the_share)
        app = web.Application()
        add_share_routes(
            app,
            SharePages(
                records=records,
                signer=BlobSasSigner(services, "evidence"),
                classification="OFFICIAL-SENSITIVE",
                force_name="Metropolitan Police Service",
                contact="evidence@met.example",
                now=lambda: datetime.now(UTC),
            ),
        )
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return Page(client, token.secret, the_exhibit)

    yield make
    for client in clients:
        await client.close()
    await services.aclose()
    await engine.dispose()


def disguising(text: str) -> list[str]:
    """Characters that hide or reorder what a reader sees."""
    return [c for c in text if c in BIDI or (unicodedata.category(c) == "Cc" and c not in "\n")]


@pytest.mark.parametrize("row", PAGE_ROWS)
async def test_landing_page_shows_names_without_disguise(
    page_for: Callable[[str], Any], row: str
) -> None:
    hostile = ROWS[row]
    page: Page = await page_for(hostile.text)
    response = await page.client.get(f"/s/{page.token}")
    body = await response.text()
    assert response.status == 200
    assert not disguising(body), disguising(body)
    assert "<script" not in body
    assert "<at>" not in body
    assert not re.search(r"T{1001}", body)


@pytest.mark.parametrize("row", PAGE_ROWS)
async def test_downloads_carry_the_sanitised_name(page_for: Callable[[str], Any], row: str) -> None:
    hostile = ROWS[row]
    page: Page = await page_for(hostile.text)
    response = await page.client.get(f"/s/{page.token}/1", allow_redirects=False)
    assert response.status == 302
    async with ClientSession() as session, session.get(response.headers["Location"]) as blob:
        assert blob.status == 200
        disposition = blob.headers["Content-Disposition"]
    fallback = re.fullmatch(
        r'attachment; filename="([ -~]+)"; filename\*=UTF-8\'\'(\S+)', disposition
    )
    assert fallback is not None, disposition
    ascii_name, encoded = fallback.groups()
    saved = unquote(encoded)
    assert saved == page.exhibit.stored_name == sanitize_file_name(hostile.text)
    assert not disguising(saved)
    assert '"' not in ascii_name
    assert "\\" not in ascii_name
    assert len(saved.encode()) <= 180


@pytest.mark.parametrize("row", ["bidi-override", "control-chars", "html-script"])
def test_share_mail_shows_names_without_disguise(row: str) -> None:
    hostile = ROWS[row]
    message = share_mail(
        share(hostile.text, ShareStatus.APPROVED),
        case_reference="MET-26-0001",
        url=SHARE_URL,
        classification="OFFICIAL-SENSITIVE",
        force_name="Metropolitan Police Service",
        contact="evidence@met.example",
    )
    assert not disguising(message.html)
    assert not disguising(message.subject)
    assert "<script" not in message.html


# -- the function itself, on any text --------------------------------------------------------

MARKUP_PIECES = ["https", "www.", "javascript:", "<at>", "&lt;", "\x00", "\x1b", "\x9b", "\ufeff"]
MARKUP_ALPHABET = st.sampled_from(
    [*"[]()!*_~`#>-+=|<>&:/\\.@ \n\tax1", *MARKUP_PIECES, *sorted(BIDI), "\u2060"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(MARKUP_ALPHABET, max_size=60).map("".join), st.booleans())
def test_plain_is_inert_and_reads_as_the_cleaned_text(text: str, multiline: bool) -> None:
    shown = plain(text, limit=SHORT, multiline=multiline)
    assert readable(shown) == clean(text, limit=SHORT, multiline=multiline)
    assert not BIDI & set(shown)
    for pattern in ACTIVE:
        assert not re.search(pattern, shown), (pattern, shown)
