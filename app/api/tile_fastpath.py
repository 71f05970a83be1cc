"""Vector tiles answered before FastAPI: no dependency solving; a warm tile with no database connection either.

A pure ASGI middleware in front of the router. For ``GET /tiles/{layer}/{z}/{x}/{y}.pbf`` it checks the
bearer token (signature and expiry: HMAC once per token string, then the remembered claims until the token's
own expiry), takes the caller's principal from the API's principal cache (``app.state.principals``, the
one ``deps.principal_from_token`` fills), derives the VIEW_MAP scope now (grants' validity windows hold to
the second) and looks the tile up by (layer, data version, z/x/y, scope key) in L1, then L2 (Redis); a
tile in neither is rendered here and stored (one pooled connection for the query, nothing else).

Everything else goes down the ordinary route (``app.api.routes.tiles``), which answers it exactly as before:
no or bad token (401), no permission (403), bad coordinates (404/422), a principal not in the cache (it
loads it from the database and fills the cache), a query string (``?ticket=``), and any failure here (a
database that is down: the route answers 503). So a caller is never served more than the route would
serve it, and a revoked grant or deactivated user stops here when the route stops it: at once in the
process that made the change and, through the bus's ``access`` message, in the others; at the latest
after the principal cache's TTL (5 s) if that message is lost.
"""

from __future__ import annotations

import gzip
import re
import time
from datetime import UTC, datetime

import jwt
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.routes.tiles import CACHE_CONTROL, MVT, VARY
from app.domain.access import Perm
from app.services import security, tiles
from app.services.tile_cache import Tile
from app.services.tiles import LAYERS

PATH = re.compile(r"/tiles/([a-z_]{1,20})/(\d{1,2})/(\d{1,7})/(\d{1,7})\.pbf")
FIXED = ((b"cache-control", CACHE_CONTROL.encode()), (b"vary", VARY.encode()))
MVT_TYPE = MVT.encode()
TOKEN_MEMO = 10_000  # remembered token strings (cleared whole when full)


class TileFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._tokens: dict[str, tuple[int, int, float]] = {}  # token -> (user id, token version, exp)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith("/tiles/") \
                and not scope.get("query_string"):
            try:
                found = await self._cached(scope)
            except Exception:  # database away, anything unexpected: the route decides (503...) as it always did
                found = None
            if found is not None:
                scope["app"].state.tiles.served_early += 1
                await _respond(send, *found)
                return
        await self.app(scope, receive, send)

    async def _cached(self, scope: Scope) -> tuple[Tile, bytes | None, bytes | None] | None:
        m = PATH.fullmatch(scope["path"])
        if m is None:
            return None
        layer = LAYERS.get(m[1])
        z, x, y = int(m[2]), int(m[3]), int(m[4])
        if layer is None or z > 22 or x >= 1 << z or y >= 1 << z:
            return None
        auth = inm = enc = None
        for name, value in scope["headers"]:  # the first of each, as the route reads them
            if name == b"authorization" and auth is None:
                auth = value
            elif name == b"if-none-match" and inm is None:
                inm = value
            elif name == b"accept-encoding" and enc is None:
                enc = value
        if auth is None or auth[:7].lower() != b"bearer ":
            return None
        state = scope["app"].state
        claims = self._claims(state.settings, auth[7:].decode("latin-1"))
        if claims is None:
            return None
        principal = state.principals.get(*claims)
        if principal is None:
            return None
        caller = principal.scope_for(Perm.VIEW_MAP, datetime.now(UTC))
        if caller.empty:
            return None
        cache = state.tiles
        key = cache.key(layer, z, x, y, caller)  # before rendering: a write during the query bumps past it
        tile = await cache.lookup(key)
        if tile is None and not layer.minzoom <= z <= layer.maxzoom:
            tile = await cache.store(key, b"")
        elif tile is None:  # cold: render here too (what the route would do, less its dependency solving)
            rt = getattr(state, "runtime", None)  # the read replica when there is one (a failure: the route)
            async with ((rt.read_engine if rt is not None else None) or state.engine).connect() as conn:
                tile = await cache.store(key, await tiles.render(conn, layer, z, x, y, caller))
        return tile, inm, enc

    def _claims(self, settings, token: str) -> tuple[int, int] | None:
        """(user id, token version) of a valid access token, or None (the route then says why: 401)."""
        hit = self._tokens.get(token)
        if hit is not None and hit[2] > time.time():
            return hit[0], hit[1]
        try:
            user_id, version = security.decode_token(settings, token)
        except security.AuthError:
            return None
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
        if not isinstance(exp, int | float):
            return None
        if len(self._tokens) >= TOKEN_MEMO:
            self._tokens.clear()
        self._tokens[token] = (user_id, version, float(exp))
        return user_id, version


def _not_modified(tile: Tile, if_none_match: bytes | None) -> bool:
    return bool(if_none_match) and tile.etag in (t.strip() for t in if_none_match.decode("latin-1").split(","))


async def _respond(send: Send, tile: Tile, if_none_match: bytes | None, accept_encoding: bytes | None) -> None:
    """The same answer as ``routes.tiles.get_tile`` for a cached tile."""
    headers = [(b"etag", tile.etag.encode()), *FIXED]
    body = b""
    if _not_modified(tile, if_none_match):
        status = 304
    elif not tile.gzipped:
        status = 204
    else:
        status = 200
        if accept_encoding and b"gzip" in accept_encoding:
            body = tile.gzipped
            headers.append((b"content-encoding", b"gzip"))
        else:
            body = gzip.decompress(tile.gzipped)
        headers += [(b"content-type", MVT_TYPE), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
