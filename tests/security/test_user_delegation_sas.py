"""Keyless storage: the link site's downloads as user delegation SAS, through the real SDK.

The service reaches Blob Storage by account URL with its Entra identity (a fixed token stands
for the managed identity: the remote Entra boundary). Storage is `tests/fakes/user_delegation`,
which issues user delegation keys on the documented REST call and serves a blob only for a SAS
whose signature it recomputes from the documented string-to-sign.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer

from evidence.custody import Action
from evidence.file_names import sanitize_file_name
from evidence.model import Case, Exhibit, ExhibitRef, SourceKind
from evidence.shares import Share, ShareStatus
from evidence.sharing import new_link_token
from links.site import SharePages, add_share_routes
from storage.blobs import RegionAccount, RegionalBlobServices, blob_service
from storage.database import create_engine
from storage.migrate import migrate
from storage.records import SqlRecords
from storage.sas import MAX_LIFETIME, BlobSasSigner, attachment
from tests.fakes.key_vault import FixedTokenCredential
from tests.fakes.tenant import Tls
from tests.fakes.user_delegation import DelegationAccount, serve_delegation_account
from tests.support.tls_connector import trust_test_ca

REGION = "uksouth"
ACCOUNT = "exhibituksouth"
CONTAINER = "evidence"
OFFICER_ID = "0b6c2f1e-7d4a-4c1b-9e3f-2a5d8c7b6e4f"
STORAGE_SCOPE = "https://storage.azure.com/.default"
NAME = "Statement \u2013 café 12 High St.pdf"

Client = TestClient[web.Request, web.Application]


@dataclass
class Keyless:
    """The link site over SQLite, signing for a keyless account; one approved share."""

    account: DelegationAccount
    identity: FixedTokenCredential
    client: Client
    records: SqlRecords
    case: Case
    exhibit: Exhibit
    data: bytes
    token: str

    async def actions(self) -> list[str]:
        async with self.records.unit() as unit:
            return [e.action for e in await unit.custody(self.case.id)]


async def keyless(
    tmp_path: Path, tls: Tls, *, service_token: str | None = None
) -> AsyncIterator[Keyless]:
    """Everything `Keyless` holds; the service's identity presents `service_token` (default:
    the one storage accepts)."""
    trust_test_ca(tls)  # the SDK's aiohttp transport and the browser stand-in trust the fake
    account = DelegationAccount(ACCOUNT, token="storage-token-" + uuid.uuid4().hex)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'exhibit.db'}")
    await migrate(engine)
    records = SqlRecords(engine)
    now = datetime.now(UTC)
    case = Case(str(uuid.uuid4()), "MET-26-0042", "Burglary", REGION, OFFICER_ID, now)
    data = os.urandom(200_000)
    exhibit = Exhibit(
        id=str(uuid.uuid4()), case_id=case.id, ref=ExhibitRef("JS", 1), produced_by=OFFICER_ID,
        produced_by_name="PC Jane Smith", original_name=NAME, stored_name=sanitize_file_name(NAME),
        declared_type="application/pdf", detected_type="application/pdf", size=len(data),
        sha256=hashlib.sha256(data).hexdigest(), region=REGION, blob_name=f"{case.id}/JS-1",
        source=SourceKind.TEAMS_FILE, created_at=now,
    )  # fmt: skip
    account.blobs[f"{CONTAINER}/{exhibit.blob_name}"] = data
    token = new_link_token()
    share = Share(
        id=str(uuid.uuid4()), case_id=case.id, exhibit_ids=(exhibit.id,), requested_by=OFFICER_ID,
        requested_by_name="PC Jane Smith", recipient="lawyer@cps.gov.uk", organisation_type="cps",
        reason="Disclosure", days=14, status=ShareStatus.APPROVED, created_at=now,
        request_expires_at=now + timedelta(days=7), decided_by="approver",
        decided_by_name="DS Sam Patel", decided_at=now, token_sha256=token.sha256,
        link_expires_at=now + timedelta(days=14),
    )  # fmt: skip
    async with records.unit() as unit:
        await unit.add_case(case)
        await unit.add_exhibit(exhibit)
        await unit.add_share(share)
    identity = FixedTokenCredential(account.token if service_token is None else service_token)
    async with serve_delegation_account(account, tls) as account_url:
        # As the service opens a region that has an account URL and no connection string.
        services = RegionalBlobServices(
            {REGION: blob_service(RegionAccount(REGION, account_url=account_url), identity)}
        )
        app = web.Application()
        add_share_routes(
            app,
            SharePages(
                records=records,
                signer=BlobSasSigner(services, CONTAINER),
                classification="OFFICIAL-SENSITIVE",
                force_name="Metropolitan Police Service",
                contact="evidence.unit@met.example",
                now=lambda: datetime.now(UTC),
            ),
        )
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        try:
            yield Keyless(account, identity, client, records, case, exhibit, data, token.secret)
        finally:
            await client.close()
            await services.aclose()
            await engine.dispose()


@pytest.fixture
async def site(tmp_path: Path, tls: Tls) -> AsyncIterator[Keyless]:
    async for world in keyless(tmp_path, tls):
        yield world


async def sas_location(site: Keyless) -> str:
    response = await site.client.get(f"/s/{site.token}/1", allow_redirects=False)
    assert response.status == 302
    return response.headers["Location"]


async def fetch(url: str) -> tuple[int, bytes, str | None]:
    async with ClientSession() as browser, browser.get(url) as response:
        return response.status, await response.read(), response.headers.get("Content-Disposition")


def with_fields(url: str, **changes: str) -> str:
    """`url` with some SAS fields replaced (order and every other field kept)."""
    parts = urlsplit(url)
    fields = [(name, changes.get(name, value)) for name, value in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(fields)))


async def test_a_download_redirects_to_a_user_delegation_sas_storage_accepts(
    site: Keyless,
) -> None:
    before = datetime.now(UTC)
    location = await sas_location(site)

    assert location.startswith(f"https://localhost:{urlsplit(location).port}/{ACCOUNT}/")
    query = dict(parse_qsl(urlsplit(location).query))
    assert "sig" in query
    assert query["sr"] == "b"
    assert query["sp"] == "r"
    assert query["spr"] == "https"
    assert query["skoid"] == site.account.object_id  # a delegation key, not an account key
    assert query["sktid"] == site.account.tenant_id
    expiry = datetime.strptime(query["se"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before < expiry <= before + MAX_LIFETIME + timedelta(seconds=1)
    # The key was asked for once, with the service's identity, for storage's audience.
    (asked,) = site.account.key_requests
    assert set(asked) == {"Start", "Expiry"}
    assert set(site.identity.scopes) == {(STORAGE_SCOPE,)}

    status, body, disposition = await fetch(location)
    assert status == 200, site.account.refusals
    assert hashlib.sha256(body).hexdigest() == site.exhibit.sha256
    assert disposition == attachment(site.exhibit.stored_name)

    # A second download reuses the cached key; its SAS is accepted too.
    status, _, _ = await fetch(await sas_location(site))
    assert status == 200
    assert len(site.account.issued) == 1
    assert site.account.refusals == []
    assert (await site.actions()).count(Action.EXHIBIT_DOWNLOADED) == 2


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda sas: {"sig": ("B" if sas["sig"][0] != "B" else "C") + sas["sig"][1:]},
         "signature"),
        (lambda sas: {"se": later(sas["se"], minutes=1)}, "expiry"),  # past the 5 minutes
        (lambda sas: {"se": later(sas["se"], minutes=-1)}, "signature"),  # shorter, unsigned
        (lambda sas: {"sp": "rw"}, "permission"),
        (lambda sas: {"spr": "https,http"}, "protocol"),
        (lambda sas: {"rscd": "inline"}, "content disposition"),
        (lambda sas: {"rscd": 'attachment; filename="other.exe"'}, "signature"),
        (lambda sas: {"skoid": str(uuid.uuid4())}, "key not issued"),
        (lambda sas: {"ske": later(sas["ske"], minutes=60)}, "key not issued"),
    ],
    ids=["sig-one-char", "se-longer", "se-shorter", "sp-rw", "spr-http", "rscd-inline",
         "rscd-other-name", "skoid", "ske"],
)  # fmt: skip
async def test_storage_refuses_a_tampered_sas(
    site: Keyless, tamper: Callable[[dict[str, str]], dict[str, str]], reason: str
) -> None:
    location = await sas_location(site)
    sas = dict(parse_qsl(urlsplit(location).query))
    tampered = with_fields(location, **tamper(sas))
    assert tampered != location

    status, body, _ = await fetch(tampered)
    assert status == 403
    assert b"AuthenticationFailed" in body
    assert site.account.refusals == [reason]
    assert site.account.served == []
    # The untampered SAS still reads: the refusal was the tampering's.
    assert (await fetch(location))[0] == 200


def later(stamp: str, *, minutes: int) -> str:
    moved = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    moved += timedelta(minutes=minutes)
    return f"{moved:%Y-%m-%dT%H:%M:%SZ}"


async def test_without_the_storage_role_no_link_is_given_and_no_download_counted(
    tmp_path: Path, tls: Tls
) -> None:
    async for site in keyless(tmp_path, tls, service_token="a-token-storage-does-not-know"):
        response = await site.client.get(f"/s/{site.token}/1", allow_redirects=False)
        assert response.status == 503
        assert "Location" not in response.headers
        assert site.token not in await response.text()
        assert site.account.issued == []
        assert Action.EXHIBIT_DOWNLOADED not in await site.actions()
