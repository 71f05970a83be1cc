"""Typed dependencies: connection, settings, current principal, permission checks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.api.principal_cache import PrincipalCache
from app.config import Settings
from app.domain.access import Perm, Principal, Scope
from app.domain.errors import Forbidden, InvalidInput, Unavailable
from app.realtime.hub import ACCESS_TOPIC
from app.realtime.rpc import DeviceCalls
from app.services import security, tickets

_bearer = HTTPBearer(auto_error=False)
log = logging.getLogger(__name__)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_conn(request: Request) -> AsyncIterator[AsyncConnection]:
    try:
        conn = await request.app.state.engine.connect().start()
    except (OSError, TimeoutError, DBAPIError) as exc:
        # Refused, unreachable (the pool's connect timeout), or shutting down: 503 at once, and the next
        # request tries again (the pool reconnects by itself when the database is back).
        raise Unavailable(DB_DOWN) from exc
    try:
        yield conn
    finally:
        await conn.close()


DB_DOWN = "database unavailable; try again shortly"


async def get_read_conn(request: Request, primary: Annotated[AsyncConnection, Depends(get_conn)]
                        ) -> AsyncIterator[AsyncConnection]:
    """For the heavy read-only paths (tiles, lists, planning reads, track history): a connection to the read
    replica (``DATABASE_READ_URL``), else the request's own primary connection (one pool, nothing extra).
    The principal and its scope are still loaded on the primary (``current_principal``): a revoked grant
    must not live on in a replica that lags. A replica that is down is skipped: the primary answers."""
    rt = getattr(request.app.state, "runtime", None)
    reader = rt.read_engine if rt is not None else None
    if reader is None:
        yield primary
        return
    try:
        conn = await reader.connect().start()
    except (OSError, TimeoutError, DBAPIError) as exc:
        log.warning("read replica unavailable (%s); reading from the primary", type(exc).__name__)
        yield primary
        return
    try:
        yield conn
    finally:
        await conn.close()


def get_calls(request: Request) -> DeviceCalls:
    """Calls to GB/T 28181 devices (``app.realtime.rpc``); 503 when the app runs without its runtime."""
    rt = getattr(request.app.state, "runtime", None)
    if rt is None or rt.calls is None:
        raise Unavailable("device calls are not available in this process")
    return rt.calls


SettingsDep = Annotated[Settings, Depends(get_settings)]
ConnDep = Annotated[AsyncConnection, Depends(get_conn)]
ReadConnDep = Annotated[AsyncConnection, Depends(get_read_conn)]
CallsDep = Annotated[DeviceCalls, Depends(get_calls)]


async def principal_from_token(conn: AsyncConnection, settings: Settings, token: str | None,
                               cache: PrincipalCache | None = None) -> Principal:
    if not token:
        raise security.AuthError("authentication required")
    user_id, version = security.decode_token(settings, token)
    if cache is not None and (hit := cache.get(user_id, version)) is not None:
        return hit
    principal = await security.load_principal(conn, user_id, version)
    if cache is not None:
        cache.put(user_id, version, principal)
    return principal


async def current_principal(
    request: Request,
    conn: ConnDep,
    settings: SettingsDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ticket: Annotated[str | None, Query(include_in_schema=False, max_length=100)] = None,
) -> Principal:
    # A bearer token travels in the Authorization header only (never in a URL, which lands in logs and
    # browser history). A page opened in a new tab carries a one-time ticket for its own path instead.
    if creds is None and ticket:
        user_id, version = await tickets.redeem(conn, ticket, request.url.path)
        principal = await security.load_principal(conn, user_id, version)
    else:
        principal = await principal_from_token(conn, settings, creds.credentials if creds else None,
                                               getattr(request.app.state, "principals", None))
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


class Authorized:
    """A principal plus the scope of one permission, resolved once per request."""

    def __init__(self, principal: Principal, perm: Perm, scope: Scope) -> None:
        self.principal = principal
        self.perm = perm
        self.scope = scope

    @property
    def user_id(self) -> int:
        return self.principal.user_id


def require(perm: Perm):
    async def _dep(principal: CurrentPrincipal) -> Authorized:
        scope = principal.scope_for(perm, datetime.now(UTC))
        if scope.empty:
            raise Forbidden(f"permission '{perm}' required")
        return Authorized(principal, perm, scope)

    return Depends(_dep)


def client_ip(request: Request) -> str | None:
    """The socket's peer, or what a configured proxy (``SHARPEYES_TRUSTED_PROXIES``) says it forwarded for."""
    peer = request.client.host if request.client else None
    trusted = request.app.state.settings.trusted_proxy_networks
    if not trusted:
        return peer
    return security.client_address(peer, request.headers.getlist("x-forwarded-for"), trusted)


def parse_bbox(bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat (WGS-84)")] = None):
    if bbox is None:
        return None
    try:
        vals = [float(v) for v in bbox.split(",")]
    except ValueError as exc:
        raise InvalidInput("bbox must be four numbers: minLon,minLat,maxLon,maxLat", field="bbox") from exc
    if len(vals) != 4:
        raise InvalidInput("bbox must be four numbers: minLon,minLat,maxLon,maxLat", field="bbox")
    x1, y1, x2, y2 = vals
    if not (-180 <= x1 <= x2 <= 180 and -90 <= y1 <= y2 <= 90):
        raise InvalidInput("bbox out of range or inverted", field="bbox")
    return (x1, y1, x2, y2)


BBoxDep = Annotated[tuple[float, float, float, float] | None, Depends(parse_bbox)]


# Bounded where the database is bounded: an id beyond int4 or a huge offset is a 422, not a driver error.
IdPath = Annotated[int, Path(ge=1, le=2_147_483_647)]
Limit = Annotated[int, Query(ge=1, le=100_000)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


async def forget_user(request: Request, user_id: int | None = None) -> None:
    """After logout or a grant/user change (committed): drop cached principals so the change applies at
    once, and tell every process (the bus), whose live feeds of that user are re-checked now."""
    cache = getattr(request.app.state, "principals", None)
    if cache is not None:
        cache.invalidate(user_id)
    bus = getattr(request.app.state, "bus", None)
    if bus is not None:
        await bus.publish(ACCESS_TOPIC, {"user_id": user_id})
