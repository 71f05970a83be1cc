"""Patrol units: the list (map, dispatch console) and their registration by an administrator."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import Authorized, ConnDep, IdPath, require
from app.api.outbox import OutboxDep
from app.api.schemas import Created, UnitCreate, UnitPublic, UnitUpdate
from app.domain.access import Perm
from app.services import dispatch, units

router = APIRouter(prefix="/api/v1/units", tags=["dispatch"])


def _tracker(t) -> units.Tracker | None:
    return None if t is None else units.Tracker(t.protocol, t.external_id)


@router.get("", operation_id="list_units", response_model=list[UnitPublic])
async def list_units(conn: ConnDep, auth: Authorized = require(Perm.VIEW_MAP)) -> list[dict]:
    return await dispatch.list_units(conn, auth.scope)


@router.post("", operation_id="create_unit", status_code=201, response_model=Created)
async def create_unit(body: UnitCreate, conn: ConnDep, box: OutboxDep,
                      auth: Authorized = require(Perm.MANAGE_DEVICES)) -> dict:
    uid = await units.create(conn, auth.scope, callsign=body.callsign, kind=body.kind,
                             division_code=body.division_code, tracker=_tracker(body.tracker), officer=body.officer)
    box.audit("unit_create", auth, object_type="unit", object_id=str(uid),
              detail={"callsign": body.callsign, "officer": body.officer,
                      "tracker": body.tracker.model_dump() if body.tracker else None})
    await box.commit()
    return {"id": uid}


@router.patch("/{unit_id}", operation_id="update_unit", status_code=204)
async def update_unit(unit_id: IdPath, body: UnitUpdate, conn: ConnDep, box: OutboxDep,
                      auth: Authorized = require(Perm.MANAGE_DEVICES)) -> None:
    changes = body.model_dump(exclude_unset=True)
    if "tracker" in changes:
        changes["tracker"] = _tracker(body.tracker)
    await units.update_unit(conn, auth.scope, unit_id, changes)
    box.audit("unit_update", auth, object_type="unit", object_id=str(unit_id),
              detail={"fields": sorted(changes), "status": changes.get("status")})
    await box.commit()


@router.delete("/{unit_id}", operation_id="delete_unit", status_code=204)
async def delete_unit(unit_id: IdPath, conn: ConnDep, box: OutboxDep,
                      auth: Authorized = require(Perm.MANAGE_DEVICES)) -> None:
    await units.delete_unit(conn, auth.scope, unit_id)
    box.audit("unit_delete", auth, object_type="unit", object_id=str(unit_id))
    await box.commit()
