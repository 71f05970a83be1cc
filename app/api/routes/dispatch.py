"""Recommendations by road, assignment and the dispatch lifecycle; the officer's own view."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.api.deps import Authorized, ConnDep, CurrentPrincipal, IdPath, require
from app.api.outbox import Outbox, OutboxDep
from app.api.schemas import AssignIn, AssignResult, DispatchStatus, MyAssignment, Recommendation, StatusChange
from app.domain.access import Perm, Principal, Scope
from app.domain.errors import Forbidden
from app.services import dispatch, incidents

router = APIRouter(prefix="/api/v1", tags=["dispatch"])


@router.get("/incidents/{incident_id}/recommend", operation_id="recommend_units", response_model=Recommendation)
async def recommend(incident_id: IdPath, conn: ConnDep,
                    kind: Annotated[str | None, Query(max_length=16)] = None,
                    count: Annotated[int, Query(ge=1, le=20)] = 5,
                    auth: Authorized = require(Perm.DISPATCH)) -> dict:
    return await dispatch.recommend(conn, auth.scope, incident_id, kind, count)


@router.post("/incidents/{incident_id}/dispatch", operation_id="assign_units", status_code=201,
             response_model=AssignResult)
async def assign(incident_id: IdPath, body: AssignIn, request: Request, conn: ConnDep, box: OutboxDep,
                 auth: Authorized = require(Perm.DISPATCH)) -> dict:
    made = await dispatch.assign(conn, auth.scope, incident_id, body.unit_ids, auth.user_id)
    box.audit("dispatch", auth, object_type="incident", object_id=str(incident_id),
              detail={"units": body.unit_ids, "etas": [m["eta_s"] for m in made]})
    feat = await incidents.get(conn, auth.scope, incident_id)  # read in the transaction: it sees the assignment
    where = incidents.live_message(feat, "updated")
    ingest = getattr(request.app.state, "ingest", None)
    if ingest is not None:  # follow the new dispatch from the unit's very next fix
        box.after(ingest.dispatch.invalidate)
    box.announce("dispatch", {"op": "assigned", "incident_id": incident_id, "division": where["division"],
                              "lon": where["lon"], "lat": where["lat"],
                              "dispatches": [{k: v for k, v in m.items() if k != "route"} | {
                                  "route": m["route"]} for m in made]})
    box.announce("incidents", where)
    await box.commit()
    return {"dispatches": made, "incident": feat}


async def _change(box: Outbox, scope, dispatch_id: int, status: str, actor: Authorized | Principal,
                  officer_only: bool) -> dict:
    result = await dispatch.set_status(box.conn, scope, dispatch_id, status, actor.user_id, officer_only)
    box.audit("dispatch_status", actor, object_type="dispatch", object_id=str(dispatch_id),
              detail={"status": status})
    box.announce("dispatch", {"op": "status", **result})
    await box.commit()
    return result


@router.post("/dispatches/{dispatch_id}/status", operation_id="set_dispatch_status", response_model=DispatchStatus)
async def set_status(dispatch_id: IdPath, body: StatusChange, box: OutboxDep,
                     auth: Authorized = require(Perm.DISPATCH)) -> dict:
    return await _change(box, auth.scope, dispatch_id, body.status, auth, officer_only=False)


@router.get("/me/assignment", operation_id="my_assignment", response_model=MyAssignment)
async def my_assignment(conn: ConnDep, principal: CurrentPrincipal) -> dict:
    return await dispatch.my_assignment(conn, principal.user_id)


@router.post("/me/dispatches/{dispatch_id}/status", operation_id="my_dispatch_status", response_model=DispatchStatus)
async def my_status(dispatch_id: IdPath, body: StatusChange, box: OutboxDep,
                    principal: CurrentPrincipal) -> dict:
    """The field officer reports on his own assignment (accepted = en route, on scene, cleared)."""
    now = datetime.now(UTC)
    if not (principal.can(Perm.REPORT_POSITION, now) or principal.can(Perm.DISPATCH, now)):
        raise Forbidden("field officers only")
    status = "en_route" if body.status == "accepted" else body.status
    return await _change(box, Scope((), None), dispatch_id, status, principal, officer_only=True)
