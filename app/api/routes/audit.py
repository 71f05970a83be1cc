"""The audit trail for auditors: filtered listing and chain verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime

from app.api.deps import Authorized, ConnDep, Offset, client_ip, require
from app.domain.access import Perm
from app.services import admin, audit

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", operation_id="list_audit")
async def list_audit(conn: ConnDep, action: Annotated[str | None, Query(max_length=40)] = None,
                     actor: Annotated[str | None, Query(max_length=64)] = None,
                     object_type: Annotated[str | None, Query(max_length=32)] = None,
                     since: AwareDatetime | None = None, until: AwareDatetime | None = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Offset = 0,
                     auth: Authorized = require(Perm.READ_AUDIT)) -> dict:
    return await admin.list_audit(conn, action=action, actor=actor, object_type=object_type, since=since,
                                  until=until, limit=limit, offset=offset)


@router.get("/verify", operation_id="verify_audit")
async def verify(request: Request, conn: ConnDep, auth: Authorized = require(Perm.READ_AUDIT)) -> dict:
    problems = await audit.verify(conn)
    await audit.record(conn, "audit_verify", actor_id=auth.user_id, actor_name=auth.principal.username,
                       client_ip=client_ip(request), detail={"problems": len(problems)})
    await conn.commit()
    return {"intact": not problems, "problems": problems}
