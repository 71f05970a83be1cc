"""Temporary access on request: ask (any signed-in user), approve or deny (manage_users), expires by itself."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.api.deps import Authorized, ConnDep, CurrentPrincipal, IdPath, forget_user, require
from app.api.outbox import OutboxDep
from app.api.schemas import AccessRequestIn, Created, Decision, GrantPublic
from app.domain.access import Perm
from app.services import admin

router = APIRouter(prefix="/api/v1/access-requests", tags=["access requests"])


@router.post("", operation_id="request_access", status_code=201, response_model=Created)
async def request_access(body: AccessRequestIn, conn: ConnDep, box: OutboxDep, principal: CurrentPrincipal) -> dict:
    grant_id = await admin.request_access(conn, principal.user_id, body.division_code, body.hours, body.reason,
                                          body.role)
    box.audit("access_request", principal, object_type="grant", object_id=str(grant_id), reason=body.reason,
              detail={"division": body.division_code, "hours": body.hours})
    await box.commit()
    return {"id": grant_id}


@router.get("", operation_id="list_access_requests", response_model=list[GrantPublic])
async def list_requests(conn: ConnDep, auth: Authorized = require(Perm.MANAGE_USERS)) -> list[dict]:
    return await admin.list_requests(conn, auth.scope)


@router.post("/{grant_id}/decision", operation_id="decide_access_request", response_model=GrantPublic)
async def decide(grant_id: IdPath, body: Decision, request: Request, conn: ConnDep, box: OutboxDep,
                 auth: Authorized = require(Perm.MANAGE_USERS)) -> dict:
    g = await admin.decide_request(conn, auth.scope, auth.user_id, grant_id, body.approve)
    box.audit("access_approve" if body.approve else "access_deny", auth, object_type="grant",
              object_id=str(grant_id), detail={"user_id": g["user_id"], "division": g["division_code"]})
    box.after(lambda: forget_user(request, g["user_id"]))  # after the commit: no stale principal re-cached
    await box.commit()
    return g
