"""A fake Azure Key Vault (keys only) speaking the documented REST, over HTTPS.

Holds real EC P-256 keys, one private key per version, and answers what the real
azure-keyvault-keys SDK sends for `get_key` and `sign`:

- `GET /keys/{name}[/{version}]?api-version=...` → `{"key": <JWK>, "attributes": {...}}` (no
  version, or an empty one: the latest version);
- `POST /keys/{name}/{version}/sign?api-version=...` with `{"alg": "ES256", "value":
  <base64url digest>}` → `{"kid": ..., "value": <base64url R‖S>}`.

Authentication is Key Vault's challenge: a request without `Authorization: Bearer <token>` is
answered 401 with `WWW-Authenticate: Bearer authorization="<authority>/<tenant>",
resource="<resource>"` (the SDK first sends its request without a body to elicit this); a
wrong token is answered the same way. Errors use Key Vault's body, `{"error": {"code",
"message"}}`: `BadParameter` for a wrong algorithm or a digest of the wrong length,
`KeyNotFound`, `Forbidden` when the caller lacks the sign permission (`allow_sign = False`).
`sign_with` makes it sign with another key than the one it publishes (a vault gone wrong);
`jwk_changes` alters the JWK it returns (another key type, curve or operations).
"""

from __future__ import annotations

import base64
import binascii
import json
import socket
import ssl
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, TCPConnector, web
from aiohttp.abc import AbstractResolver, ResolveResult
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import AioHttpTransport
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from tests.fakes import serve
from tests.fakes.tenant import Tls

API_VERSION_FIELD = "api-version"
DOMAIN = "vault.test"  # stands for vault.azure.net: vaults are <name>.vault.test
AUTHORITY = "https://login.test"


def b64url(data: bytes) -> str:
    """Base64url without padding, as Key Vault's JSON carries bytes."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    """The bytes of a base64url value (padding optional); `ValueError` if it is not one."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, TypeError) as error:
        raise ValueError("not base64url") from error


@dataclass
class FakeKeyVault:
    """One vault's keys and what it was asked."""

    token: str
    tenant_id: str
    resource: str = ""  # set by `serve_key_vault`: https://vault.test:<port>
    keys: dict[str, dict[str, ec.EllipticCurvePrivateKey]] = field(default_factory=dict)
    allow_sign: bool = True
    sign_with: ec.EllipticCurvePrivateKey | None = None
    jwk_changes: dict[str, Any] = field(default_factory=dict)  # e.g. another curve or key_ops
    requests: Counter[str] = field(default_factory=Counter)
    challenged: int = 0
    signed_digests: list[bytes] = field(default_factory=list)

    def create_key(self, name: str) -> str:
        """A new P-256 version of key `name` (the latest from now on); its version id."""
        version = uuid.uuid4().hex
        self.keys.setdefault(name, {})[version] = ec.generate_private_key(ec.SECP256R1())
        return version

    def public_key(self, name: str, version: str) -> ec.EllipticCurvePublicKey:
        """The public half of one version."""
        return self.keys[name][version].public_key()

    def app(self) -> web.Application:
        """The vault's HTTP API."""
        app = web.Application(middlewares=[self._authenticate])
        app.router.add_get("/keys/{name}", self._get_key)
        app.router.add_get("/keys/{name}/", self._get_key)
        app.router.add_get("/keys/{name}/{version}", self._get_key)
        app.router.add_post("/keys/{name}/{version}/sign", self._sign)
        return app

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        route = request.match_info.route.resource
        self.requests[f"{request.method} {route.canonical if route else request.path}"] += 1
        if API_VERSION_FIELD not in request.query:
            return _error(400, "BadParameter", "api-version is required")
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            self.challenged += 1
            challenge = (
                f'Bearer authorization="{AUTHORITY}/{self.tenant_id}", resource="{self.resource}"'
            )
            response = _error(401, "Unauthorized", "AKV10000: Request is missing a Bearer token.")
            response.headers["WWW-Authenticate"] = challenge
            return response
        result: web.StreamResponse = await handler(request)
        return result

    def _find(self, request: web.Request) -> tuple[str, str, ec.EllipticCurvePrivateKey] | None:
        name = request.match_info["name"]
        versions = self.keys.get(name)
        if not versions:
            return None
        version = request.match_info.get("version") or next(reversed(versions))
        key = versions.get(version)
        return None if key is None else (name, version, key)

    def _kid(self, request: web.Request, name: str, version: str) -> str:
        return f"https://{request.host}/keys/{name}/{version}"

    async def _get_key(self, request: web.Request) -> web.Response:
        found = self._find(request)
        if found is None:
            return _error(404, "KeyNotFound", "A key with (name/id) was not found in this vault.")
        name, version, key = found
        numbers = key.public_key().public_numbers()
        jwk = {
            "kid": self._kid(request, name, version),
            "kty": "EC",
            "crv": "P-256",
            "key_ops": ["sign", "verify"],
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        } | self.jwk_changes
        attributes = {
            "enabled": True,
            "created": 1764583200,
            "updated": 1764583200,
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": 90,
            "exportable": False,
        }
        return web.json_response({"key": jwk, "attributes": attributes})

    async def _sign(self, request: web.Request) -> web.Response:
        found = self._find(request)
        if found is None:
            return _error(404, "KeyNotFound", "A key with (name/id) was not found in this vault.")
        if not self.allow_sign:
            return _error(403, "Forbidden", "Caller is not authorized to perform the action.")
        name, version, key = found
        try:
            body = json.loads(await request.read())
            alg, value = body["alg"], from_b64url(body["value"])
        except (ValueError, KeyError, TypeError):
            return _error(400, "BadParameter", "The request body is not a sign request.")
        if alg != "ES256":
            return _error(400, "BadParameter", f"Algorithm {alg} is not valid for an EC P-256 key.")
        if len(value) != 32:
            return _error(400, "BadParameter", "Invalid length of the digest for ES256.")
        self.signed_digests.append(value)
        der = (self.sign_with or key).sign(value, ec.ECDSA(Prehashed(hashes.SHA256())))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return web.json_response({"kid": self._kid(request, name, version), "value": b64url(raw)})


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class VaultResolver(AbstractResolver):
    """Resolves `<name>.vault.test` to the fake's loopback address, and nothing else."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """127.0.0.1 for the test vault domain; an `OSError` for every other name."""
        if not host.endswith(f".{DOMAIN}"):
            raise OSError(f"{host} is not a test vault")
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        """Nothing to release."""


@asynccontextmanager
async def vault_transport(tls: Tls) -> AsyncIterator[AioHttpTransport]:
    """The SDK's own aiohttp transport, on a session that trusts `tls` and finds test vaults."""
    context = ssl.create_default_context(cafile=str(tls.material.ca_file))
    session = ClientSession(connector=TCPConnector(resolver=VaultResolver(), ssl=context))
    try:
        yield AioHttpTransport(session=session, session_owner=False)
    finally:
        await session.close()


class FixedTokenCredential:
    """The service's Entra identity, at the remote boundary: a fixed token; records the scopes."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """The fixed token, valid for an hour."""
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        """Nothing to release."""

    async def __aenter__(self) -> FixedTokenCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None


@dataclass(frozen=True, slots=True)
class ServedVault:
    """A running fake vault: its state and its `https://<name>.vault.test:<port>` URL."""

    vault: FakeKeyVault
    url: str


@asynccontextmanager
async def serve_key_vault(vault: FakeKeyVault, tls: Tls, name: str) -> AsyncIterator[ServedVault]:
    """Serve `vault` over HTTPS as `https://<name>.vault.test:<port>`."""
    async with serve(vault.app(), tls=tls.context) as origin:
        port = origin.rsplit(":", 1)[1]
        vault.resource = f"https://{DOMAIN}:{port}"
        yield ServedVault(vault, f"https://{name}.{DOMAIN}:{port}")
