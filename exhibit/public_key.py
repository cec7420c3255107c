"""The checkpoint public keys, published: anyone can check a checkpoint's signature without us.

`GET /custody/public-key.pem` is the key that signs now; `GET /custody/public-keys/<key_id>.pem`
is any published key by the id every checkpoint carries (the current one, or an earlier one
after a rotation). No authentication: these are public keys, meant for courts and experts.
"""

from __future__ import annotations

from aiohttp import web

from signing.published import PublishedKeys

PEM_TYPE = "application/x-pem-file"
PUBLISHED_KEYS = web.AppKey("published_keys", PublishedKeys)
# The current key changes only at a rotation; a key under its own id never changes.
CURRENT_CACHE = "public, max-age=3600"
BY_ID_CACHE = "public, max-age=31536000, immutable"


async def current_public_key(request: web.Request) -> web.Response:
    """The PEM of the key that signs checkpoints now."""
    keys = request.app[PUBLISHED_KEYS]
    return _pem(keys.current_pem(), keys.current_id, CURRENT_CACHE)


async def public_key_by_id(request: web.Request) -> web.Response:
    """The PEM of a published key, by its key id; 404 for any other id."""
    key_id = request.match_info["key_id"]
    pem = request.app[PUBLISHED_KEYS].pem(key_id)
    if pem is None:
        raise web.HTTPNotFound(text="No published checkpoint key has that id.\n")
    return _pem(pem, key_id, BY_ID_CACHE)


def _pem(pem: bytes, key_id: str, cache: str) -> web.Response:
    response = web.Response(body=pem, content_type=PEM_TYPE)
    response.headers["Cache-Control"] = cache
    response.headers["ETag"] = f'"{key_id}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def add_public_key_routes(app: web.Application, keys: PublishedKeys) -> None:
    """Register the public key routes on `app`."""
    app[PUBLISHED_KEYS] = keys
    app.router.add_get("/custody/public-key.pem", current_public_key)
    app.router.add_get("/custody/public-keys/{key_id:[0-9a-f]{64}}.pem", public_key_by_id)
