from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request

from app.api.deps import Authorized, BBoxDep, ConnDep, IdPath, Limit, Offset, ReadConnDep, SettingsDep, require
from app.api.outbox import OutboxDep
from app.api.schemas import (
    CameraCollection,
    CameraCreate,
    CameraFeature,
    CameraStatus,
    CameraUpdate,
    Created,
)
from app.domain import division_code
from app.domain.access import Perm
from app.services import cameras, live
from app.services.camera_changes import after_camera_change

router = APIRouter(prefix="/api/v1/cameras", tags=["cameras"])
DivisionQ = Annotated[str | None, Query(pattern=r"^([0-9]{6}|[0-9]{9}|[0-9]{12})$")]


@router.get("", operation_id="list_cameras", response_model=CameraCollection)
async def list_cameras(conn: ReadConnDep, settings: SettingsDep, bbox: BBoxDep, division: DivisionQ = None,
                       status: CameraStatus | None = None, limit: Limit = 1000,
                       offset: Offset = 0, auth: Authorized = require(Perm.VIEW_MAP)) -> dict:
    if division:
        division_code.validate(division)
    return await cameras.list_geojson(conn, auth.scope, bbox=bbox, division=division, status=status,
                                      limit=min(limit, settings.max_page_size), offset=offset)


@router.get("/{camera_id}", operation_id="get_camera", response_model=CameraFeature)
async def get_camera(camera_id: IdPath, conn: ConnDep, auth: Authorized = require(Perm.VIEW_MAP)) -> dict:
    return await cameras.get(conn, auth.scope, camera_id)


@router.post("", operation_id="create_camera", status_code=201, response_model=Created)
async def create_camera(body: CameraCreate, request: Request, conn: ConnDep, box: OutboxDep,
                        background: BackgroundTasks,
                        auth: Authorized = require(Perm.MANAGE_DEVICES)) -> dict:
    cam_id = await cameras.create(conn, auth.scope, cameras.CameraInput(**body.model_dump()))
    box.audit("camera_create", auth, object_type="camera", object_id=str(cam_id))
    box.announce("cameras", await live.camera_message(conn, cam_id), table="cameras")
    await box.commit()
    background.add_task(after_camera_change, request.app.state.engine, cam_id)
    return {"id": cam_id}


@router.patch("/{camera_id}", operation_id="update_camera", status_code=204)
async def update_camera(camera_id: IdPath, body: CameraUpdate, request: Request, conn: ConnDep, box: OutboxDep,
                        background: BackgroundTasks, auth: Authorized = require(Perm.MANAGE_DEVICES)) -> None:
    changes = body.model_dump(exclude_unset=True)
    before = await live.camera_message(conn, camera_id, op="delete")  # its routing before the change
    await cameras.update_camera(conn, auth.scope, camera_id, changes, by=auth.principal.username)
    box.audit("camera_update", auth, object_type="camera", object_id=str(camera_id),
              detail={"fields": sorted(changes)})
    message = await live.camera_message(conn, camera_id)
    if before and message and (before["division"], before["secrecy"]) != (message["division"], message["secrecy"]):
        # Moved or made secret: the feeds that saw it under the old routing may not any more, and the upsert
        # reaches only those that see it now. A delete first (routed as before), then the upsert.
        box.announce("cameras", before, table="cameras")
    box.announce("cameras", message, table="cameras")
    await box.commit()
    background.add_task(after_camera_change, request.app.state.engine, camera_id)


@router.delete("/{camera_id}", operation_id="delete_camera", status_code=204)
async def delete_camera(camera_id: IdPath, request: Request, conn: ConnDep, box: OutboxDep,
                        background: BackgroundTasks,
                        auth: Authorized = require(Perm.MANAGE_DEVICES)) -> None:
    gone = await live.camera_message(conn, camera_id, op="delete")  # routing fields, read before deleting
    await cameras.delete_camera(conn, auth.scope, camera_id)  # checks scope first (404 if not visible)
    box.audit("camera_delete", auth, object_type="camera", object_id=str(camera_id))
    box.announce("cameras", gone, table="cameras")
    await box.commit()
    background.add_task(after_camera_change, request.app.state.engine, camera_id)
