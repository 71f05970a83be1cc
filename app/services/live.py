"""What the live map needs from the database: the websocket snapshot of a scope and the bus
messages that announce camera changes (routing fields ``division``/``secrecy``/``lon``/``lat``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import Camera, Division, Incident, Target, Unit
from app.db.scoping import division_filter, scope_filter
from app.domain.access import Scope
from app.services import kpi
from app.services.divisions import visible_filter
from app.services.kpi import OPEN_INCIDENT

STATUS_CODES = {"online": 0, "offline": 1, "fault": 2, "planned": 3}
KIND_CODES = {"fixed": 0, "ptz": 1, "dome": 2}
TARGET_WINDOW = timedelta(minutes=30)  # targets silent for longer are not on the live map
TAIL_WINDOW = timedelta(minutes=5)
MAX_CAMERAS = 200_000
MAX_TARGETS = 20_000


def _bbox_cond(geom, bbox):
    return geom.op("&&")(func.ST_MakeEnvelope(*bbox, 4326)) if bbox else True


async def cameras_columnar(conn: AsyncConnection, scope: Scope, bbox=None) -> dict:
    """Cameras as columns (one list per attribute): the page turns them into typed arrays."""
    rows = (await conn.execute(
        select(Camera.id, func.ST_X(Camera.location), func.ST_Y(Camera.location), Camera.status, Camera.cls,
               Camera.kind, Camera.heading_deg, Camera.fov_deg, Camera.range_m)
        .where(scope_filter(Camera.division_code, scope, Camera.secrecy),
               _bbox_cond(Camera.location, bbox))
        .order_by(Camera.id).limit(MAX_CAMERAS))).all()
    cols = list(zip(*rows, strict=True)) if rows else [()] * 9
    return {
        "id": list(cols[0]), "lon": [round(v, 7) for v in cols[1]], "lat": [round(v, 7) for v in cols[2]],
        "status": [STATUS_CODES.get(s, 1) for s in cols[3]], "cls": list(cols[4]),
        "kind": [KIND_CODES.get(k, 0) for k in cols[5]],
        "heading": [-1 if h is None else h for h in cols[6]], "fov": list(cols[7]), "range": list(cols[8]),
    }


async def targets(conn: AsyncConnection, scope: Scope, bbox=None) -> list[dict]:
    since = datetime.now(UTC) - TARGET_WINDOW
    rows = (await conn.execute(
        select(Target.id, Target.kind, Target.name, Target.division_code, func.ST_X(Target.last_location),
               func.ST_Y(Target.last_location), Target.last_course_deg, Target.last_speed_kmh,
               Target.last_fix_at)
        .where(division_filter(Target.division_code, scope), Target.last_fix_at >= since,
               Target.last_location.isnot(None), _bbox_cond(Target.last_location, bbox))
        .limit(MAX_TARGETS))).all()
    if not rows:
        return []
    tails = dict((await conn.execute(text(
        "SELECT target_id, json_agg(json_build_array(round(ST_X(location)::numeric, 7), "
        "round(ST_Y(location)::numeric, 7), extract(epoch FROM fix_time)) ORDER BY fix_time) "
        "FROM position WHERE target_id = ANY(:ids) AND fix_time >= :since GROUP BY target_id"),
        {"ids": [r[0] for r in rows], "since": datetime.now(UTC) - TAIL_WINDOW})).all())
    return [{"target_id": r[0], "kind": r[1], "name": r[2], "division": r[3], "lon": r[4], "lat": r[5],
             "course_deg": r[6], "speed_kmh": r[7], "t": r[8].timestamp(), "tail": tails.get(r[0], [])}
            for r in rows]


async def incidents(conn: AsyncConnection, scope: Scope) -> list[dict]:
    rows = (await conn.execute(
        select(Incident.id, Incident.type, Incident.priority, Incident.status, Incident.description,
               Incident.address, Incident.division_code, Incident.created_at,
               func.ST_X(Incident.location).label("lon"), func.ST_Y(Incident.location).label("lat"))
        .where(division_filter(Incident.division_code, scope), Incident.status.in_(OPEN_INCIDENT))
        .order_by(Incident.priority, Incident.created_at.desc()).limit(2000))).mappings().all()
    return [{**r, "created_at": r["created_at"].isoformat()} for r in rows]


async def units(conn: AsyncConnection, scope: Scope) -> list[dict]:
    rows = (await conn.execute(
        select(Unit.id, Unit.callsign, Unit.kind, Unit.status, Unit.target_id, Unit.division_code,
               func.ST_X(Target.last_location).label("lon"), func.ST_Y(Target.last_location).label("lat"))
        .select_from(Unit).outerjoin(Target, Target.id == Unit.target_id)
        .where(division_filter(Unit.division_code, scope)).limit(5000))).mappings().all()
    return [dict(r) for r in rows]


async def division_labels(conn: AsyncConnection, scope: Scope) -> list[dict]:
    pt = func.ST_PointOnSurface(Division.boundary)
    rows = (await conn.execute(
        select(Division.code, Division.name, Division.name_en, Division.level, func.ST_X(pt).label("lon"),
               func.ST_Y(pt).label("lat"))
        .where(and_(Division.boundary.isnot(None), visible_filter(scope), Division.level >= 3))
        .order_by(Division.code))).mappings().all()
    return [dict(r) for r in rows]


async def snapshot(conn: AsyncConnection, scope: Scope, layers: frozenset[str], bbox=None) -> dict:
    out: dict = {"divisions": await division_labels(conn, scope)}
    if "cameras" in layers:
        out["cameras"] = await cameras_columnar(conn, scope, bbox)
    if "positions" in layers:
        out["targets"] = await targets(conn, scope, bbox)
    if "incidents" in layers:
        out["incidents"] = await incidents(conn, scope)
    if "dispatch" in layers:
        out["units"] = await units(conn, scope)
    if "kpi" in layers:
        out["kpi"] = await kpi.summary(conn, scope)
    return out


async def camera_message(conn: AsyncConnection, camera_id: int, op: str = "upsert") -> dict | None:
    """The ``cameras`` bus message for one camera as it is now (call before deleting it)."""
    r = (await conn.execute(
        select(Camera.id, Camera.name, Camera.gb_id, Camera.division_code, Camera.secrecy, Camera.status,
               Camera.cls, Camera.kind, Camera.heading_deg, Camera.fov_deg, Camera.range_m, Camera.hd,
               Camera.networked, func.ST_X(Camera.location).label("lon"),
               func.ST_Y(Camera.location).label("lat"))
        .where(Camera.id == camera_id))).mappings().first()
    if r is None:
        return None
    return {"op": op, "id": r["id"], "division": r["division_code"], "secrecy": r["secrecy"],
            "lon": r["lon"], "lat": r["lat"],
            "camera": {"id": r["id"], "name": r["name"], "gb_id": r["gb_id"],
                       "lon": r["lon"], "lat": r["lat"],
                       "status": STATUS_CODES.get(r["status"], 1), "cls": r["cls"],
                       "kind": KIND_CODES.get(r["kind"], 0),
                       "heading": -1 if r["heading_deg"] is None else r["heading_deg"], "fov": r["fov_deg"],
                       "range": r["range_m"], "hd": r["hd"], "networked": r["networked"]}}
