"""Incidents: create (map click, coordinates, place name, API, alarms), list, lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.models import Dispatch, Incident, Unit
from app.db.scoping import division_filter, scope_sql
from app.domain import dispatch as flow
from app.domain.access import Scope
from app.domain.errors import Forbidden, InvalidInput, NotFound
from app.domain.events import EventType
from app.domain.tracking import Event
from app.services.siting import division_at

EVERYWHERE = Scope.everywhere_up_to(99)  # for system-side reads (alarms), never for a user's request
COLUMNS = (Incident.id, Incident.type, Incident.priority, Incident.status, Incident.description, Incident.reporter,
           Incident.source, Incident.address, Incident.division_code, Incident.camera_id, Incident.target_id,
           Incident.created_at, Incident.dispatched_at, Incident.on_scene_at, Incident.resolved_at,
           Incident.closed_at)


def _iso(v):
    return v.isoformat() if isinstance(v, datetime) else v


def as_feature(r) -> dict:
    props = {k: _iso(v) for k, v in r.items() if k not in ("lon", "lat")}
    zh, en = flow.incident_type_name(props["type"])
    props.update(type_zh=zh, type_en=en)
    return {"type": "Feature", "id": r["id"], "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
            "properties": props}


async def search_places(conn: AsyncConnection, scope: Scope, q: str, limit: int = 10) -> list[dict]:
    """Places by name in the loaded OSM data (key areas and streets), Chinese or Latin, inside the
    caller's scope: key areas of its divisions, streets that cross its divisions' boundaries."""
    if not q.strip():
        raise InvalidInput("empty place name", field="q")
    pattern = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    areas_in, params = scope_sql(scope, "division_code", prefix="ka")
    streets_in, sparams = ("TRUE", {}) if scope.everywhere else scope_sql(scope, "dv.code", prefix="st")
    if not scope.everywhere:
        streets_in = (f"EXISTS (SELECT 1 FROM division dv WHERE {streets_in} AND dv.boundary IS NOT NULL"
                      " AND ST_Intersects(dv.boundary, geom))")
    rows = (await conn.execute(text(f"""
        (SELECT name, name_en, 'key_area' AS kind, ST_X(c) AS lon, ST_Y(c) AS lat FROM (
           SELECT name, name_en, ST_PointOnSurface(area) AS c FROM key_area
           WHERE (name ILIKE :p OR name_en ILIKE :p) AND {areas_in} LIMIT :n) a)
        UNION ALL
        (SELECT name, NULL, 'street', ST_X(c), ST_Y(c) FROM (
           SELECT name, ST_LineInterpolatePoint(ST_LineMerge(ST_Collect(geom)), 0.5) AS c FROM (
             SELECT name, geom FROM road_edge WHERE name ILIKE :p AND {streets_in}) s
           GROUP BY name HAVING ST_GeometryType(ST_LineMerge(ST_Collect(geom))) = 'ST_LineString' LIMIT :n) b)
        LIMIT :n"""), {"p": pattern, "n": limit, **params, **sparams})).mappings().all()
    return [dict(r) for r in rows]


# A spot farther than this from every named street gets no street in its address (open ground, water).
STREET_NEAR_M = 80.0

# The key area the spot lies in, and the nearest named street (KNN on the GiST index, then the metric test).
PLACE_AT_SQL = text("""
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g)
SELECT (SELECT k.name FROM key_area k, p WHERE ST_Intersects(k.area, p.g) ORDER BY ST_Area(k.area) LIMIT 1) AS area,
       (SELECT s.name FROM (SELECT e.name, e.geom FROM road_edge e, p WHERE e.name IS NOT NULL
                            ORDER BY e.geom <-> p.g LIMIT 1) s, p
        WHERE ST_DWithin(s.geom::geography, p.g::geography, :near)) AS street
""")


async def place_at(conn: AsyncConnection, lon: float, lat: float) -> str | None:
    """A readable place for a spot given only as coordinates (a map click, an alarm, a phone): the key
    area it lies in (the smallest) and the nearest named street, e.g. "Rautatientori · Kaivokatu"."""
    r = (await conn.execute(PLACE_AT_SQL, {"lon": lon, "lat": lat, "near": STREET_NEAR_M})).one()
    return " · ".join(dict.fromkeys(x for x in (r.area, r.street) if x)) or None


async def create(conn: AsyncConnection, scope: Scope, *, type: str, priority: int, lon: float, lat: float,
                 description: str | None = None, reporter: str | None = None, address: str | None = None,
                 source: str = "console", camera_id: int | None = None, target_id: int | None = None) -> dict:
    """An incident raised by a user (console, API): only inside the caller's divisions."""
    if type not in flow.INCIDENT_TYPES:
        raise InvalidInput(f"unknown incident type; one of {', '.join(flow.INCIDENT_TYPES)}", field="type")
    division = await division_at(conn, lon, lat)
    if not scope.covers(division):
        raise Forbidden("this location is outside your divisions")
    feat = await open_incident(conn, type=type, priority=priority, lon=lon, lat=lat, description=description,
                               reporter=reporter, address=address, source=source, camera_id=camera_id,
                               target_id=target_id, division=division)
    return await get(conn, scope, feat["id"])


_PLACE = object()  # ``open_incident(division=...)`` not given: the division of the place


async def open_incident(conn: AsyncConnection, *, type: str, priority: int, lon: float, lat: float, source: str,
                        description: str | None = None, reporter: str | None = None, address: str | None = None,
                        camera_id: int | None = None, target_id: int | None = None,
                        division: str | object | None = _PLACE) -> dict:
    """The one way an incident comes to be (console, device SOS, GB/T 28181 alarm): filed under the
    division of its place (unless the caller knows better, e.g. the alarming camera's), named when
    given only as coordinates, stored. Returns the incident as a Feature; ``opened_message`` of it is
    what goes on the bus (the caller publishes after its commit)."""
    if division is _PLACE:
        division = await division_at(conn, lon, lat)
    if not (address and address.strip()):
        address = await place_at(conn, lon, lat)
    row = (await conn.execute(insert(Incident).values(
        type=type, priority=priority, description=description, reporter=reporter, address=address, source=source,
        location=from_shape(Point(lon, lat), srid=4326), division_code=division, camera_id=camera_id,
        target_id=target_id).returning(Incident.id))).scalar_one()
    return await get(conn, EVERYWHERE, row)


def opened_message(feat: dict) -> dict:
    """The ``incidents`` bus message announcing a new incident."""
    return live_message(feat, "created")


_TARGET = text("SELECT id FROM target WHERE protocol = :p AND external_id = :d")


async def open_sos(engine: AsyncEngine, events: list[Event]) -> list[dict]:
    """Each located SOS event becomes a priority-1 incident (after persist, so the target exists).
    Returns the bus messages of the incidents opened. SOS are rare: a few queries each are fine."""
    out = []
    async with engine.begin() as conn:
        for e in events:
            protocol, device_id = e.target
            target_id = (await conn.execute(_TARGET, {"p": protocol, "d": device_id})).scalar()
            feat = await open_incident(conn, type=EventType.SOS, priority=1, source="device", lon=e.lon, lat=e.lat,
                                       target_id=target_id,
                                       description=f"SOS from {protocol} device {device_id} at {e.at.isoformat()}")
            out.append(opened_message(feat))
    return out


async def get(conn: AsyncConnection, scope: Scope, incident_id: int) -> dict:
    r = (await conn.execute(select(*COLUMNS, func.ST_X(Incident.location).label("lon"),
                                   func.ST_Y(Incident.location).label("lat")).where(Incident.id == incident_id)
                            )).mappings().first()
    if r is None or not scope.covers(r["division_code"]):
        raise NotFound(f"incident {incident_id} not found")
    feat = as_feature(r)
    disp = (await conn.execute(
        select(Dispatch.id, Dispatch.unit_id, Unit.callsign, Dispatch.status, Dispatch.eta_s, Dispatch.assigned_at,
               Dispatch.en_route_at, Dispatch.on_scene_at, Dispatch.cleared_at,
               func.ST_AsGeoJSON(Dispatch.route, 6).label("route"))
        .join(Unit, Unit.id == Dispatch.unit_id).where(Dispatch.incident_id == incident_id)
        .order_by(Dispatch.id))).mappings().all()
    feat["properties"]["dispatches"] = [
        {**{k: _iso(v) for k, v in d.items() if k != "route"},
         "route": orjson.loads(d["route"]) if d["route"] else None} for d in disp]
    return feat


async def list_incidents(conn: AsyncConnection, scope: Scope, *, open_only: bool = True, status: str | None = None,
                         limit: int = 200, offset: int = 0) -> dict:
    conds = [division_filter(Incident.division_code, scope)]
    if status:
        conds.append(Incident.status == status)
    elif open_only:
        conds.append(Incident.status.in_(["new", "dispatched", "on_scene"]))
    total = (await conn.execute(select(func.count()).select_from(Incident).where(*conds))).scalar_one()
    rows = (await conn.execute(select(*COLUMNS, func.ST_X(Incident.location).label("lon"),
                                      func.ST_Y(Incident.location).label("lat")).where(*conds)
                               .order_by(Incident.priority, Incident.created_at.desc()).limit(limit).offset(offset)
                               )).mappings().all()
    return {"type": "FeatureCollection", "total": total, "limit": limit, "offset": offset,
            "features": [as_feature(r) for r in rows]}


async def transition(conn: AsyncConnection, scope: Scope, incident_id: int, wanted: str) -> dict:
    cur = (await conn.execute(select(Incident.status, Incident.division_code).where(Incident.id == incident_id)
                              .with_for_update())).first()
    if cur is None or not scope.covers(cur.division_code):
        raise NotFound(f"incident {incident_id} not found")
    status = flow.next_incident_status(cur.status, wanted)
    values = {"status": status, flow.INCIDENT_STAMP[status]: datetime.now(UTC)}
    await conn.execute(update(Incident).where(Incident.id == incident_id).values(**values))
    return await get(conn, scope, incident_id)


def live_message(feat: dict, op: str) -> dict:
    """The ``incidents`` bus message: routing fields (division, lon/lat) + the incident as the wall draws it."""
    p = feat["properties"]
    lon, lat = feat["geometry"]["coordinates"]
    incident = {k: p.get(k) for k in ("id", "type", "type_zh", "type_en", "priority", "status", "description",
                                      "address", "created_at", "dispatched_at", "on_scene_at", "camera_id")}
    return {"op": op, "division": p.get("division_code"), "lon": lon, "lat": lat,
            "incident": {**incident, "lon": lon, "lat": lat}}


async def live_message_for(conn: AsyncConnection, incident_id: int, op: str = "updated") -> dict | None:
    """The same message, read from the database (for events raised outside the API: alarms, SOS)."""
    try:
        return live_message(await get(conn, EVERYWHERE, incident_id), op)
    except NotFound:
        return None
