from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request

from app.api.deps import ConnDep, CurrentPrincipal, SettingsDep, client_ip, forget_user
from app.api.ratelimit import limit
from app.api.schemas import LoginIn, RefreshIn, TokenOut
from app.domain.access import ROLES
from app.services import audit, security

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/login", operation_id="login", response_model=TokenOut, dependencies=[Depends(limit("login"))])
async def login(body: LoginIn, request: Request, conn: ConnDep, settings: SettingsDep) -> dict:
    try:
        user = await security.login(conn, body.username, body.password)
    except (security.AuthError, security.Locked) as exc:
        await audit.record(conn, "login_failed", actor_name=body.username, client_ip=client_ip(request),
                           detail={"reason": exc.message})
        await conn.commit()
        raise
    await audit.record(conn, "login", actor_id=user.id, actor_name=user.username, client_ip=client_ip(request))
    await conn.commit()
    return security.issue_tokens(settings, user.id, user.token_version)


@router.post("/refresh", operation_id="refresh", response_model=TokenOut)
async def refresh(body: RefreshIn, conn: ConnDep, settings: SettingsDep) -> dict:
    user_id, version = security.decode_token(settings, body.refresh_token, typ="refresh")
    await security.load_principal(conn, user_id, version)  # still active and not revoked
    return security.issue_tokens(settings, user_id, version)


@router.post("/logout", operation_id="logout", status_code=204)
async def logout(principal: CurrentPrincipal, request: Request, conn: ConnDep) -> None:
    """Revoke every token of the user (access and refresh)."""
    await security.revoke_all(conn, principal.user_id)
    await audit.record(conn, "logout", actor_id=principal.user_id, actor_name=principal.username,
                       client_ip=client_ip(request))
    await conn.commit()
    await forget_user(request, principal.user_id)  # after the commit: no stale principal re-cached


@router.get("/me", operation_id="me")
async def me(principal: CurrentPrincipal) -> dict:
    now = datetime.now(UTC)
    return {
        "id": principal.user_id, "username": principal.username,
        "permissions": sorted(principal.permissions(now)),
        "grants": [{"role": g.role, "role_zh": ROLES[g.role][0], "role_en": ROLES[g.role][1],
                    "division": g.division, "valid_until": g.valid_until, "max_secrecy": g.max_secrecy}
                   for g in principal.grants if g.active(now) and g.role in ROLES],
    }
