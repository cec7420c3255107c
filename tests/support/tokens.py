"""Bot Framework-style tokens minted with a local key, and the SDK's validator reading that key.

The SDK's `JwtTokenValidator` fetches signing keys from hard-coded Microsoft JWKS URLs. Here the
validator is the SDK's own class, with only its key lookup pointed at a local key set, so every
check it makes (signature, expiry with leeway, audience, issuer, tenant binding) runs for real.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from microsoft_agents.hosting.core import AgentAuthConfiguration
from microsoft_agents.hosting.core.authorization.jwt import JwtTokenValidator

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"


@dataclass
class SigningKey:
    """An RSA key with a key id, as a JWKS would publish it."""

    kid: str = field(default_factory=lambda: uuid.uuid4().hex)
    private: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def jwk(self) -> jwt.PyJWK:
        """The public half as a PyJWK."""
        data = jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return jwt.PyJWK({**data, "kid": self.kid, "alg": "RS256", "use": "sig"})

    def mint(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        """A signed RS256 token carrying `claims`."""
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": kid or self.kid})


def bot_framework_claims(
    audience: str, service_url: str, *, lifetime: int = 3600, **extra: Any
) -> dict[str, Any]:
    """The claims the Bot Framework puts in a token for a Teams activity."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": BOT_FRAMEWORK_ISSUER,
        "aud": audience,
        "serviceurl": service_url,
        "nbf": now - 60,
        "iat": now - 60,
        "exp": now + lifetime,
    }
    claims.update(extra)
    return claims


class _LocalKeys:
    """Stands in for the SDK's JWKS client cache: serves keys from a local set."""

    def __init__(self, keys: list[jwt.PyJWK]) -> None:
        self._keys = {k.key_id: k for k in keys}

    async def get_signing_key(self, jwks_uri: str, header: dict[str, Any]) -> jwt.PyJWK:
        try:
            return self._keys[header["kid"]]
        except KeyError:
            raise jwt.PyJWKClientError(f"no key {header.get('kid')!r} at {jwks_uri}") from None


class LocalKeyValidator(JwtTokenValidator):
    """The SDK's token validator, trusting only the given local keys."""

    def __init__(self, configuration: AgentAuthConfiguration, keys: list[SigningKey]) -> None:
        super().__init__(configuration)
        self._jwk_client_manager = _LocalKeys([k.jwk() for k in keys])  # type: ignore[assignment]
