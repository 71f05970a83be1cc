"""User administration and grants (manage_users), audited."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.api.deps import Authorized, ConnDep, IdPath, forget_user, require
from app.api.outbox import OutboxDep
from app.api.schemas import Created, GrantCreate, UserActive, UserCreate, UserPublic
from app.domain.access import Perm
from app.domain.errors import Forbidden
from app.services import admin, users

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.get("", operation_id="list_users", response_model=list[UserPublic])
async def list_users(conn: ConnDep, auth: Authorized = require(Perm.MANAGE_USERS)) -> list[dict]:
    return await admin.list_users(conn, auth.scope)


@router.post("", operation_id="create_user", status_code=201, response_model=Created)
async def create_user(body: UserCreate, conn: ConnDep, box: OutboxDep,
                      auth: Authorized = require(Perm.MANAGE_USERS)) -> dict:
    if not auth.scope.covers(body.division_code):
        raise Forbidden("you may only create users inside your own divisions")
    user_id = await users.create_user(conn, body.username, body.password, body.role, body.division_code,
                                      body.display_name, granted_by=auth.user_id)
    box.audit("user_create", auth, object_type="user", object_id=str(user_id),
              detail={"username": body.username, "role": body.role, "division": body.division_code})
    await box.commit()
    return {"id": user_id}


@router.put("/{user_id}/active", operation_id="set_user_active", status_code=204)
async def set_active(user_id: IdPath, body: UserActive, request: Request, conn: ConnDep, box: OutboxDep,
                     auth: Authorized = require(Perm.MANAGE_USERS)) -> None:
    await admin.set_active(conn, auth.scope, user_id, body.is_active, auth.user_id)
    box.audit("user_activate" if body.is_active else "user_deactivate", auth, object_type="user",
              object_id=str(user_id))
    box.after(lambda: forget_user(request, user_id))  # after the commit: no stale principal re-cached
    await box.commit()


@router.post("/{user_id}/grants", operation_id="add_grant", status_code=201, response_model=Created)
async def add_grant(user_id: IdPath, body: GrantCreate, request: Request, conn: ConnDep, box: OutboxDep,
                    auth: Authorized = require(Perm.MANAGE_USERS)) -> dict:
    grant_id = await admin.add_grant(conn, auth.scope, auth.user_id, user_id, body.role_name, body.division_code,
                                     body.valid_from, body.valid_until, body.max_secrecy, body.reason)
    box.audit("grant_add", auth, object_type="grant", object_id=str(grant_id), reason=body.reason,
              detail={"user_id": user_id, "role": body.role_name, "division": body.division_code,
                      "valid_until": body.valid_until.isoformat() if body.valid_until else None})
    box.after(lambda: forget_user(request, user_id))  # after the commit: no stale principal re-cached
    await box.commit()
    return {"id": grant_id}


@router.delete("/grants/{grant_id}", operation_id="revoke_grant", status_code=204)
async def revoke_grant(grant_id: IdPath, request: Request, conn: ConnDep, box: OutboxDep,
                       auth: Authorized = require(Perm.MANAGE_USERS)) -> None:
    g = await admin.revoke_grant(conn, auth.scope, grant_id)
    box.audit("grant_revoke", auth, object_type="grant", object_id=str(grant_id),
              detail={"user_id": g["user_id"], "division": g["division_code"]})
    box.after(lambda: forget_user(request, g["user_id"]))  # after the commit: no stale principal re-cached
    await box.commit()
