"""Temporary access on request: ask (any signed-in user), approve or deny (manage_users), expires by itself."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.api.deps import Authorized, ConnDep, CurrentPrincipal, IdPath, client_ip, forget_user, require
from app.api.schemas import AccessRequestIn, Created, Decision
from app.domain.access import Perm
from app.services import admin, audit

router = APIRouter(prefix="/api/v1/access-requests", tags=["access requests"])


@router.post("", operation_id="request_access", status_code=201, response_model=Created)
async def request_access(body: AccessRequestIn, request: Request, conn: ConnDep, principal: CurrentPrincipal) -> dict:
    grant_id = await admin.request_access(conn, principal.user_id, body.division_code, body.hours, body.reason,
                                          body.role)
    await audit.record(conn, "access_request", actor_id=principal.user_id, actor_name=principal.username,
                       object_type="grant", object_id=str(grant_id), reason=body.reason,
                       client_ip=client_ip(request), detail={"division": body.division_code, "hours": body.hours})
    await conn.commit()
    return {"id": grant_id}


@router.get("", operation_id="list_access_requests")
async def list_requests(conn: ConnDep, auth: Authorized = require(Perm.MANAGE_USERS)) -> list[dict]:
    return await admin.list_requests(conn, auth.scope)


@router.post("/{grant_id}/decision", operation_id="decide_access_request")
async def decide(grant_id: IdPath, body: Decision, request: Request, conn: ConnDep,
                 auth: Authorized = require(Perm.MANAGE_USERS)) -> dict:
    g = await admin.decide_request(conn, auth.scope, auth.user_id, grant_id, body.approve)
    await audit.record(conn, "access_approve" if body.approve else "access_deny", actor_id=auth.user_id,
                       actor_name=auth.principal.username, object_type="grant", object_id=str(grant_id),
                       client_ip=client_ip(request), detail={"user_id": g["user_id"], "division": g["division_code"]})
    await conn.commit()
    await forget_user(request, g["user_id"])  # after the commit: no stale principal re-cached
    return g
