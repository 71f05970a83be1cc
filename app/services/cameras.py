"""Camera registry use cases: list as GeoJSON, create/update/delete with validation and view polygons."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import orjson
from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import Camera, CameraStatusEvent
from app.db.scoping import scope_filter
from app.domain import camera_view, division_code, gb28181_id
from app.domain.access import Scope
from app.domain.errors import Conflict, Forbidden, NotFound
from app.services import siting

PUBLIC_COLUMNS = (
    Camera.id, Camera.gb_id, Camera.name, Camera.division_code, Camera.cls, Camera.site_category, Camera.owner,
    Camera.kind, Camera.heading_deg, Camera.fov_deg, Camera.range_m, Camera.hd, Camera.networked, Camera.status,
    Camera.last_seen_at, Camera.retention_days, Camera.secrecy, Camera.source,
)


@dataclass(slots=True)
class CameraInput:
    name: str
    lon: float
    lat: float
    gb_id: str | None = None
    division_code: str | None = None
    kind: str = "fixed"
    heading_deg: float | None = None
    fov_deg: float = camera_view.DEFAULT_FOV_DEG
    range_m: float = 60.0
    cls: int = 3
    site_category: str | None = None
    owner: str | None = None
    hd: bool = True
    networked: bool = True
    status: str = "online"
    stream_url: str | None = None
    retention_days: int = 30
    secrecy: int = 0
    source: str = "manual"
    external_ref: str | None = None
    parent_device: str | None = None


def _visible(scope: Scope):
    return [scope_filter(Camera.division_code, scope, Camera.secrecy)]


def _jsonable(v):
    return v.isoformat() if isinstance(v, datetime) else v


async def list_geojson(conn: AsyncConnection, scope: Scope, *, bbox=None, division: str | None = None,
                       status: str | None = None, limit: int = 1000, offset: int = 0) -> dict:
    conds = _visible(scope)
    if bbox:
        conds.append(Camera.location.intersects(func.ST_MakeEnvelope(*bbox, 4326)))
    if division:
        conds.append(Camera.division_code.like(division_code.subtree_prefix(division) + "%"))
    if status:
        conds.append(Camera.status == status)
    total = (await conn.execute(select(func.count()).select_from(Camera).where(*conds))).scalar_one()
    rows = (await conn.execute(
        select(*PUBLIC_COLUMNS, func.ST_X(Camera.location).label("lon"), func.ST_Y(Camera.location).label("lat"))
        .where(*conds).order_by(Camera.id).limit(limit).offset(offset))).mappings().all()
    return {"type": "FeatureCollection", "total": total, "limit": limit, "offset": offset,
            "features": [_feature(r) for r in rows]}


def _feature(r) -> dict:
    props = {k: _jsonable(v) for k, v in r.items() if k not in ("lon", "lat")}
    return {"type": "Feature", "id": r["id"], "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
            "properties": props}


async def get(conn: AsyncConnection, scope: Scope, camera_id: int) -> dict:
    row = (await conn.execute(
        select(*PUBLIC_COLUMNS, Camera.stream_url, func.ST_X(Camera.location).label("lon"),
               func.ST_Y(Camera.location).label("lat"), func.ST_AsGeoJSON(Camera.view).label("view"))
        .where(Camera.id == camera_id))).mappings().first()
    if row is None:
        raise NotFound(f"camera {camera_id} not found")
    if not scope.covers(row["division_code"], row["secrecy"]):
        raise NotFound(f"camera {camera_id} not found")  # do not reveal that it exists
    feat = _feature({k: v for k, v in row.items() if k not in ("view", "stream_url")})
    feat["properties"]["view"] = orjson.loads(row["view"])
    return feat


async def next_gb_id(conn: AsyncConnection, division: str | None, type_code: int = 132) -> str:
    div = division or "000000"
    prefix = gb28181_id.make(div, type_code, 0)[:14]
    # Lock per prefix so concurrent creations do not pick the same serial.
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:p))"), {"p": prefix})
    used = (await conn.execute(select(Camera.gb_id).where(Camera.gb_id.like(prefix + "%")))).scalars().all()
    return gb28181_id.next_free(div, used, type_code)


def _view(data: CameraInput):
    spec = camera_view.validate(camera_view.ViewSpec(
        data.lon, data.lat, data.kind, data.heading_deg, data.fov_deg, data.range_m))
    return from_shape(camera_view.view_polygon(spec), srid=4326)


async def create(conn: AsyncConnection, scope: Scope, data: CameraInput) -> int:
    view = _view(data)
    values = asdict(data)
    lon, lat = values.pop("lon"), values.pop("lat")
    values["division_code"] = await siting.division_for(conn, scope, Point(lon, lat), values["division_code"],
                                                        "camera", data.secrecy)
    if values["gb_id"]:
        gb28181_id.validate(values["gb_id"])
        if (await conn.execute(select(Camera.id).where(Camera.gb_id == values["gb_id"]))).first():
            raise Conflict(f"GB/T 28181 id {values['gb_id']} already exists", field="gb_id")
    else:
        values["gb_id"] = await next_gb_id(conn, values["division_code"])
    values["location"] = from_shape(Point(lon, lat), srid=4326)
    values["view"] = view
    cam_id = (await conn.execute(insert(Camera).values(**values).returning(Camera.id))).scalar_one()
    await conn.execute(insert(CameraStatusEvent).values(camera_id=cam_id, status=data.status))
    return cam_id


async def _current(conn: AsyncConnection, scope: Scope, camera_id: int):
    row = (await conn.execute(
        select(Camera.__table__, func.ST_X(Camera.location).label("lon"), func.ST_Y(Camera.location).label("lat"))
        .where(Camera.id == camera_id).with_for_update())).mappings().first()
    if row is None or not scope.covers(row["division_code"], row["secrecy"]):
        raise NotFound(f"camera {camera_id} not found")
    return row


# A change to any of these is a person placing the camera: a catalog keeps that geometry from then on.
PLACEMENT_FIELDS = frozenset({"lon", "lat", "heading_deg", "fov_deg", "range_m"})


async def update_camera(conn: AsyncConnection, scope: Scope, camera_id: int, changes: dict,
                        by: str | None = None) -> None:
    """``by``: the username recorded as ``placed_by`` when the change places the camera."""
    row = await _current(conn, scope, camera_id)
    fields = set(CameraInput.__dataclass_fields__)
    merged = {k: row[k] for k in fields if k in row}
    merged.update(lon=row["lon"], lat=row["lat"])
    merged.update({k: v for k, v in changes.items() if k in fields})
    data = CameraInput(**merged)
    values = {k: v for k, v in changes.items() if k in fields and k not in ("lon", "lat")}
    if "gb_id" in values and values["gb_id"] != row["gb_id"]:
        gb28181_id.validate(values["gb_id"])
        if (await conn.execute(select(Camera.id).where(Camera.gb_id == values["gb_id"]))).first():
            raise Conflict(f"GB/T 28181 id {values['gb_id']} already exists", field="gb_id")
    if {"lon", "lat", "division_code"} & changes.keys():
        values["location"] = from_shape(Point(data.lon, data.lat), srid=4326)
        values["division_code"] = await siting.division_for(conn, scope, Point(data.lon, data.lat),
                                                            changes.get("division_code"), "camera", data.secrecy)
    elif not scope.covers(row["division_code"], data.secrecy):
        raise Forbidden("you may not raise this camera's secrecy above your own")
    values["view"] = _view(data)
    if by and PLACEMENT_FIELDS & changes.keys():
        values["placed_by"] = by
    values["updated_at"] = datetime.now(UTC)
    await conn.execute(update(Camera).where(Camera.id == camera_id).values(**values))
    if "status" in values and values["status"] != row["status"]:
        await conn.execute(insert(CameraStatusEvent).values(camera_id=camera_id, status=values["status"]))


async def delete_camera(conn: AsyncConnection, scope: Scope, camera_id: int) -> None:
    await _current(conn, scope, camera_id)
    await conn.execute(delete(Camera).where(Camera.id == camera_id))
