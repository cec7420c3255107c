"""The pages an external recipient sees: `/s/<token>` and `/s/<token>/<n>`.

The landing page lists what was shared (with full SHA-256 hashes) and records `link.opened`;
a download re-checks the link, counts it atomically, records `exhibit.downloaded` and
redirects to a read-only SAS URL for that one blob, valid for minutes. Refusals of a known
share are recorded as `link.refused`; what a link shows, and those records, are decided by
`evidence.links`. Plain server-rendered HTML from the templates in links/templates/, no
JavaScript; every value is escaped by the template, and shown without the control and
bidirectional characters that would disguise it;
a download saves under the exhibit's sanitised name, never the name the device sent; error
pages never repeat the token; a per-IP token bucket limits requests.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from opentelemetry import metrics, trace

from cards.text import TITLE, clean
from cards.words import file_kind
from evidence.errors import EvidenceStoreError
from evidence.file_names import sanitize_file_name
from evidence.links import LinkState, check_download, open_link, take_download
from evidence.model import Case, Exhibit
from evidence.records import Records, run_unit
from evidence.shares import Share
from evidence.sharing import token_hash
from links.clients import client_ip
from links.ratelimit import RateLimit, TokenBuckets
from links.templates import officer_contact, render
from storage.sas import MAX_LIFETIME, BlobSasSigner
from storage.telemetry import refusals, span

logger = logging.getLogger(__name__)
tracer = trace.get_tracer("exhibit.links")
downloads = metrics.get_meter("exhibit.links").create_counter(
    "exhibit.link.downloads", unit="{download}", description="Downloads handed out by share links"
)

MAX_TOKEN_LENGTH = 128  # issued tokens are 43 characters
MAX_USER_AGENT = 300

# The page's only style, included verbatim by page.html (it has no template syntax); its hash
# is the one style the Content-Security-Policy allows.
STYLE = (Path(__file__).parent / "templates" / "style.css").read_text(encoding="utf-8")
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
SECURITY_HEADERS: Mapping[str, str] = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"
    ),
}


@dataclass(frozen=True, slots=True)
class SharePages:
    """What the link pages need."""

    records: Records
    signer: BlobSasSigner
    classification: str  # the protective marking shown on the page, e.g. OFFICIAL-SENSITIVE
    force_name: str  # who the evidence comes from, as the recipient knows them
    contact: str  # whom a recipient may ask about a share (address or telephone); "" for none
    now: Callable[[], datetime]
    sas_minutes: int = 5
    rate_limit: RateLimit = field(default_factory=RateLimit)
    # Reverse proxies in front of the app that append to X-Forwarded-For (0: use the peer).
    proxy_hops: int = 0
    monotonic: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if not timedelta(0) < timedelta(minutes=self.sas_minutes) <= MAX_LIFETIME:
            raise ValueError(f"sas_minutes must be 1 to {MAX_LIFETIME.seconds // 60}")
        if self.proxy_hops < 0:
            raise ValueError("proxy_hops cannot be negative")


def add_share_routes(app: web.Application, deps: SharePages) -> None:
    """Serve the link pages on `app` (GET only: a HEAD must not count as a download)."""
    buckets = TokenBuckets(deps.rate_limit, deps.monotonic)

    def limited(
        handler: Callable[[web.Request, str], Awaitable[web.StreamResponse]],
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            route = request.match_info.route.resource
            template = route.canonical if route is not None else "other"
            with span(tracer, "exhibit.link.request", {"http.route": template}) as current:
                response = await answer(request)
                current.set_attribute("http.response.status_code", response.status)
            _count(response.status)
            return response

        async def answer(request: web.Request) -> web.StreamResponse:
            client = client_ip(request, deps.proxy_hops)
            wait = buckets.take(client)
            if wait > 0:
                logger.info("share link rate limit hit by a client")
                response = _message(
                    deps,
                    429,
                    "Too many requests",
                    "This link has been asked for too often from your address. "
                    "Wait a minute and try again.",
                )
                response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
                return response
            try:
                return await handler(request, client)
            except EvidenceStoreError:
                logger.exception("storage failed while serving a share link")
                return _message(
                    deps,
                    503,
                    "Temporarily unavailable",
                    "The evidence store did not answer. Try again in a few minutes.",
                )

        return guarded

    async def landing(request: web.Request, client: str) -> web.StreamResponse:
        digest = _digest(request.match_info["token"])
        visit = _visit(request, client)
        view = await run_unit(deps.records, lambda unit: open_link(unit, digest, deps.now(), visit))
        if view.state is LinkState.UNKNOWN:
            return _not_found(deps)
        if view.state is not LinkState.ACTIVE or view.share is None or view.case is None:
            return _gone(deps, view.state)
        page = landing_page(view.share, view.case, view.exhibits, deps, request.match_info["token"])
        return _respond(200, page)

    async def download(request: web.Request, client: str) -> web.StreamResponse:
        token = request.match_info["token"]
        digest = _digest(token)
        n_text = request.match_info["n"]
        n = int(n_text) if n_text.isdigit() and len(n_text) <= 4 else 0
        visit = {**_visit(request, client), "n": n_text[:8]}
        checked = await run_unit(
            deps.records, lambda unit: check_download(unit, digest, n, deps.now(), visit)
        )
        if checked.state in (LinkState.UNKNOWN, LinkState.NO_SUCH_EXHIBIT):
            return _not_found(deps)
        share, exhibit = checked.share, checked.exhibit
        if share is None or exhibit is None:
            return _gone(deps, checked.state)
        # Signed before the download is counted: a count is never taken for a URL not given.
        signed = await deps.signer.read_url(
            exhibit.region,
            exhibit.blob_name,
            now=deps.now(),
            lifetime=timedelta(minutes=deps.sas_minutes),
            filename=sanitize_file_name(exhibit.stored_name),
        )
        state = await run_unit(
            deps.records,
            lambda unit: take_download(
                unit, share, exhibit, deps.now(), visit, url_expires_at=signed.expires_at
            ),
        )
        if state is not LinkState.ACTIVE:
            return _gone(deps, state)
        return web.Response(status=302, headers={**SECURITY_HEADERS, "Location": signed.url})

    app.router.add_get("/s/{token}", limited(landing), allow_head=False)
    app.router.add_get("/s/{token}/{n}", limited(download), allow_head=False)


# -- requests ------------------------------------------------------------------------------


def _count(status: int) -> None:
    """A download handed out (302), or a refusal by its code."""
    if status == 302:
        downloads.add(1)
    elif status == 429:
        refusals.add(1, {"exhibit.reason": "rate_limited"})
    elif status in (404, 410):
        refusals.add(1, {"exhibit.reason": "link_unavailable"})


def _digest(token: str) -> str:
    # Always hash and look up, whatever the token looks like, so an unknown token costs what a
    # known one does; only absurd lengths are cut (to a value no issued token hashes to).
    return token_hash(token if len(token) <= MAX_TOKEN_LENGTH else "")


def _visit(request: web.Request, client: str) -> dict[str, Any]:
    return {"ip": client, "user_agent": request.headers.get("User-Agent", "")[:MAX_USER_AGENT]}


# -- pages ---------------------------------------------------------------------------------


def _respond(status: int, body: str) -> web.Response:
    response = web.Response(status=status, text=body, content_type="text/html", charset="utf-8")
    response.headers.update(SECURITY_HEADERS)
    return response


def _message(deps: SharePages, status: int, title: str, text: str) -> web.Response:
    page = render(
        "message.html",
        title=title,
        text=text,
        force=clean(deps.force_name),
        contact=clean(deps.contact),
    )
    return _respond(status, page)


def _not_found(deps: SharePages) -> web.Response:
    return _message(
        deps, 404, "Link not found", "This link is not valid. Check it was copied in full."
    )


GONE_TEXT: Mapping[LinkState, tuple[str, str]] = {
    LinkState.EXPIRED: ("This link has expired", "The time allowed for this link has passed."),
    LinkState.REVOKED: ("This link has been withdrawn", "The force withdrew this link."),
    LinkState.EXHAUSTED: (
        "This link has been used up",
        "The evidence has been downloaded as many times as this link allows.",
    ),
}


def _gone(deps: SharePages, state: LinkState) -> web.Response:
    title, text = GONE_TEXT.get(state, ("This link is not available", "It no longer works."))
    return _message(deps, 410, title, text)


def landing_page(
    share: Share,
    case: Case,
    exhibits: Sequence[tuple[int, Exhibit]],
    deps: SharePages,
    token: str,
) -> str:
    """The landing page of a working link: what was shared, by whom, with full hashes.

    Who shared and who approved (names and force), whom to contact, until when the link works
    (UK local time), and how to check a download's SHA-256: nothing else of the case.
    """
    rows = [
        {
            "ref": str(exhibit.ref),
            "name": clean(exhibit.original_name, limit=TITLE),
            "kind": file_kind(exhibit.detected_type),
            "size": exhibit.size,
            "sha256": exhibit.sha256,
            # Relative to /s/<token>: the token appears only inside these links, never as text.
            "href": f"{quote(token, safe='')}/{n}",
        }
        for n, exhibit in exhibits
    ]
    downloads = (
        f"{share.downloads} of {share.max_downloads} used"
        if share.max_downloads is not None
        else f"{share.downloads} so far"
    )
    return render(
        "landing.html",
        classification=deps.classification,
        force=clean(deps.force_name),
        contact=clean(deps.contact),
        case_reference=clean(case.reference),
        recipient=clean(share.recipient),
        shared_by=clean(share.requested_by_name),
        officer=officer_contact(share),
        approved_by=clean(share.decided_by_name or ""),
        expires=share.link_expires_at,
        downloads=downloads,
        rows=rows,
    )
