"""Key public areas (重点区域): list as GeoJSON, create/update/delete with polygon validation."""

from __future__ import annotations

import orjson
from geoalchemy2.shape import from_shape
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import KeyArea
from app.db.scoping import division_filter
from app.domain import division_code, geojson, osm_tags
from app.domain.access import Scope
from app.domain.errors import InvalidInput, NotFound
from app.services import siting

COLUMNS = (KeyArea.id, KeyArea.name, KeyArea.name_en, KeyArea.category, KeyArea.division_code,
           KeyArea.required_retention_days, KeyArea.source)


def _feature(r) -> dict:
    props = {k: v for k, v in r.items() if k != "geometry"}
    return {"type": "Feature", "id": r["id"], "geometry": orjson.loads(r["geometry"]), "properties": props}


async def list_geojson(conn: AsyncConnection, scope: Scope, *, bbox=None, division: str | None = None,
                       category: str | None = None, limit: int = 1000, offset: int = 0) -> dict:
    conds = [division_filter(KeyArea.division_code, scope)]
    if bbox:
        conds.append(KeyArea.area.intersects(func.ST_MakeEnvelope(*bbox, 4326)))
    if division:
        conds.append(KeyArea.division_code.like(division_code.subtree_prefix(division) + "%"))
    if category:
        conds.append(KeyArea.category == category)
    total = (await conn.execute(select(func.count()).select_from(KeyArea).where(*conds))).scalar_one()
    rows = (await conn.execute(
        select(*COLUMNS, func.ST_AsGeoJSON(KeyArea.area, 7).label("geometry"))
        .where(*conds).order_by(KeyArea.id).limit(limit).offset(offset))).mappings().all()
    return {"type": "FeatureCollection", "total": total, "limit": limit, "offset": offset,
            "features": [_feature(r) for r in rows]}


async def get(conn: AsyncConnection, scope: Scope, area_id: int) -> dict:
    row = (await conn.execute(select(*COLUMNS, func.ST_AsGeoJSON(KeyArea.area, 7).label("geometry"))
                              .where(KeyArea.id == area_id))).mappings().first()
    if row is None or not scope.covers(row["division_code"]):
        raise NotFound(f"key area {area_id} not found")
    return _feature(row)


def _check_category(category: str) -> None:
    if category not in osm_tags.KEY_AREA_CATEGORIES:
        raise InvalidInput(f"unknown category; one of: {', '.join(osm_tags.KEY_AREA_CATEGORIES)}",
                           field="category")


async def create(conn: AsyncConnection, scope: Scope, data: dict) -> int:
    _check_category(data["category"])
    shp = geojson.key_area(data["geometry"])
    geom = from_shape(shp, srid=4326)
    div = await siting.division_for(conn, scope, shp, data.get("division_code"), "key area")
    return (await conn.execute(insert(KeyArea).values(
        name=data["name"], name_en=data.get("name_en"), category=data["category"], division_code=div, area=geom,
        required_retention_days=data.get("required_retention_days") or osm_tags.KEY_AREA_RETENTION_DAYS,
        source="manual").returning(KeyArea.id))).scalar_one()


async def update_area(conn: AsyncConnection, scope: Scope, area_id: int, changes: dict) -> None:
    await get(conn, scope, area_id)
    values = {k: v for k, v in changes.items() if k in ("name", "name_en", "category", "required_retention_days")}
    if "category" in values:
        _check_category(values["category"])
    if changes.get("geometry") is not None:
        shp = geojson.key_area(changes["geometry"])
        values["area"] = from_shape(shp, srid=4326)
        values["division_code"] = await siting.division_for(conn, scope, shp, changes.get("division_code"),
                                                            "key area")
    if values:
        await conn.execute(update(KeyArea).where(KeyArea.id == area_id).values(**values))


async def delete_area(conn: AsyncConnection, scope: Scope, area_id: int) -> None:
    await get(conn, scope, area_id)
    await conn.execute(delete(KeyArea).where(KeyArea.id == area_id))
