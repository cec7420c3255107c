"""The pages an external recipient sees: `/s/<token>` and `/s/<token>/<n>`.

The landing page lists what was shared (with full SHA-256 hashes) and records `link.opened`;
a download re-checks the link, counts it atomically, records `exhibit.downloaded` and
redirects to a read-only SAS URL for that one blob, valid for minutes. Refusals of a known
share are recorded as `link.refused`. Plain server-rendered HTML, no JavaScript; every value
is escaped, and shown without the control and bidirectional characters that would disguise it;
a download saves under the exhibit's sanitised name, never the name the device sent; error
pages never repeat the token; a per-IP token bucket limits requests.
"""

from __future__ import annotations

import base64
import hashlib
import html
import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web

from cards.text import SHORT, TITLE, clean
from evidence.custody import Action, CustodyEvent
from evidence.errors import EvidenceStoreError
from evidence.file_names import sanitize_file_name
from evidence.model import Case, Exhibit
from evidence.records import Records, RecordsUnit, run_unit
from evidence.sharing import Share, link_state, recipient_actor, token_hash
from storage.sas import MAX_LIFETIME, BlobSasSigner

logger = logging.getLogger(__name__)

MAX_TOKEN_LENGTH = 128  # issued tokens are 43 characters
MAX_USER_AGENT = 300

STYLE = """
:root{color:#0b0c0c;background:#fff;
font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Arial,sans-serif}
body{margin:0}
main{max-width:60rem;margin:0 auto;padding:1rem}
.marking{margin:0;padding:.5rem 1rem;background:#0b0c0c;color:#fff;font-weight:700;
letter-spacing:.05em;text-align:center;font-size:1.1rem}
h1{font-size:1.75rem;line-height:1.2;margin:1rem 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0 0 1.5rem}
dt{font-weight:700}
dd{margin:0}
.table{overflow-x:auto}
table{border-collapse:collapse;width:100%}
caption{text-align:left;font-weight:700;font-size:1.25rem;padding:.5rem 0}
th,td{border-bottom:1px solid #505a5f;padding:.5rem;text-align:left;vertical-align:top}
code{font-family:ui-monospace,Consolas,monospace;font-size:.85rem;word-break:break-all}
a{color:#1d4f91}
a:visited{color:#4c2c92}
a:focus,.table:focus{outline:3px solid #fd0;background:#fd0;color:#0b0c0c}
@media (max-width:40rem){
table,caption,thead,tbody,tr,th,td{display:block}
thead tr{position:absolute;left:-9999px}
tr{border-bottom:2px solid #0b0c0c;padding:.5rem 0}
th,td{border:0;padding:.25rem 0}
td::before{content:attr(data-label) ": ";font-weight:700}
}
"""
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
class RateLimit:
    """A token bucket per client IP: `per_minute` refill, up to `burst` requests at once."""

    per_minute: int = 30
    burst: int = 30
    max_clients: int = 10_000  # buckets kept; beyond it, full (idle) ones are dropped

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst <= 0 or self.max_clients <= 0:
            raise ValueError("rate limits must be positive")


@dataclass(frozen=True, slots=True)
class SharePages:
    """What the link pages need."""

    records: Records
    signer: BlobSasSigner
    classification: str  # the protective marking shown on the page, e.g. OFFICIAL-SENSITIVE
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


class TokenBuckets:
    """Per-key token buckets (requests per minute with a burst)."""

    def __init__(self, limit: RateLimit, monotonic: Callable[[], float]) -> None:
        self._limit = limit
        self._monotonic = monotonic
        self._rate = limit.per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str) -> float:
        """Take one token for `key`: 0 if granted, else seconds until one is available."""
        now = self._monotonic()
        tokens, at = self._buckets.get(key, (float(self._limit.burst), now))
        tokens = min(float(self._limit.burst), tokens + (now - at) * self._rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self._rate
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > self._limit.max_clients:
            self._forget_idle(now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        full = float(self._limit.burst)
        for key, (tokens, at) in list(self._buckets.items()):
            if tokens + (now - at) * self._rate >= full:
                del self._buckets[key]
        while len(self._buckets) > self._limit.max_clients:  # all busy: drop the oldest
            del self._buckets[next(iter(self._buckets))]


def add_share_routes(app: web.Application, deps: SharePages) -> None:
    """Serve the link pages on `app` (GET only: a HEAD must not count as a download)."""
    buckets = TokenBuckets(deps.rate_limit, deps.monotonic)

    def limited(
        handler: Callable[[web.Request, str], Awaitable[web.StreamResponse]],
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            client = client_ip(request, deps.proxy_hops)
            wait = buckets.take(client)
            if wait > 0:
                logger.info("share link rate limit hit by a client")
                response = _message(
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
                    503,
                    "Temporarily unavailable",
                    "The evidence store did not answer. Try again in a few minutes.",
                )

        return guarded

    async def landing(request: web.Request, client: str) -> web.StreamResponse:
        digest = _digest(request.match_info["token"])
        visit = _visit(request, client)

        async def work(unit: RecordsUnit) -> _Landing | None:
            share = await unit.share_by_token(digest)
            if share is None:
                return None
            now = deps.now()
            case = await unit.case_by_id(share.case_id)
            state = link_state(share, now)
            if state is not None:
                await _refused(unit, share, now, visit, state)
                return _Landing(share, case, (), state)
            exhibits = await _exhibits(unit, share)
            await unit.append_custody(
                _event(share, Action.LINK_OPENED, now, {**visit, "state": "valid"})
            )
            return _Landing(share, case, exhibits, None)

        found = await run_unit(deps.records, work)
        if found is None:
            return _not_found()
        if found.state is not None or found.case is None:
            return _gone(found.state or "unavailable")
        body = _landing_page(found, deps.classification, request.match_info["token"])
        return _respond(200, body)

    async def download(request: web.Request, client: str) -> web.StreamResponse:
        token = request.match_info["token"]
        digest = _digest(token)
        n_text = request.match_info["n"]
        n = int(n_text) if n_text.isdigit() and len(n_text) <= 4 else 0
        visit = {**_visit(request, client), "n": n_text[:8]}

        async def check(unit: RecordsUnit) -> _Checked | None:
            share = await unit.share_by_token(digest)
            if share is None:
                return None
            now = deps.now()
            if not 1 <= n <= len(share.exhibit_ids):
                await _refused(unit, share, now, visit, "no such exhibit in the share")
                return _Checked(share, None, "missing")
            state = link_state(share, now)
            exhibit = await unit.exhibit_by_id(share.exhibit_ids[n - 1])
            if exhibit is None or exhibit.case_id != share.case_id:
                state = state or "exhibit not found"
            if state is not None:
                await _refused(unit, share, now, visit, state)
                return _Checked(share, None, state)
            return _Checked(share, exhibit, None)

        checked = await run_unit(deps.records, check)
        if checked is None or checked.state == "missing":
            return _not_found()
        if checked.exhibit is None:
            return _gone(checked.state or "unavailable")
        exhibit = checked.exhibit
        # Signed before the download is counted: a count is never taken for a URL not given.
        signed = await deps.signer.read_url(
            exhibit.region,
            exhibit.blob_name,
            now=deps.now(),
            lifetime=timedelta(minutes=deps.sas_minutes),
            filename=sanitize_file_name(exhibit.stored_name),
        )

        async def take(unit: RecordsUnit) -> tuple[Share | None, str | None]:
            now = deps.now()
            taken = await unit.take_download(checked.share.id, now)
            if taken is None:
                current = await unit.share(checked.share.id) or checked.share
                state = link_state(current, now) or "unavailable"
                await _refused(unit, current, now, visit, state)
                return None, state
            details = {
                **visit,
                "exhibit": str(exhibit.ref),
                "sha256": exhibit.sha256,
                "downloads": taken.downloads,
                "max_downloads": taken.max_downloads,
                "sas_expires_at": signed.expires_at.isoformat(),
            }
            event = _event(taken, Action.EXHIBIT_DOWNLOADED, now, details, exhibit.id)
            await unit.append_custody(event)
            return taken, None

        taken, state = await run_unit(deps.records, take)
        if taken is None:
            return _gone(state or "unavailable")
        return web.Response(status=302, headers={**SECURITY_HEADERS, "Location": signed.url})

    app.router.add_get("/s/{token}", limited(landing), allow_head=False)
    app.router.add_get("/s/{token}/{n}", limited(download), allow_head=False)


def client_ip(request: web.Request, proxy_hops: int) -> str:
    """The caller's address, as the rate limiter and the custody ledger see it.

    With no trusted proxies (`proxy_hops` 0) it is the TCP peer and X-Forwarded-For is ignored.
    Each trusted proxy appends the address it saw, so the client is the entry `proxy_hops` from
    the right; entries further left are the client's own to forge and are never used. When the
    header has fewer entries than `proxy_hops` (a proxy that was bypassed or does not append),
    every entry there was still written by a trusted proxy, so the leftmost is used; with no
    header at all, the peer.
    """
    if proxy_hops > 0:
        forwarded = [
            part.strip()
            for header in request.headers.getall("X-Forwarded-For", [])
            for part in header.split(",")
            if part.strip()
        ]
        if forwarded:
            return _address(forwarded[-min(proxy_hops, len(forwarded))])
    return request.remote or "unknown"


def _address(entry: str) -> str:
    """An X-Forwarded-For entry as a bare IP (Azure Application Gateway appends `ip:port`)."""
    candidates = [entry, entry.strip("[]")]
    if entry.startswith("[") and "]" in entry:
        candidates.append(entry[1 : entry.index("]")])
    elif entry.count(":") == 1:
        candidates.append(entry.split(":")[0])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return "".join(ch if ch.isprintable() else "?" for ch in entry[:64])


# -- use of the records --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Landing:
    share: Share
    case: Case | None
    exhibits: Sequence[tuple[int, Exhibit]]  # with each one's 1-based place in the share
    state: str | None


@dataclass(frozen=True, slots=True)
class _Checked:
    share: Share
    exhibit: Exhibit | None
    state: str | None


def _digest(token: str) -> str:
    # Always hash and look up, whatever the token looks like, so an unknown token costs what a
    # known one does; only absurd lengths are cut (to a value no issued token hashes to).
    return token_hash(token if len(token) <= MAX_TOKEN_LENGTH else "")


def _visit(request: web.Request, client: str) -> dict[str, Any]:
    return {"ip": client, "user_agent": request.headers.get("User-Agent", "")[:MAX_USER_AGENT]}


async def _exhibits(unit: RecordsUnit, share: Share) -> tuple[tuple[int, Exhibit], ...]:
    found = []
    for n, exhibit_id in enumerate(share.exhibit_ids, start=1):
        exhibit = await unit.exhibit_by_id(exhibit_id)
        if exhibit is not None and exhibit.case_id == share.case_id:
            found.append((n, exhibit))
    return tuple(found)


def _event(
    share: Share,
    action: Action,
    now: datetime,
    details: Mapping[str, Any],
    exhibit_id: str | None = None,
) -> CustodyEvent:
    return CustodyEvent(
        chain=share.case_id,
        actor=recipient_actor(share),
        action=action,
        at=now,
        case_id=share.case_id,
        exhibit_id=exhibit_id,
        details={"share": share.id, **details},
    )


async def _refused(
    unit: RecordsUnit, share: Share, now: datetime, visit: Mapping[str, Any], reason: str
) -> None:
    await unit.append_custody(_event(share, Action.LINK_REFUSED, now, {**visit, "reason": reason}))


# -- pages ---------------------------------------------------------------------------------


def _respond(status: int, body: str) -> web.Response:
    response = web.Response(status=status, text=body, content_type="text/html", charset="utf-8")
    response.headers.update(SECURITY_HEADERS)
    return response


def _document(title: str, content: str) -> str:
    return (
        '<!doctype html>\n<html lang="en-GB">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        f"<title>{html.escape(title)} - Exhibit</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{content}\n</body>\n</html>\n"
    )


def _message(status: int, title: str, text: str) -> web.Response:
    content = (
        f"<main>\n<h1>{html.escape(title)}</h1>\n<p>{html.escape(text)}</p>\n"
        "<p>If you still need the evidence, ask the person who shared it with you.</p>\n</main>"
    )
    return _respond(status, _document(title, content))


def _not_found() -> web.Response:
    return _message(404, "Link not found", "This link is not valid. Check it was copied in full.")


GONE_TEXT = {
    "expired": ("This link has expired", "The time allowed for this link has passed."),
    "revoked": ("This link has been withdrawn", "The force withdrew this link."),
    "exhausted": (
        "This link has been used up",
        "The evidence has been downloaded as many times as this link allows.",
    ),
}


def _gone(state: str) -> web.Response:
    title, text = GONE_TEXT.get(state, ("This link is not available", "It no longer works."))
    return _message(410, title, text)


def _landing_page(found: _Landing, classification: str, token: str) -> str:
    share, case = found.share, found.case
    assert case is not None  # noqa: S101 (checked by the caller)
    marking = f'<p class="marking">{html.escape(classification)}</p>'
    rows = []
    for n, exhibit in found.exhibits:
        ref = html.escape(str(exhibit.ref))
        # Relative to /s/<token>: the token appears only inside these links, never as text.
        href = html.escape(f"{quote(token, safe='')}/{n}")
        rows.append(
            "<tr>"
            f'<th scope="row">{ref}</th>'
            f'<td data-label="File name">{_shown(exhibit.original_name, TITLE)}</td>'
            f'<td data-label="Size">{html.escape(_size(exhibit.size))}</td>'
            f'<td data-label="SHA-256"><code>{html.escape(exhibit.sha256)}</code></td>'
            f'<td data-label="Download"><a href="{href}">Download {ref}</a></td>'
            "</tr>"
        )
    expires = _when(share.link_expires_at) if share.link_expires_at else "no expiry set"
    limit = (
        f"{share.downloads} of {share.max_downloads} used"
        if share.max_downloads is not None
        else f"{share.downloads} so far"
    )
    content = f"""{marking}
<main>
<h1>Evidence shared with you</h1>
<p>Exhibits of case {_shown(case.reference)}, shared with {_shown(share.recipient)}.
Every visit and download is recorded in the case's chain of custody.</p>
<dl>
<dt>Case</dt><dd>{_shown(case.reference)}</dd>
<dt>Shared by</dt><dd>{_shown(share.requested_by_name)}</dd>
<dt>Link expires</dt><dd>{html.escape(expires)}</dd>
<dt>Downloads</dt><dd>{html.escape(limit)}</dd>
</dl>
<div class="table" role="region" aria-labelledby="exhibits-caption" tabindex="0">
<table>
<caption id="exhibits-caption">Exhibits ({len(found.exhibits)})</caption>
<thead><tr><th scope="col">Exhibit</th><th scope="col">File name</th><th scope="col">Size</th>
<th scope="col">SHA-256</th><th scope="col">Download</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
</div>
<p>Check each file after download: its SHA-256 must equal the one shown here.</p>
</main>
{marking}"""
    return _document(f"Evidence for case {clean(case.reference)}", content)


def _shown(text: str, limit: int = SHORT) -> str:
    """A stored value as HTML text: escaped, and without characters that disguise it."""
    return html.escape(clean(text, limit=limit))


def _size(size: int) -> str:
    units = ("bytes", "KB", "MB", "GB", "TB")
    value, unit = float(size), 0
    while value >= 1000 and unit < len(units) - 1:
        value, unit = value / 1000, unit + 1
    return f"{size:,} bytes" if unit == 0 else f"{value:.1f} {units[unit]} ({size:,} bytes)"


def _when(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return f"{utc:%A} {utc.day} {utc:%B %Y} at {utc:%H:%M} UTC"
