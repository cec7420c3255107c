"""Which hosts evidence downloads may reach: an allow-list of names and `*.suffix` patterns.

Every URL a download follows comes from an activity or a Graph answer: each hop is checked here
before a connection is opened (no SSRF through a `downloadUrl` or a redirect).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from yarl import URL

from evidence.errors import HostNotAllowed

# Where Teams puts files in the commercial cloud: SharePoint and OneDrive (1:1 chat downloadUrl
# and Graph's pre-authenticated redirects) and the Bot Framework attachment service (inline
# images, behind the activity's serviceUrl). Sovereign clouds need their own names.
TEAMS_FILE_HOSTS = ("*.sharepoint.com", "smba.trafficmanager.net")


@dataclass(frozen=True, slots=True)
class HostAllowList:
    """Hosts downloads may reach: exact names and `*.suffix` patterns, https only.

    `*.sharepoint.com` matches `contoso.sharepoint.com` and `a.b.sharepoint.com`, not
    `sharepoint.com` itself. Plain http is refused except, when
    `dangerously_allow_http_on_loopback` is set, to a listed loopback host (tests).
    """

    names: frozenset[str]
    suffixes: tuple[str, ...]
    dangerously_allow_http_on_loopback: bool = False

    @classmethod
    def of(
        cls, patterns: Iterable[str], *, dangerously_allow_http_on_loopback: bool = False
    ) -> HostAllowList:
        """Parse host patterns; raise `ValueError` for one that is not a host or a `*.` suffix."""
        names: set[str] = set()
        suffixes: list[str] = []
        for raw in patterns:
            pattern = raw.strip().lower().rstrip(".")
            if pattern.startswith("*."):
                suffix = pattern[1:]
                if suffix.count(".") < 2 or not _is_host_name(suffix[1:]):
                    raise ValueError(f"{raw!r}: a wildcard needs at least two labels after it")
                suffixes.append(suffix)
            elif _is_host_name(pattern) or _is_ip(pattern):
                names.add(pattern)
            else:
                raise ValueError(f"{raw!r} is not a host name, an IP address or *.domain")
        return cls(frozenset(names), tuple(suffixes), dangerously_allow_http_on_loopback)

    def check(self, url: URL) -> str:
        """The URL's host, if a download may go there; raise `HostNotAllowed` otherwise."""
        host = (url.raw_host or "").lower().rstrip(".")
        if not url.absolute or not host:
            raise HostNotAllowed(host, "not an absolute URL")
        if url.raw_user is not None or url.raw_password is not None:
            raise HostNotAllowed(host, "credentials in the URL")
        if not self.allows(host):
            raise HostNotAllowed(host, "host not on the allow-list")
        if url.scheme == "https":
            return host
        if url.scheme == "http" and self.dangerously_allow_http_on_loopback and is_loopback(host):
            return host
        raise HostNotAllowed(host, f"scheme {url.scheme!r} not allowed")

    def allows(self, host: str) -> bool:
        """Whether `host` (lower case, no trailing dot) is listed or under a listed suffix."""
        return host in self.names or (not _is_ip(host) and host.endswith(self.suffixes))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_host_name(host: str) -> bool:
    labels = host.split(".")
    return all(
        0 < len(label) <= 63
        and label.isascii()
        and label.replace("-", "").isalnum()
        and not label.startswith("-")
        and not label.endswith("-")
        for label in labels
    )


def is_loopback(host: str) -> bool:
    """Whether `host` is localhost or a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
