"""The audit trail for auditors: filtered listing and chain verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from app.api.deps import Authorized, ConnDep, Offset, require
from app.api.outbox import OutboxDep
from app.api.schemas import AuditPage, AuditVerification
from app.domain.access import Perm
from app.domain.errors import Forbidden
from app.services import admin, audit

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", operation_id="list_audit", response_model=AuditPage)
async def list_audit(conn: ConnDep, action: Annotated[str | None, Query(max_length=40)] = None,
                     actor: Annotated[str | None, Query(max_length=64)] = None,
                     object_type: Annotated[str | None, Query(max_length=32)] = None,
                     since: AwareDatetime | None = None, until: AwareDatetime | None = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Offset = 0,
                     auth: Authorized = require(Perm.READ_AUDIT)) -> dict:
    return await admin.list_audit(conn, auth.scope, action=action, actor=actor, object_type=object_type, since=since,
                                  until=until, limit=limit, offset=offset)


@router.get("/verify", operation_id="verify_audit", response_model=AuditVerification)
async def verify(conn: ConnDep, box: OutboxDep, auth: Authorized = require(Perm.READ_AUDIT)) -> dict:
    if not auth.scope.everywhere:  # the chain is the whole platform's: its problems name any event
        raise Forbidden("verifying the whole audit chain needs platform-wide audit rights")
    problems = await audit.verify(conn)
    box.audit("audit_verify", auth, detail={"problems": len(problems)})
    await box.commit()
    return {"intact": not problems, "problems": problems}
