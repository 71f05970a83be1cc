from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.api.deps import Authorized, BBoxDep, ConnDep, Limit, Offset, ReadConnDep, SettingsDep, require
from app.api.schemas import DivisionCollection, DivisionFeature
from app.domain.access import Perm
from app.services import divisions

router = APIRouter(prefix="/api/v1/divisions", tags=["divisions"])
CODE = r"^([0-9]{6}|[0-9]{9}|[0-9]{12})$"


@router.get("", operation_id="list_divisions", response_model=DivisionCollection)
async def list_divisions(conn: ReadConnDep, settings: SettingsDep, bbox: BBoxDep,
                         level: Annotated[int | None, Query(ge=1, le=6)] = None,
                         parent: Annotated[str | None, Query(pattern=CODE)] = None,
                         geometry: bool = True, limit: Limit = 1000,
                         offset: Offset = 0,
                         auth: Authorized = require(Perm.VIEW_MAP)) -> dict:
    return await divisions.list_geojson(conn, auth.scope, bbox=bbox, level=level, parent=parent, geometry=geometry,
                                        limit=min(limit, settings.max_page_size), offset=offset)


@router.get("/{code}", operation_id="get_division", response_model=DivisionFeature)
async def get_division(code: Annotated[str, Path(pattern=CODE)], conn: ConnDep,
                       auth: Authorized = require(Perm.VIEW_MAP)) -> dict:
    return await divisions.get(conn, auth.scope, code)
