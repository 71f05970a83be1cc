"""Recommendations by road, assignment and the dispatch lifecycle; the officer's own view."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.api.deps import Authorized, ConnDep, CurrentPrincipal, IdPath, client_ip, require
from app.api.events import announce
from app.api.schemas import AssignIn, StatusChange
from app.domain.access import Perm, Scope
from app.domain.errors import Forbidden
from app.services import audit, dispatch, incidents

router = APIRouter(tags=["dispatch"])


@router.get("/api/v1/incidents/{incident_id}/recommend", operation_id="recommend_units")
async def recommend(incident_id: IdPath, conn: ConnDep,
                    kind: Annotated[str | None, Query(max_length=16)] = None,
                    count: Annotated[int, Query(ge=1, le=20)] = 5,
                    auth: Authorized = require(Perm.DISPATCH)) -> dict:
    return await dispatch.recommend(conn, auth.scope, incident_id, kind, count)


@router.post("/api/v1/incidents/{incident_id}/dispatch", operation_id="assign_units", status_code=201)
async def assign(incident_id: IdPath, body: AssignIn, request: Request, conn: ConnDep,
                 auth: Authorized = require(Perm.DISPATCH)) -> dict:
    made = await dispatch.assign(conn, auth.scope, incident_id, body.unit_ids, auth.user_id)
    await audit.record(conn, "dispatch", actor_id=auth.user_id, actor_name=auth.principal.username,
                       object_type="incident", object_id=str(incident_id), client_ip=client_ip(request),
                       detail={"units": body.unit_ids, "etas": [m["eta_s"] for m in made]})
    await conn.commit()
    ingest = getattr(request.app.state, "ingest", None)
    if ingest is not None:  # follow the new dispatch from the unit's very next fix
        ingest.dispatch.invalidate()
    feat = await incidents.get(conn, auth.scope, incident_id)
    where = incidents.live_message(feat, "updated")
    await announce(request, "dispatch", {"op": "assigned", "incident_id": incident_id, "division": where["division"],
                                         "lon": where["lon"], "lat": where["lat"],
                                         "dispatches": [{k: v for k, v in m.items() if k != "route"} | {
                                             "route": m["route"]} for m in made]})
    await announce(request, "incidents", incidents.live_message(feat, "updated"))
    return {"dispatches": made, "incident": feat}


async def _change(request: Request, conn, scope, dispatch_id: int, status: str, user_id: int, username: str,
                  officer_only: bool) -> dict:
    result = await dispatch.set_status(conn, scope, dispatch_id, status, user_id, officer_only)
    await audit.record(conn, "dispatch_status", actor_id=user_id, actor_name=username, object_type="dispatch",
                       object_id=str(dispatch_id), client_ip=client_ip(request), detail={"status": status})
    await conn.commit()
    await announce(request, "dispatch", {"op": "status", **result})
    return result


@router.post("/api/v1/dispatches/{dispatch_id}/status", operation_id="set_dispatch_status")
async def set_status(dispatch_id: IdPath, body: StatusChange, request: Request, conn: ConnDep,
                     auth: Authorized = require(Perm.DISPATCH)) -> dict:
    return await _change(request, conn, auth.scope, dispatch_id, body.status, auth.user_id,
                         auth.principal.username, officer_only=False)


@router.get("/api/v1/me/assignment", operation_id="my_assignment")
async def my_assignment(conn: ConnDep, principal: CurrentPrincipal) -> dict:
    return await dispatch.my_assignment(conn, principal.user_id)


@router.post("/api/v1/me/dispatches/{dispatch_id}/status", operation_id="my_dispatch_status")
async def my_status(dispatch_id: IdPath, body: StatusChange, request: Request, conn: ConnDep,
                    principal: CurrentPrincipal) -> dict:
    """The field officer reports on his own assignment (accepted = en route, on scene, cleared)."""
    now = datetime.now(UTC)
    if not (principal.can(Perm.REPORT_POSITION, now) or principal.can(Perm.DISPATCH, now)):
        raise Forbidden("field officers only")
    status = "en_route" if body.status == "accepted" else body.status
    return await _change(request, conn, Scope((), 0, None), dispatch_id, status, principal.user_id,
                         principal.username, officer_only=True)
