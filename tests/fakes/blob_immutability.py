"""Blob storage with version-level immutability: Azurite behind a server that adds it.

Azurite has neither Set Blob Immutability Policy nor Set Blob Legal Hold. This aiohttp app
stands in front of one Azurite blob endpoint: every request is passed to Azurite unchanged
(the SharedKey signature covers the path and headers, not the host, so it still verifies),
except the two documented operations, which are answered here as the Blob REST API does:

- `PUT <container>/<blob>?comp=immutabilityPolicies` with `x-ms-immutability-policy-until-date`
  (RFC 1123, GMT) and `x-ms-immutability-policy-mode` (`Unlocked` or `Locked`); 200 with both
  headers echoed. A locked policy can only be extended (409 otherwise).
- `PUT <container>/<blob>?comp=legalhold` with `x-ms-legal-hold: true|false`; 200 with
  `x-ms-legal-hold`.

Both must carry an `Authorization` header (SharedKey or Bearer), `x-ms-version` (2020-06-12 or
later) and `x-ms-date`; a request missing any, or with a malformed value, gets 400, so a wrong
call fails the test. Only blobs committed through this server exist for them (404
`BlobNotFound` otherwise). `fail_holds` makes legal hold calls answer an error from then on
(`fail_after` lets that many succeed first), to stand for storage going away mid-way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote

from aiohttp import ClientSession, web

from tests.fakes import serve

RFC1123 = "%a, %d %b %Y %H:%M:%S GMT"
FIRST_VERSION = "2020-06-12"
HOP_BY_HOP = frozenset(
    {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "te", "upgrade"}
)


@dataclass
class Policy:
    """A blob version's time-based retention policy, as set."""

    until: datetime
    mode: str


@dataclass
class ImmutableBlobs:
    """What the server was told: policies, holds, every call made, and the faults to answer."""

    committed: set[str] = field(default_factory=set)  # "<account>/<container>/<blob>"
    policies: dict[str, Policy] = field(default_factory=dict)
    holds: dict[str, bool] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (comp, path)
    fail_holds: int | None = None  # status legal hold calls answer, when set
    fail_after: int = 0  # legal hold calls that still succeed before `fail_holds` applies

    def held(self, account: str, container: str) -> set[str]:
        """The blob names of the container that are on legal hold now."""
        prefix = f"{account}/{container}/"
        return {
            key[len(prefix) :] for key, on in self.holds.items() if on and key.startswith(prefix)
        }


@asynccontextmanager
async def immutable_blob_endpoint(azurite_origin: str) -> AsyncIterator[tuple[str, ImmutableBlobs]]:
    """Serve the fake in front of `azurite_origin` (`http://127.0.0.1:PORT`); its origin."""
    state = ImmutableBlobs()
    async with ClientSession(auto_decompress=False) as session:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", _handler(state, session, azurite_origin))
        async with serve(app) as origin:
            yield origin, state


def _handler(state: ImmutableBlobs, session: ClientSession, upstream: str):  # type: ignore[no-untyped-def]
    async def handle(request: web.Request) -> web.StreamResponse:
        comp = request.query.get("comp", "")
        path = unquote(request.path).lstrip("/")
        if request.method == "PUT" and comp in {"immutabilityPolicies", "legalhold"}:
            return _immutability(state, request, comp, path)
        return await _forward(state, session, upstream, request, comp, path)

    return handle


async def _forward(
    state: ImmutableBlobs,
    session: ClientSession,
    upstream: str,
    request: web.Request,
    comp: str,
    path: str,
) -> web.StreamResponse:
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    body = await request.read()
    # aiohttp would add a Content-Type the client did not sign: pass the headers as they came.
    async with session.request(
        request.method,
        upstream + request.rel_url.raw_path_qs,
        headers=headers,
        data=body or None,
        skip_auto_headers=("Content-Type", "User-Agent", "Accept-Encoding"),
    ) as answer:
        payload = await answer.read()
        out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        committed = request.method == "PUT" and answer.status == 201
        if committed and (
            comp == "blocklist" or (not comp and "x-ms-blob-type" in request.headers)
        ):
            state.committed.add(path)
        return web.Response(status=answer.status, headers=out, body=payload)


def _immutability(
    state: ImmutableBlobs, request: web.Request, comp: str, path: str
) -> web.Response:
    state.calls.append((comp, path))
    problem = _check_common(request)
    if problem:
        return _error(400, "InvalidHeaderValue", problem)
    if path.count("/") < 2:
        return _error(400, "InvalidUri", "a blob path is <account>/<container>/<blob>")
    if path not in state.committed:
        return _error(404, "BlobNotFound", "The specified blob does not exist.")
    if comp == "legalhold":
        return _legal_hold(state, request, path)
    until_text = request.headers.get("x-ms-immutability-policy-until-date", "")
    mode = request.headers.get("x-ms-immutability-policy-mode", "")
    try:
        until = datetime.strptime(until_text, RFC1123).replace(tzinfo=UTC)
    except ValueError:
        return _error(400, "InvalidHeaderValue", f"until-date {until_text!r} is not RFC 1123")
    if mode not in {"Unlocked", "Locked"}:
        return _error(400, "InvalidHeaderValue", f"policy mode {mode!r}")
    if until <= datetime.now(UTC):
        return _error(400, "InvalidHeaderValue", "until-date must be in the future")
    current = state.policies.get(path)
    if current is not None and current.mode == "Locked" and until < current.until:
        return _error(409, "ImmutabilityPolicyLocked", "a locked policy can only be extended")
    state.policies[path] = Policy(until, mode)
    return web.Response(
        status=200,
        headers={
            "x-ms-immutability-policy-until-date": until_text,
            "x-ms-immutability-policy-mode": mode,
            "x-ms-version": request.headers["x-ms-version"],
        },
    )


def _legal_hold(state: ImmutableBlobs, request: web.Request, path: str) -> web.Response:
    value = request.headers.get("x-ms-legal-hold", "")
    if value not in {"true", "false"}:
        return _error(400, "InvalidHeaderValue", f"x-ms-legal-hold {value!r}")
    if state.fail_holds is not None:
        if state.fail_after <= 0:
            return _error(state.fail_holds, "ServerBusy", "The server is not answering.")
        state.fail_after -= 1
    state.holds[path] = value == "true"
    return web.Response(
        status=200,
        headers={"x-ms-legal-hold": value, "x-ms-version": request.headers["x-ms-version"]},
    )


def _check_common(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if not auth.startswith(("SharedKey ", "Bearer ")):
        return "Authorization (SharedKey or Bearer) is required"
    version = request.headers.get("x-ms-version", "")
    if len(version) != 10 or version < FIRST_VERSION:
        return f"x-ms-version {version!r} does not have this operation"
    if not request.headers.get("x-ms-date"):
        return "x-ms-date is required"
    return None


def _error(status: int, code: str, message: str) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return web.Response(
        status=status,
        body=body.encode(),
        content_type="application/xml",
        headers={"x-ms-error-code": code},
    )
