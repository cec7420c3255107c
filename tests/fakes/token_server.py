"""A local HTTPS Entra token endpoint, so azure-identity's aio credentials get real tokens.

Speaks the client-credentials grant at `/{tenant}/oauth2/v2.0/token` (client secret, or a
client assertion: a JWT signed with the app's certificate, or a workload identity's federated
token), and App Service managed identity at `/msi/token`. The TLS certificate is made at test
time with `cryptography`; pass `TlsMaterial.ca_file` to the credential as `connection_verify`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.fakes import serve

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """A self-signed server certificate for 127.0.0.1/localhost, as files."""

    cert_file: Path
    key_file: Path

    @property
    def ca_file(self) -> Path:
        """The file clients trust: the self-signed certificate itself."""
        return self.cert_file

    def server_context(self) -> ssl.SSLContext:
        """An SSL context serving the certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_tls(directory: Path, dns_names: Sequence[str] = ("localhost",)) -> TlsMaterial:
    """Write a fresh key and self-signed certificate for 127.0.0.1 and `dns_names` (blocking)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Exhibit test token endpoint")])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    *(x509.DNSName(name) for name in dns_names),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "token-server.pem"
    key_file = directory / "token-server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return TlsMaterial(cert_file, key_file)


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """An app registration's certificate: a PEM file with key and certificate, as Entra takes."""

    pem_file: Path
    certificate: x509.Certificate


def make_client_certificate(directory: Path, client_id: str) -> ClientCertificate:
    """An RSA key and self-signed certificate for certificate credentials (blocking)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, client_id)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + cert.public_bytes(serialization.Encoding.PEM)
    pem_file = directory / "client-cert.pem"
    pem_file.write_bytes(pem)
    return ClientCertificate(pem_file, cert)


@dataclass
class TokenServer:
    """Issues `token` to the one app it knows, however that app proves itself."""

    tenant_id: str
    client_id: str
    client_secret: str | None = None
    client_certificate: x509.Certificate | None = None
    federated_token: str | None = None
    identity_header: str | None = None
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    lifetime: int = 3600
    origin: str = ""
    grants: Counter[str] = field(default_factory=Counter)
    refused: int = 0

    @property
    def authority(self) -> str:
        """What azure-identity takes as `authority`."""
        return self.origin

    @property
    def token_endpoint(self) -> str:
        """The tenant's v2.0 token endpoint."""
        return f"{self.origin}/{self.tenant_id}/oauth2/v2.0/token"

    def app(self) -> web.Application:
        """The aiohttp app."""
        app = web.Application()
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_get("/msi/token", self._managed_identity)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        how = self._authenticate(request.match_info["tenant"], {k: str(v) for k, v in form.items()})
        if how is None:
            self.refused += 1
            return web.json_response(
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                },
                status=401,
            )
        self.grants[how] += 1
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": self.lifetime,
                "ext_expires_in": self.lifetime,
                "access_token": self.token,
            }
        )

    def _authenticate(self, tenant: str, form: dict[str, str]) -> str | None:
        if (
            tenant != self.tenant_id
            or form.get("grant_type") != "client_credentials"
            or form.get("client_id") != self.client_id
            or form.get("scope") != GRAPH_SCOPE
        ):
            return None
        if self.client_secret is not None and form.get("client_secret") == self.client_secret:
            return "client_secret"
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return None
        assertion = form.get("client_assertion", "")
        if self.federated_token is not None and assertion == self.federated_token:
            return "federated_token"
        if self.client_certificate is not None and self._signed_by_certificate(assertion):
            return "certificate"
        return None

    def _signed_by_certificate(self, assertion: str) -> bool:
        assert self.client_certificate is not None
        try:
            claims = jwt.decode(
                assertion,
                self.client_certificate.public_key(),  # type: ignore[arg-type]
                algorithms=["RS256", "PS256"],
                audience=self.token_endpoint,
                issuer=self.client_id,
            )
        except jwt.PyJWTError:
            return False
        return claims.get("sub") == self.client_id

    async def _managed_identity(self, request: web.Request) -> web.Response:
        if (
            self.identity_header is None
            or request.headers.get("X-IDENTITY-HEADER") != self.identity_header
            or request.query.get("resource") != "https://graph.microsoft.com"
        ):
            self.refused += 1
            return web.json_response({"error": "invalid_request"}, status=400)
        self.grants["managed_identity"] += 1
        return web.json_response(
            {
                "access_token": self.token,
                "expires_on": str(int(time.time()) + self.lifetime),
                "resource": "https://graph.microsoft.com",
                "token_type": "Bearer",
            }
        )


@asynccontextmanager
async def serve_tokens(server: TokenServer, tls: ssl.SSLContext) -> AsyncIterator[TokenServer]:
    """Serve `server` over HTTPS (`TlsMaterial.server_context()`) for the duration of the block."""
    async with serve(server.app(), tls=tls) as origin:
        server.origin = origin
        yield server
