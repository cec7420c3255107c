"""A Blob Storage account that issues user delegation keys and checks user delegation SAS.

Speaks the documented REST API, over HTTPS, path-style (`https://localhost:<port>/<account>/…`,
the form the SDK uses for a loopback host), for two operations:

- **Get User Delegation Key**: `POST /<account>/?restype=service&comp=userdelegationkey` with an
  `x-ms-version` header, `Authorization: Bearer <token>` and the `KeyInfo` XML body (`Start`,
  `Expiry`, ISO 8601 UTC). A missing token is answered 401 `NoAuthenticationInformation`, a
  wrong one 403 `AuthenticationFailed`; an expiry in the past, before the start or more than 7
  days after now is 400 `InvalidQueryParameterValue`. Otherwise 200 with the `UserDelegationKey`
  XML: the account's object and tenant ids, the start and expiry asked for, service `b`, the
  request's version, and a 256-bit key generated here (base64).
- **Get Blob with a SAS**: `GET /<account>/<container>/<blob>?<sas>` serves the blob's bytes
  only when the SAS is a user delegation SAS this account would accept, and the policy Exhibit
  promises holds. The signature is recomputed here from the documented user delegation
  string-to-sign ("Create a user delegation SAS"): the fields below, URL-decoded, joined by
  newlines, HMAC-SHA256 with the issued key, base64. The layout is the one of recent versions:
  `signedKeyDelegatedUserTenantId` and `signedDelegatedUserObjectId` follow
  `signedCorrelationId` (added in 2025-07-05), and the canonicalized signed request headers and
  query parameters follow `signedEncryptionScope`. A SAS with an older `sv` is refused.

  Checked besides the signature: `sr=b`; `sp=r` exactly; `spr=https`; `se` in the future and at
  most `max_sas_lifetime` ahead (and within the key's life); `rscd` present, starting with
  `attachment` (it becomes the response's `Content-Disposition`); `skoid`, `sktid`, `skt`,
  `ske`, `sks`, `skv` exactly those of a key issued here, and that key still valid. Every
  refusal is 403 `AuthenticationFailed` and its reason is kept in `refusals`, so a test can say
  which rule refused a SAS.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp import web

from tests.fakes import serve
from tests.fakes.tenant import Tls

ISO = "%Y-%m-%dT%H:%M:%SZ"
FIRST_LAYOUT = "2025-07-05"  # the oldest `sv` whose string-to-sign this fake implements
MAX_KEY_LIFETIME = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A user delegation key as issued: the fields a SAS names, and the secret."""

    oid: str
    tid: str
    start: str
    expiry: str
    service: str
    version: str
    secret: bytes

    @property
    def fields(self) -> tuple[str, str, str, str, str, str]:
        """(skoid, sktid, skt, ske, sks, skv) a SAS signed with this key carries."""
        return (self.oid, self.tid, self.start, self.expiry, self.service, self.version)


@dataclass
class DelegationAccount:
    """One storage account: its identity's token, its blobs, the keys issued, the refusals."""

    name: str
    token: str
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    tenant_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    blobs: dict[str, bytes] = field(default_factory=dict)  # "<container>/<blob>"
    max_sas_lifetime: timedelta = timedelta(minutes=5)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    issued: list[IssuedKey] = field(default_factory=list)
    key_requests: list[dict[str, str]] = field(default_factory=list)  # KeyInfo bodies asked
    refusals: list[str] = field(default_factory=list)
    served: list[str] = field(default_factory=list)  # "<container>/<blob>" served

    def app(self) -> web.Application:
        """The account's Blob endpoint."""
        app = web.Application()
        app.router.add_post(f"/{self.name}/", self._user_delegation_key)
        app.router.add_get(f"/{self.name}/{{container}}/{{blob:.+}}", self._get_blob)
        return app

    # -- Get User Delegation Key ---------------------------------------------------------------

    async def _user_delegation_key(self, request: web.Request) -> web.Response:
        query = request.query
        if (query.get("restype"), query.get("comp")) != ("service", "userdelegationkey"):
            return _error(400, "InvalidQueryParameterValue", "Only userdelegationkey is served.")
        version = request.headers.get("x-ms-version", "")
        if not version:
            return _error(400, "MissingRequiredHeader", "x-ms-version is required.")
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("Bearer "):
            return _error(401, "NoAuthenticationInformation", "A bearer token is required.")
        if not hmac.compare_digest(authorization, f"Bearer {self.token}"):
            return _error(403, "AuthenticationFailed", "The bearer token is not valid.")
        try:
            root = ET.fromstring(await request.read())  # noqa: S314 - only the tests' own SDK calls
            start_text, expiry_text = root.findtext("Start"), root.findtext("Expiry")
            if root.tag != "KeyInfo" or start_text is None or expiry_text is None:
                raise ValueError("not a KeyInfo")
            start, expiry = _parse_time(start_text), _parse_time(expiry_text)
        except (ET.ParseError, ValueError):
            return _error(400, "InvalidXmlDocument", "The body is not a KeyInfo document.")
        self.key_requests.append({"Start": start_text, "Expiry": expiry_text})
        now = self.now()
        if expiry <= now or expiry <= start or expiry > now + MAX_KEY_LIFETIME:
            return _error(400, "InvalidQueryParameterValue", "Start or Expiry is out of range.")
        key = IssuedKey(
            oid=self.object_id,
            tid=self.tenant_id,
            start=f"{start:{ISO}}",
            expiry=f"{expiry:{ISO}}",
            service="b",
            version=version,
            secret=os.urandom(32),
        )
        self.issued.append(key)
        document = ET.Element("UserDelegationKey")
        for tag, text in (
            ("SignedOid", key.oid),
            ("SignedTid", key.tid),
            ("SignedStart", key.start),
            ("SignedExpiry", key.expiry),
            ("SignedService", key.service),
            ("SignedVersion", key.version),
            ("Value", base64.b64encode(key.secret).decode("ascii")),
        ):
            ET.SubElement(document, tag).text = text
        body = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(document)
        return web.Response(body=body, content_type="application/xml")

    # -- Get Blob with a user delegation SAS ---------------------------------------------------

    async def _get_blob(self, request: web.Request) -> web.Response:
        container, blob = request.match_info["container"], request.match_info["blob"]
        reason = self._refusal(request.query, container, blob, https=request.secure)
        if reason is not None:
            self.refusals.append(reason)
            return _error(403, "AuthenticationFailed", "Signature did not match or not allowed.")
        data = self.blobs.get(f"{container}/{blob}")
        if data is None:
            return _error(404, "BlobNotFound", "The specified blob does not exist.")
        self.served.append(f"{container}/{blob}")
        return web.Response(
            body=data,
            content_type="application/octet-stream",
            headers={"Content-Disposition": request.query["rscd"]},
        )

    def _refusal(
        self, query: Mapping[str, str], container: str, blob: str, *, https: bool
    ) -> str | None:
        """Why this SAS is refused, or None when it grants reading the blob."""
        sas = dict(query)
        missing = [name for name in ("sv", "sr", "sp", "se", "sig", "skoid") if name not in sas]
        if missing:
            return f"missing {','.join(missing)}"
        if sas["sv"] < FIRST_LAYOUT:
            return "version"
        if sas["sr"] != "b":
            return "resource"
        if sas["sp"] != "r":
            return "permission"
        if sas.get("spr") != "https" or not https:
            return "protocol"
        now = self.now()
        try:
            expiry = _parse_time(sas["se"])
            start = _parse_time(sas["st"]) if sas.get("st") else None
        except ValueError:
            return "time format"
        if expiry <= now or expiry - now > self.max_sas_lifetime:
            return "expiry"
        if start is not None and start > now:
            return "not yet valid"
        if not sas.get("rscd", "").startswith("attachment"):
            return "content disposition"
        named = tuple(sas.get(name, "") for name in ("skoid", "sktid", "skt", "ske", "sks", "skv"))
        key = next((k for k in self.issued if k.fields == named), None)
        if key is None:
            return "key not issued"
        if not _parse_time(key.start) <= now < _parse_time(key.expiry) or expiry > _parse_time(
            key.expiry
        ):
            return "key expired"
        try:
            signature = base64.b64decode(sas["sig"], validate=True)
        except (binascii.Error, ValueError):
            return "signature"
        expected = hmac.new(
            key.secret,
            string_to_sign(sas, f"/blob/{self.name}/{container}/{blob}").encode("utf-8"),
            hashlib.sha256,
        ).digest()
        if not hmac.compare_digest(signature, expected):
            return "signature"
        return None


def string_to_sign(sas: dict[str, str], canonicalized_resource: str) -> str:
    """The documented user delegation string-to-sign for a blob, from the SAS's own fields.

    Absent optional fields are empty lines. The signed request headers and query parameters
    (`srh`, `srq`) are canonicalized lists; Exhibit sends neither, so they are empty here.
    """
    lines = [
        sas.get("sp", ""),  # signedPermissions
        sas.get("st", ""),  # signedStart
        sas.get("se", ""),  # signedExpiry
        canonicalized_resource,
        sas.get("skoid", ""),  # signedKeyObjectId
        sas.get("sktid", ""),  # signedKeyTenantId
        sas.get("skt", ""),  # signedKeyStart
        sas.get("ske", ""),  # signedKeyExpiry
        sas.get("sks", ""),  # signedKeyService
        sas.get("skv", ""),  # signedKeyVersion
        sas.get("saoid", ""),  # signedAuthorizedUserObjectId
        sas.get("suoid", ""),  # signedUnauthorizedUserObjectId
        sas.get("scid", ""),  # signedCorrelationId
        sas.get("skdutid", ""),  # signedKeyDelegatedUserTenantId
        sas.get("sduoid", ""),  # signedDelegatedUserObjectId
        sas.get("sip", ""),  # signedIP
        sas.get("spr", ""),  # signedProtocol
        sas.get("sv", ""),  # signedVersion
        sas.get("sr", ""),  # signedResource
        "",  # signedSnapshotTime: a blob, not a snapshot or version
        sas.get("ses", ""),  # signedEncryptionScope
        "",  # canonicalized signed request headers (srh): none
        "",  # canonicalized signed request query parameters (srq): none
        sas.get("rscc", ""),
        sas.get("rscd", ""),
        sas.get("rsce", ""),
        sas.get("rscl", ""),
        sas.get("rsct", ""),
    ]
    return "\n".join(lines)


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, ISO).replace(tzinfo=UTC)


def _error(status: int, code: str, message: str) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return web.Response(
        status=status,
        text=body,
        content_type="application/xml",
        headers={"x-ms-error-code": code},
    )


@asynccontextmanager
async def serve_delegation_account(account: DelegationAccount, tls: Tls) -> AsyncIterator[str]:
    """Serve `account` over HTTPS; yields its account URL, `https://localhost:<port>/<name>`."""
    async with serve(account.app(), tls=tls.context) as origin:
        port = origin.rsplit(":", 1)[1]
        yield f"https://localhost:{port}/{account.name}"
