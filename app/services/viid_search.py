"""Plate search over the view library's motor-vehicle passes: in time order, with their checkpoint's
position (else its capture device's), within the caller's divisions (a record is filed under its checkpoint's
division); with its lane (``LaneNo`` of the checkpoint's lanes, /VIID/Lanes) and capture device (/VIID/APEs)
as their devices described them, when they did."""

from __future__ import annotations

from datetime import datetime

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.scoping import scope_sql
from app.domain import plates
from app.domain.access import Scope

_IMAGE_KEYS = ("type", "format", "width", "height", "sha256", "bytes", "url")


def _geometry(value) -> dict | None:
    if value is None:
        return None
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def image_refs(value) -> list[dict]:
    refs = orjson.loads(value) if isinstance(value, str | bytes) else (value or [])
    return [{k: r.get(k) for k in _IMAGE_KEYS} for r in refs if isinstance(r, dict)]


async def search(conn: AsyncConnection, scope: Scope, plate: str, since: datetime, until: datetime,
                 limit: int, offset: int) -> dict:
    pattern = plates.like_pattern(plate)
    plates.check_window(since, until)
    cond, params = scope_sql(scope, "mv.division_code")
    rows = (await conn.execute(text(f"""
        SELECT mv.id, mv.record_id, mv.pass_time, mv.plate_no, mv.plate_color, mv.plate_class, mv.vehicle_class,
               mv.vehicle_color, mv.vehicle_brand, mv.lane_no, mv.direction, mv.speed_kmh, mv.device_id,
               mv.tollgate_id, mv.division_code, mv.images, tg.name AS tollgate_name,
               ln.name AS lane_name, ln.direction AS lane_direction, ln.max_speed AS lane_max_speed,
               ape.name AS device_name, ST_AsGeoJSON(COALESCE(tg.location, ape.location), 7) AS geometry,
               count(*) OVER () AS total
        FROM viid_motor_vehicle mv LEFT JOIN viid_tollgate tg ON tg.tollgate_id = mv.tollgate_id
        LEFT JOIN LATERAL (SELECT l.name, l.direction, l.max_speed FROM viid_lane l
                           WHERE l.tollgate_id = mv.tollgate_id AND l.lane_no = mv.lane_no
                           ORDER BY l.lane_id LIMIT 1) ln ON true
        LEFT JOIN viid_ape ape ON ape.ape_id = mv.device_id
        WHERE mv.plate_no LIKE :pat ESCAPE '\\' AND mv.pass_time >= :since AND mv.pass_time < :until AND {cond}
        ORDER BY mv.pass_time, mv.id LIMIT :n OFFSET :o"""),
        {"pat": pattern, "since": since, "until": until, "n": limit, "o": offset, **params})).mappings().all()
    features = [{"type": "Feature", "id": r["id"], "geometry": _geometry(r["geometry"]), "properties": {
        "record_id": r["record_id"], "pass_time": r["pass_time"], "plate_no": r["plate_no"],
        "plate_color": r["plate_color"], "plate_class": r["plate_class"], "vehicle_class": r["vehicle_class"],
        "vehicle_color": r["vehicle_color"], "vehicle_brand": r["vehicle_brand"], "lane_no": r["lane_no"],
        "direction": r["direction"], "speed_kmh": r["speed_kmh"], "device_id": r["device_id"],
        "tollgate_id": r["tollgate_id"], "tollgate_name": r["tollgate_name"], "division_code": r["division_code"],
        "lane_name": r["lane_name"], "lane_direction": r["lane_direction"], "lane_max_speed": r["lane_max_speed"],
        "device_name": r["device_name"], "images": image_refs(r["images"])}} for r in rows]
    total = rows[0]["total"] if rows else 0
    return {"type": "FeatureCollection", "total": total, "limit": limit, "offset": offset, "features": features}
