from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from app.api.deps import ConnDep, CurrentPrincipal, SettingsDep, forget_user
from app.api.outbox import OutboxDep
from app.api.ratelimit import limit
from app.api.schemas import LoginIn, Me, RefreshIn, Strict, TokenOut
from app.domain.access import ROLES
from app.services import security, tickets

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/login", operation_id="login", response_model=TokenOut, dependencies=[Depends(limit("login"))])
async def login(body: LoginIn, conn: ConnDep, box: OutboxDep, settings: SettingsDep) -> dict:
    try:
        user = await security.login(conn, body.username, body.password)
    except security.AuthError as exc:
        box.audit("login_failed", actor_name=body.username, detail={"reason": exc.reason})
        await box.commit()
        raise
    box.audit("login", actor_id=user.id, actor_name=user.username)
    await box.commit()
    return security.issue_tokens(settings, user.id, user.token_version)


@router.post("/refresh", operation_id="refresh", response_model=TokenOut)
async def refresh(body: RefreshIn, conn: ConnDep, settings: SettingsDep) -> dict:
    user_id, version = security.decode_token(settings, body.refresh_token, typ="refresh")
    await security.load_principal(conn, user_id, version)  # still active and not revoked
    return security.issue_tokens(settings, user_id, version)


@router.post("/logout", operation_id="logout", status_code=204)
async def logout(principal: CurrentPrincipal, request: Request, conn: ConnDep, box: OutboxDep) -> None:
    """Revoke every token of the user (access and refresh)."""
    await security.revoke_all(conn, principal.user_id)
    box.audit("logout", principal)
    box.after(lambda: forget_user(request, principal.user_id))  # after the commit: no stale principal re-cached
    await box.commit()


@router.get("/me", operation_id="me", response_model=Me)
async def me(principal: CurrentPrincipal) -> dict:
    now = datetime.now(UTC)
    return {
        "id": principal.user_id, "username": principal.username,
        "permissions": sorted(principal.permissions(now)),
        "grants": [{"role": g.role, "role_zh": ROLES[g.role][0], "role_en": ROLES[g.role][1],
                    "division": g.division, "valid_until": g.valid_until, "max_secrecy": g.max_secrecy}
                   for g in principal.grants if g.active(now) and g.role in ROLES],
    }


class TicketIn(Strict):
    path: str = Field(max_length=200, examples=["/api/v1/planning/report/index.html"])


class TicketOut(Strict):
    ticket: str
    expires_in: int


@router.post("/ticket", operation_id="auth_ticket", response_model=TicketOut)
async def ticket(body: TicketIn, principal: CurrentPrincipal, conn: ConnDep) -> dict:
    """A one-time ticket (60 s) to open ``path?ticket=…`` in a new browser tab, which cannot send the
    bearer header: the token itself never goes into a URL."""
    value = await tickets.issue(conn, principal.user_id, body.path)
    await conn.commit()
    return {"ticket": value, "expires_in": int(tickets.TTL.total_seconds())}
