"""The external link pages on a real aiohttp server, Azurite and SQLite; and in Chromium."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer
from azure.core.credentials import AccessToken
from azure.storage.blob import UserDelegationKey
from playwright.async_api import async_playwright

from cards.time import when
from devtools.devstack import ROOT
from evidence.custody import Action, CustodyEntry, verify_chain
from evidence.file_names import sanitize_file_name
from evidence.model import Case, Exhibit, ExhibitRef, SourceKind
from evidence.shares import Share, ShareStatus
from evidence.sharing import new_link_token
from links.ratelimit import RateLimit
from links.site import SharePages, add_share_routes
from storage.blobs import RegionAccount, RegionalBlobServices, blob_service
from storage.database import create_engine
from storage.evidence_store import BlobEvidenceStore
from storage.migrate import migrate
from storage.records import SqlRecords
from storage.sas import MAX_LIFETIME, BlobSasSigner, attachment
from tests.conftest import Azurite
from tests.e2e.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

REGION = "uksouth"
CONTAINER = "evidence"
MARKING = "OFFICIAL-SENSITIVE"
FORCE = "Metropolitan Police Service"
CONTACT = "evidence.unit@met.example"
OFFICER_ID = "0b6c2f1e-7d4a-4c1b-9e3f-2a5d8c7b6e4f"
RECIPIENT = "lawyer@cps.gov.uk"
FILES = {
    "Statement \u2013 café <b>&amp;</b>.pdf": os.urandom(300_000),
    "CCTV front door.mp4": os.urandom(1_100_000),
}

Client = TestClient[web.Request, web.Application]
Serve = Callable[[SharePages], Awaitable[Client]]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class World:
    """Records, storage, a case with exhibits and one approved share."""

    records: SqlRecords
    services: RegionalBlobServices
    case: Case
    exhibits: list[Exhibit]
    share: Share
    token: str

    async def add_share(self, **changes: Any) -> tuple[Share, str]:
        """Another share of the same exhibits, approved unless `changes` say otherwise."""
        token = new_link_token()
        share = replace(self.share, id=str(uuid.uuid4()), token_sha256=token.sha256, **changes)
        async with self.records.unit() as unit:
            await unit.add_share(share)
        return share, token.secret

    async def custody(self) -> list[CustodyEntry]:
        async with self.records.unit() as unit:
            entries = list(await unit.custody(self.case.id))
            head = await unit.custody_head(self.case.id)
        assert verify_chain(self.case.id, entries, head).ok
        return entries


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    for at in range(0, len(data), 65_536):
        yield data[at : at + 65_536]


@pytest.fixture
async def world(azurite: Azurite, tmp_path: Path) -> AsyncIterator[World]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'exhibit.db'}")
    await migrate(engine)
    records = SqlRecords(engine)
    services = RegionalBlobServices(
        {REGION: blob_service(RegionAccount(REGION, azurite.connection_string(REGION)))}
    )
    store = BlobEvidenceStore(services, CONTAINER)
    now = utcnow()
    case = Case(str(uuid.uuid4()), f"MET-26-{uuid.uuid4().hex[:4]}", "Burglary", REGION,
                OFFICER_ID, now)  # fmt: skip
    exhibits = []
    async with records.unit() as unit:
        await unit.add_case(case)
        for number, (name, data) in enumerate(FILES.items(), start=1):
            blob_name = f"{case.id}/JS-{number}"
            stored = await store.put(
                REGION, blob_name, chunks(data), content_type="application/octet-stream",
                metadata={}, tags={},
            )  # fmt: skip
            exhibit = Exhibit(
                id=str(uuid.uuid4()), case_id=case.id, ref=ExhibitRef("JS", number),
                produced_by=OFFICER_ID, produced_by_name="PC Jane Smith", original_name=name,
                stored_name=sanitize_file_name(name), declared_type="application/octet-stream",
                detected_type="application/octet-stream", size=stored.size,
                sha256=stored.sha256, region=REGION, blob_name=blob_name,
                source=SourceKind.TEAMS_FILE, created_at=now + timedelta(seconds=number),
            )  # fmt: skip
            await unit.add_exhibit(exhibit)
            exhibits.append(exhibit)
        token = new_link_token()
        share = Share(
            id=str(uuid.uuid4()), case_id=case.id, exhibit_ids=tuple(e.id for e in exhibits),
            requested_by=OFFICER_ID, requested_by_name="PC Jane Smith", recipient=RECIPIENT,
            organisation_type="cps", reason="Disclosure", days=14,
            status=ShareStatus.APPROVED, created_at=now,
            request_expires_at=now + timedelta(days=7), decided_by="approver",
            decided_by_name="DS Sam Patel", decided_at=now, token_sha256=token.sha256,
            link_expires_at=now + timedelta(days=14),
            requester_email="jane.smith@met.example", requester_phone="020 7946 0018",
        )  # fmt: skip
        await unit.add_share(share)
    try:
        yield World(records, services, case, exhibits, share, token.secret)
    finally:
        await services.aclose()
        await engine.dispose()


def pages(world: World, **options: Any) -> SharePages:
    return SharePages(
        records=world.records,
        signer=BlobSasSigner(world.services, CONTAINER),
        classification=MARKING,
        force_name=FORCE,
        contact=CONTACT,
        now=utcnow,
        **options,
    )


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    clients: list[Client] = []

    async def start(deps: SharePages) -> Client:
        app = web.Application()
        add_share_routes(app, deps)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
async def client(world: World, serve: Serve) -> Client:
    return await serve(pages(world))


def assert_secure(headers: Mapping[str, str]) -> None:
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "script-src" not in policy


async def test_landing_page_lists_the_exhibits_with_hashes(world: World, client: Client) -> None:
    response = await client.get(f"/s/{world.token}", headers={"User-Agent": "Court browser/1"})
    body = await response.text()
    assert response.status == 200
    assert_secure(response.headers)
    assert response.content_type == "text/html"
    assert body.count(MARKING) >= 2
    assert '<html lang="en-GB">' in body
    assert 'name="viewport"' in body
    assert "<script" not in body.lower()
    assert "<caption" in body
    assert '<th scope="col">' in body
    assert world.case.reference in body
    for n, exhibit in enumerate(world.exhibits, start=1):
        assert exhibit.sha256 in body
        assert f"{exhibit.size:,} bytes" in body
        assert f'href="{world.token}/{n}"' in body
    # One size convention (binary units), as on the cards.
    assert "293.0 KiB (300,000 bytes)" in body
    assert "1.0 MiB (1,100,000 bytes)" in body
    assert " KB" not in body
    assert " MB" not in body
    # Who shared and who approved, of which force; whom to ask; expiry in UK local time.
    assert f"<dt>Shared by</dt><dd>PC Jane Smith, {FORCE}</dd>" in body
    assert f"<dt>Approved by</dt><dd>DS Sam Patel, {FORCE}</dd>" in body
    # The requesting officer is whom to ask (their own e-mail and phone); the force's general
    # line as well, when one is set.
    assert (
        "<dt>Questions about this evidence</dt><dd>PC Jane Smith, "
        '<a href="mailto:jane.smith%40met.example">jane.smith@met.example</a>, 020 7946 0018</dd>'
    ) in body
    assert f"<dt>{FORCE}'s general line</dt><dd>{CONTACT}</dd>" in body
    assert re.search(r"and tell\s+PC Jane Smith \(jane.smith@met.example\)\.", body)
    assert f"<dt>Link expires</dt><dd>{when(world.share.link_expires_at)}</dd>" in body  # type: ignore[arg-type]
    assert re.search(r"<dt>Link expires</dt><dd>\d\d \w{3} \d{4} \d\d:\d\d (GMT|BST)</dd>", body)
    assert "UTC" not in body
    # How to check a download's hash on Windows and on macOS or Linux.
    assert "<code>Get-FileHash -Algorithm SHA256 file</code>" in body
    assert "<code>shasum -a 256 file</code>" in body
    # Nothing more of the case than the recipient needs: no title, reason or officer ids.
    assert world.case.title not in body
    assert world.share.reason not in body
    assert OFFICER_ID not in body
    # The name is escaped, never markup; the token only inside the download links.
    assert "Statement \u2013 café &lt;b&gt;&amp;amp;&lt;/b&gt;.pdf" in body
    assert "<b>" not in body
    assert body.count(world.token) == len(world.exhibits)
    [opened] = await world.custody()
    assert opened.action == Action.LINK_OPENED
    assert (opened.actor_id, opened.actor_name) == (f"external:{world.share.id}", RECIPIENT)
    assert opened.details["ip"] == "127.0.0.1"
    assert opened.details["user_agent"] == "Court browser/1"
    assert opened.details["share"] == world.share.id


async def test_download_redirects_to_a_short_read_only_sas(world: World, client: Client) -> None:
    for n, exhibit in enumerate(world.exhibits, start=1):
        before = utcnow()
        response = await client.get(f"/s/{world.token}/{n}", allow_redirects=False)
        assert response.status == 302
        assert_secure(response.headers)
        location = response.headers["Location"]
        query = parse_qs(urlsplit(location).query)
        assert query["sp"] == ["r"]
        expiry = datetime.strptime(query["se"][0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert expiry - before <= MAX_LIFETIME
        assert expiry > before
        async with ClientSession() as session, session.get(location) as blob:
            data = await blob.read()
            disposition = blob.headers["Content-Disposition"]
        assert hashlib.sha256(data).hexdigest() == exhibit.sha256
        # The sanitised name, never the one the device sent; an ASCII fallback for old clients.
        assert disposition == attachment(exhibit.stored_name)
        assert disposition.endswith("filename*=UTF-8''" + quote(exhibit.stored_name, safe=""))
    entries = await world.custody()
    downloads = [e for e in entries if e.action == Action.EXHIBIT_DOWNLOADED]
    assert [e.exhibit_id for e in downloads] == [e.id for e in world.exhibits]
    assert [e.details["downloads"] for e in downloads] == [1, 2]
    assert all(e.details["ip"] == "127.0.0.1" and "user_agent" in e.details for e in downloads)


async def test_a_tampered_sas_is_refused_by_storage(world: World, client: Client) -> None:
    response = await client.get(f"/s/{world.token}/1", allow_redirects=False)
    location = response.headers["Location"].replace("sp=r", "sp=rw")
    async with ClientSession() as session, session.get(location) as blob:
        assert blob.status == 403


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"link_expires_at": datetime(2026, 1, 1, tzinfo=UTC)}, "expired"),
        ({"status": ShareStatus.REVOKED}, "withdrawn"),
        ({"status": ShareStatus.EXPIRED}, "expired"),
        ({"max_downloads": 1, "downloads": 1}, "used up"),
    ],
    ids=["past-expiry", "revoked", "marked-expired", "exhausted"],
)
async def test_unusable_links_are_gone_and_the_refusal_recorded(
    world: World, client: Client, changes: dict[str, object], words: str
) -> None:
    share, token = await world.add_share(**changes)
    for path in (f"/s/{token}", f"/s/{token}/1"):
        response = await client.get(path, allow_redirects=False)
        body = await response.text()
        assert response.status == 410
        assert words in body
        assert token not in body
        assert_secure(response.headers)
    entries = await world.custody()
    assert [e.action for e in entries] == [Action.LINK_REFUSED] * 2
    assert all(e.details["share"] == share.id for e in entries)


async def test_the_download_limit_holds_under_concurrent_clicks(
    world: World, client: Client
) -> None:
    _, token = await world.add_share(max_downloads=3)
    responses = await asyncio.gather(
        *(client.get(f"/s/{token}/1", allow_redirects=False) for _ in range(10))
    )
    assert sorted(r.status for r in responses) == [302] * 3 + [410] * 7
    actions = [e.action for e in await world.custody()]
    assert actions.count(Action.EXHIBIT_DOWNLOADED) == 3
    assert actions.count(Action.LINK_REFUSED) == 7


async def test_unknown_tokens_and_exhibits_are_not_found(world: World, client: Client) -> None:
    unknown = new_link_token().secret
    for path in (f"/s/{unknown}", f"/s/{unknown}/1", "/s/" + "x" * 5000, "/s/%3Cscript%3E"):
        response = await client.get(path)
        body = await response.text()
        assert response.status == 404
        assert unknown not in body
        assert "<script>" not in body
        assert_secure(response.headers)
    assert await world.custody() == []  # nothing to record against: no case is known
    for n in ("0", "3", "x", "99999"):
        response = await client.get(f"/s/{world.token}/{n}", allow_redirects=False)
        assert response.status == 404
        assert world.token not in await response.text()
    entries = await world.custody()
    assert [e.action for e in entries] == [Action.LINK_REFUSED] * 4


async def test_head_does_not_count_as_a_download(world: World, client: Client) -> None:
    response = await client.head(f"/s/{world.token}/1", allow_redirects=False)
    assert response.status == 405
    assert await world.custody() == []


async def test_rate_limit_answers_429_with_retry_after(world: World, serve: Serve) -> None:
    clock = [1000.0]
    client = await serve(
        pages(world, rate_limit=RateLimit(per_minute=6, burst=2), monotonic=lambda: clock[0])
    )
    unknown = new_link_token().secret
    assert (await client.get(f"/s/{unknown}")).status == 404
    assert (await client.get(f"/s/{world.token}")).status == 200
    limited = await client.get(f"/s/{world.token}")
    assert limited.status == 429
    assert limited.headers["Retry-After"] == "10"  # 6 a minute: one every 10 s
    assert world.token not in await limited.text()
    assert_secure(limited.headers)
    clock[0] += 10
    assert (await client.get(f"/s/{world.token}")).status == 200


def test_settings_refuse_a_sas_over_five_minutes(world: World) -> None:
    with pytest.raises(ValueError, match="sas_minutes"):
        pages(world, sas_minutes=6)


async def test_in_chromium_the_page_renders_and_downloads_match_the_hashes(
    world: World, client: Client, tmp_path: Path
) -> None:
    url = str(client.make_url(f"/s/{world.token}"))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = await browser.new_context(
                viewport={"width": 390, "height": 844}, accept_downloads=True
            )
            page = await context.new_page()
            await page.goto(url)
            assert await page.title() == f"Evidence for case {world.case.reference} - Exhibit"
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "share-landing.png"), full_page=True)
            # Fluid on a phone: nothing wider than the viewport.
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390
            for exhibit in world.exhibits:
                async with page.expect_download() as waiting:
                    await page.get_by_role("link", name=f"Download {exhibit.ref}").click()
                download = await waiting.value
                assert download.suggested_filename == exhibit.stored_name
                saved = tmp_path / f"{exhibit.ref.number}.bin"
                await download.save_as(saved)
                assert hashlib.sha256(saved.read_bytes()).hexdigest() == exhibit.sha256
            await context.close()
        finally:
            await browser.close()
    actions = [e.action for e in await world.custody()]
    assert actions == [Action.LINK_OPENED, Action.EXHIBIT_DOWNLOADED, Action.EXHIBIT_DOWNLOADED]


class FixedToken:
    """A token credential for a client whose calls never reach the network here."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("test-token", 2**31)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> FixedToken:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None


async def test_token_credentials_sign_with_a_cached_user_delegation_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = blob_service(
        RegionAccount(REGION, account_url="https://exhibituksouth.blob.core.windows.net"),
        credential=FixedToken(),
    )
    fetched: list[tuple[datetime, datetime]] = []

    async def delegation_key(start: datetime, expiry: datetime, **_: Any) -> UserDelegationKey:
        fetched.append((start, expiry))
        key = UserDelegationKey()  # type: ignore[no-untyped-call]
        key.signed_oid, key.signed_tid = str(uuid.uuid4()), str(uuid.uuid4())
        key.signed_start, key.signed_expiry = (
            f"{start:%Y-%m-%dT%H:%M:%SZ}",
            f"{expiry:%Y-%m-%dT%H:%M:%SZ}",
        )
        key.signed_service, key.signed_version = "b", "2026-06-06"
        key.value = base64.b64encode(os.urandom(32)).decode()
        return key

    monkeypatch.setattr(client, "get_user_delegation_key", delegation_key)
    signer = BlobSasSigner(RegionalBlobServices({REGION: client}), CONTAINER)
    now = utcnow()
    try:
        first = await signer.read_url(
            REGION, "c/JS-1", now=now, lifetime=MAX_LIFETIME, filename="a b.pdf"
        )
        later = now + timedelta(minutes=30)
        second = await signer.read_url(
            REGION, "c/JS-2", now=later, lifetime=MAX_LIFETIME, filename="x"
        )
        near_expiry = now + timedelta(minutes=52)
        await signer.read_url(
            REGION, "c/JS-2", now=near_expiry, lifetime=MAX_LIFETIME, filename="x"
        )
        with pytest.raises(ValueError, match="at most"):
            await signer.read_url(
                REGION, "c/JS-1", now=now, lifetime=timedelta(minutes=6), filename="x"
            )
    finally:
        await client.close()
    assert len(fetched) == 2  # reused for the second URL, renewed when it would lapse too soon
    query = parse_qs(urlsplit(first.url).query)
    assert first.url.startswith("https://exhibituksouth.blob.core.windows.net/evidence/c/JS-1?")
    assert query["sp"] == ["r"]
    assert query["spr"] == ["https"]
    assert "skoid" in query  # signed with the delegation key, not an account key
    assert query["rscd"] == ["attachment; filename=\"a b.pdf\"; filename*=UTF-8''a%20b.pdf"]
    assert second.expires_at == later + MAX_LIFETIME


# -- accessibility: WCAG 2.2 AA, 400% zoom, keyboard alone -------------------------------------

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
PAGE_SHOTS = ROOT / "artifacts" / "links"
NARROW = 320  # CSS px: a 1280 px wide window at 400% zoom (WCAG 1.4.10 Reflow)
WIDE = 1280
RUN_AXE = """tags => axe.run(document, {runOnly: {type: "tag", values: tags}}).then(r => ({
    violations: r.violations.map(v => ({
        id: v.id, help: v.help, nodes: v.nodes.map(n => n.target.join(" "))})),
    passes: r.passes.map(v => v.id)}))"""


async def page_states(world: World) -> dict[str, tuple[str, int]]:
    """Every page the link site shows, by name: its path and the status it answers with."""
    _, expired = await world.add_share(link_expires_at=datetime(2026, 1, 1, tzinfo=UTC))
    _, revoked = await world.add_share(status=ShareStatus.REVOKED)
    _, used_up = await world.add_share(max_downloads=1, downloads=1)
    unknown = new_link_token().secret
    return {
        "landing": (f"/s/{world.token}", 200),
        "expired": (f"/s/{expired}", 410),
        "revoked": (f"/s/{revoked}", 410),
        "used-up": (f"/s/{used_up}", 410),
        "not-found": (f"/s/{unknown}", 404),
        "download-expired": (f"/s/{expired}/1", 410),
        "download-revoked": (f"/s/{revoked}/1", 410),
        "download-used-up": (f"/s/{used_up}/1", 410),
        "download-not-found": (f"/s/{world.token}/9", 404),
    }


async def test_every_page_meets_wcag_22_aa_and_reflows_at_400_percent(
    world: World, serve: Serve
) -> None:
    assert AXE.is_file(), "npm axe-core is missing: run scripts/bootstrap"
    states = await page_states(world)
    client = await serve(pages(world))
    # A limit of one request a minute answers the second visit with the rate-limit page.
    limited = await serve(pages(world, rate_limit=RateLimit(per_minute=1, burst=1)))
    PAGE_SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            shots = [(name, client, path, status) for name, (path, status) in states.items()]
            shots.append(("too-many-requests", limited, f"/s/{world.token}", 429))
            for name, server, path, status in shots:
                for width in (WIDE, NARROW):
                    context = await browser.new_context(viewport={"width": width, "height": 800})
                    page = await context.new_page()
                    if status == 429:
                        await page.goto(str(server.make_url(path)))
                    response = await page.goto(str(server.make_url(path)))
                    assert response is not None
                    assert response.status == status, name
                    await page.screenshot(
                        path=str(PAGE_SHOTS / f"{name}-{width}.png"), full_page=True
                    )
                    # Reflow: at 320 CSS px nothing is wider than the window.
                    scroll = await page.evaluate("document.documentElement.scrollWidth")
                    assert scroll <= width, (name, width, scroll)
                    await page.evaluate(AXE.read_text())
                    result = await page.evaluate(RUN_AXE, WCAG_TAGS)
                    assert result["violations"] == [], (name, width, result["violations"])
                    assert "color-contrast" in result["passes"], name  # axe really ran
                    await context.close()
        finally:
            await browser.close()


async def test_a_keyboard_alone_reaches_and_activates_a_download(
    world: World, client: Client, tmp_path: Path
) -> None:
    exhibit = world.exhibits[0]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = await browser.new_context(
                viewport={"width": NARROW, "height": 800}, accept_downloads=True
            )
            page = await context.new_page()
            await page.goto(str(client.make_url(f"/s/{world.token}")))
            link = page.get_by_role("link", name=f"Download {exhibit.ref}")
            unfocused = await link.screenshot()
            for _ in range(10):
                await page.keyboard.press("Tab")
                if await link.evaluate("element => element === document.activeElement"):
                    break
            else:
                pytest.fail("Tab never reached the download link")
            # A visible focus indicator: an outline, and the link looks different focused.
            style = await link.evaluate(
                "e => { const s = getComputedStyle(e); return [s.outlineStyle, s.outlineWidth] }"
            )
            assert style[0] != "none", style
            assert float(style[1].removesuffix("px")) >= 2, style
            await page.screenshot(path=str(PAGE_SHOTS / "landing-focus-320.png"), full_page=True)
            assert await link.screenshot() != unfocused
            async with page.expect_download() as waiting:
                await page.keyboard.press("Enter")
            download = await waiting.value
            saved = tmp_path / "keyboard.bin"
            await download.save_as(saved)
            assert hashlib.sha256(saved.read_bytes()).hexdigest() == exhibit.sha256
            await context.close()
        finally:
            await browser.close()
