from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import Authorized, BBoxDep, ConnDep, IdPath, Limit, Offset, ReadConnDep, SettingsDep, require
from app.api.outbox import OutboxDep
from app.api.schemas import Created, KeyAreaCollection, KeyAreaCreate, KeyAreaFeature, KeyAreaUpdate
from app.domain.access import Perm
from app.services import key_areas

router = APIRouter(prefix="/api/v1/key-areas", tags=["key areas"])
DivisionQ = Annotated[str | None, Query(pattern=r"^([0-9]{6}|[0-9]{9}|[0-9]{12})$")]


@router.get("", operation_id="list_key_areas", response_model=KeyAreaCollection)
async def list_key_areas(conn: ReadConnDep, settings: SettingsDep, bbox: BBoxDep, division: DivisionQ = None,
                         category: Annotated[str | None, Query(max_length=40)] = None,
                         limit: Limit = 1000, offset: Offset = 0,
                         auth: Authorized = require(Perm.VIEW_MAP)) -> dict:
    return await key_areas.list_geojson(conn, auth.scope, bbox=bbox, division=division, category=category,
                                        limit=min(limit, settings.max_page_size), offset=offset)


@router.get("/{area_id}", operation_id="get_key_area", response_model=KeyAreaFeature)
async def get_key_area(area_id: IdPath, conn: ConnDep, auth: Authorized = require(Perm.VIEW_MAP)) -> dict:
    return await key_areas.get(conn, auth.scope, area_id)


@router.post("", operation_id="create_key_area", status_code=201, response_model=Created)
async def create_key_area(body: KeyAreaCreate, conn: ConnDep, box: OutboxDep,
                          auth: Authorized = require(Perm.MANAGE_DEVICES)) -> dict:
    area_id = await key_areas.create(conn, auth.scope, body.model_dump())
    box.audit("key_area_create", auth, object_type="key_area", object_id=str(area_id))
    await box.commit()
    return {"id": area_id}


@router.patch("/{area_id}", operation_id="update_key_area", status_code=204)
async def update_key_area(area_id: IdPath, body: KeyAreaUpdate, conn: ConnDep, box: OutboxDep,
                          auth: Authorized = require(Perm.MANAGE_DEVICES)) -> None:
    await key_areas.update_area(conn, auth.scope, area_id, body.model_dump(exclude_unset=True))
    box.audit("key_area_update", auth, object_type="key_area", object_id=str(area_id))
    await box.commit()


@router.delete("/{area_id}", operation_id="delete_key_area", status_code=204)
async def delete_key_area(area_id: IdPath, conn: ConnDep, box: OutboxDep,
                          auth: Authorized = require(Perm.MANAGE_DEVICES)) -> None:
    await key_areas.delete_area(conn, auth.scope, area_id)
    box.audit("key_area_delete", auth, object_type="key_area", object_id=str(area_id))
    await box.commit()
