"""Typed dependencies: connection, settings, current principal, permission checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncConnection

from app.api.principal_cache import PrincipalCache
from app.config import Settings
from app.domain.access import Perm, Principal, Scope
from app.domain.errors import Forbidden, InvalidInput
from app.realtime.hub import ACCESS_TOPIC
from app.services import security

_bearer = HTTPBearer(auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_conn(request: Request) -> AsyncIterator[AsyncConnection]:
    async with request.app.state.engine.connect() as conn:
        yield conn


SettingsDep = Annotated[Settings, Depends(get_settings)]
ConnDep = Annotated[AsyncConnection, Depends(get_conn)]


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
    access_token: Annotated[str | None, Query(include_in_schema=False)] = None,
) -> Principal:
    # Tiles and image/video elements cannot set headers: they may pass ?access_token=.
    token = creds.credentials if creds else access_token
    principal = await principal_from_token(conn, settings, token, getattr(request.app.state, "principals", None))
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
    return request.client.host if request.client else None


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
