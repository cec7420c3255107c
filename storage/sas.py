"""Read-only SAS URLs for one evidence blob, valid for minutes: what a share link redirects to.

Two ways to sign, chosen by how the region's client authenticates:

- a connection string with an account key (Azurite, or an account that still allows keys):
  an account-key (service) SAS;
- a token credential (managed identity, production): a user-delegation SAS, signed with a key
  from `get_user_delegation_key`, fetched once and reused until it is near its own expiry.

Either way the SAS grants read on that one blob only, expires within `MAX_LIFETIME`, is
limited to https unless the endpoint itself is plain http (Azurite), and carries a
`Content-Disposition` override so the browser saves the file under the name given: the caller
passes the exhibit's sanitised name, never the name the officer's device sent.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError
from azure.storage.blob import BlobSasPermissions, UserDelegationKey, generate_blob_sas

from evidence.errors import StoreRejected, StoreUnavailable
from storage.blobs import RegionalBlobServices

logger = logging.getLogger(__name__)

MAX_LIFETIME = timedelta(minutes=5)
DELEGATION_KEY_LIFETIME = timedelta(hours=1)
# Keys are fetched a little in the past (clock skew) and replaced well before they lapse.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class SignedUrl:
    """A URL that reads one blob until `expires_at`."""

    url: str
    expires_at: datetime


class BlobSasSigner:
    """Signs short-lived, read-only URLs for evidence blobs in every configured region."""

    def __init__(
        self,
        services: RegionalBlobServices,
        container: str = "evidence",
        *,
        delegation_key_lifetime: timedelta = DELEGATION_KEY_LIFETIME,
    ) -> None:
        if delegation_key_lifetime <= MAX_LIFETIME + CLOCK_SKEW:
            raise ValueError("a delegation key must outlive the SAS it signs")
        self._services = services
        self._container = container
        self._key_lifetime = delegation_key_lifetime
        self._keys: dict[str, tuple[UserDelegationKey, datetime]] = {}
        self._key_locks: dict[str, asyncio.Lock] = {}

    async def read_url(
        self,
        region: str,
        blob_name: str,
        *,
        now: datetime,
        lifetime: timedelta,
        filename: str,
    ) -> SignedUrl:
        """A URL reading `blob_name` until `now + lifetime`, downloaded as `filename`.

        Raises `ValueError` for a lifetime over `MAX_LIFETIME` or an unknown region, and
        `StoreUnavailable`/`StoreRejected` when a user delegation key cannot be had.
        """
        if not timedelta(0) < lifetime <= MAX_LIFETIME:
            raise ValueError(f"a SAS may live at most {MAX_LIFETIME}, not {lifetime}")
        if region not in self._services.regions:
            raise ValueError(f"region {region!r} is not configured")
        client = self._services.client(region)
        blob = client.get_blob_client(self._container, blob_name)
        expires_at = now + lifetime
        signing: dict[str, Any] = {}
        account_key = getattr(client.credential, "account_key", None)
        if isinstance(account_key, str) and account_key:
            signing["account_key"] = account_key
        else:
            signing["user_delegation_key"] = await self._delegation_key(region, now, expires_at)
        sas = generate_blob_sas(
            account_name=str(client.account_name),
            container_name=self._container,
            blob_name=blob_name,
            permission=BlobSasPermissions(read=True),
            expiry=expires_at,
            protocol="https" if client.scheme == "https" else "https,http",
            content_disposition=attachment(filename),
            **signing,
        )
        return SignedUrl(f"{blob.url}?{sas}", expires_at)

    async def _delegation_key(
        self, region: str, now: datetime, needed_until: datetime
    ) -> UserDelegationKey:
        """The region's cached user delegation key, fetched anew when it would lapse too soon."""
        lock = self._key_locks.setdefault(region, asyncio.Lock())
        async with lock:  # one fetch per region, however many downloads start at once
            cached = self._keys.get(region)
            if cached is not None and cached[1] - CLOCK_SKEW >= needed_until:
                return cached[0]
            start, expiry = now - CLOCK_SKEW, now + self._key_lifetime
            try:
                key = await self._services.client(region).get_user_delegation_key(start, expiry)
            except ClientAuthenticationError as err:
                raise StoreRejected(region, "", status=err.status_code, code=None) from err
            except HttpResponseError as err:
                raise StoreUnavailable(
                    region, "", "delegation key", status=err.status_code
                ) from err
            except AzureError as err:
                raise StoreUnavailable(region, "", type(err).__name__) from err
            self._keys[region] = (key, expiry)
            logger.info("user delegation key for %s fetched, valid until %s", region, expiry)
            return key


def attachment(filename: str) -> str:
    """`Content-Disposition` that saves as `filename`: RFC 6266 with an ASCII `filename` for old
    clients and `filename*` (RFC 8187, UTF-8) for the rest, which prefer it.

    Control and bidirectional characters never reach the header, whatever `filename` holds.
    """
    visible = "".join(char for char in filename if unicodedata.category(char)[0] != "C")
    fallback = ascii_file_name(visible)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(visible, safe='')}"


_NOT_TOKEN_SAFE = re.compile(r"[^A-Za-z0-9 !#$&'()+,.;=@\[\]^_`{}~-]")


def ascii_file_name(filename: str) -> str:
    """`filename` in printable ASCII for a quoted-string: accents dropped, the rest as `_`."""
    decomposed = unicodedata.normalize("NFKD", filename)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    ascii_name = _NOT_TOKEN_SAFE.sub("_", stripped.encode("ascii", "replace").decode("ascii"))
    return ascii_name.strip(" .") or "file"
