"""Who is asking: the client address behind any trusted reverse proxies."""

from __future__ import annotations

import ipaddress

from aiohttp import web


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
