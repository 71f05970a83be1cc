"""Missing person search (走失人员查找): the road area a person on foot could have reached since they were
last seen (pgRouting's driving distance on the walking graph: length in metres, every street both ways),
the cameras in the caller's scope whose view covers a reached stretch, ranked by the earliest moment the
person could have come into view, their recordings in that window (their devices asked, bounded), and the
GA/T 1400 person and face records those cameras' devices uploaded in it."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime

from shapely import wkb
from shapely.geometry import LineString, MultiLineString, mapping
from shapely.ops import substring
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.scoping import scope_sql
from app.domain import missing_person as mp
from app.domain.access import Scope
from app.domain.errors import DomainError, InvalidInput
from app.realtime.rpc import DeviceCalls
from app.services import recordings
from app.services.callup import GB28181
from app.services.viid_search import image_refs

SNAP_M = 300.0  # farther from any street than this, the last-seen point is not on the walking graph
MAX_CAMERAS = 40
ASK_AT_ONCE = 6
ASK_TIMEOUT_S = 10.0
MAX_RECORDS = 500
OFFLINE = "the camera is offline: its device cannot be asked for recordings now"

_SNAP = text("""
SELECT id, source, target, length_m, ST_LineLocatePoint(geom, p.g) AS f,
       ST_Distance(geom::geography, p.g::geography) AS d
FROM road_edge, (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g) p
ORDER BY geom <-> p.g LIMIT 1""")
_BOX = "ST_Expand(ST_SetSRID(ST_MakePoint({lon!r}, {lat!r}), 4326), {deg!r})"
_EDGES = "SELECT id, source, target, length_m AS cost, length_m AS reverse_cost FROM road_edge WHERE geom && {box}"
_DD = text("SELECT node, agg_cost FROM pgr_drivingDistance(CAST(:edges AS text), CAST(:start AS bigint), "
           "CAST(:dist AS float8), directed := false)")
_AREA = ("SELECT id, source, target, length_m, ST_AsBinary(geom) AS g FROM road_edge WHERE geom && {box}")
_SEEING = """
SELECT c.id, e.id AS edge_id, e.source, e.target, e.length_m,
       ST_LineLocatePoint(e.geom, ST_ClosestPoint(ST_Intersection(e.geom, c.view), ST_StartPoint(e.geom))) AS f0,
       ST_LineLocatePoint(e.geom, ST_ClosestPoint(ST_Intersection(e.geom, c.view), ST_EndPoint(e.geom))) AS f1,
       ST_Intersects(c.view, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) AS at_start
FROM camera c JOIN road_edge e ON e.geom && {box} AND ST_Intersects(c.view, e.geom)
WHERE c.view && {box} AND c.status <> 'planned' AND {scope}"""
_CAMERAS = """
SELECT c.id, c.gb_id, c.parent_device, c.name, c.kind, c.status, c.source, c.division_code,
       ST_X(c.location) AS lon, ST_Y(c.location) AS lat
FROM camera c WHERE c.id = ANY(CAST(:ids AS bigint[])) AND {scope}"""
_RECORDS = """
SELECT o.id, o.kind, o.record_id, o.device_id, o.tollgate_id, o.division_code, o.shot_time, o.images, w.cid
FROM unnest(CAST(:dev AS text[]), CAST(:cid AS bigint[]), CAST(:since AS timestamptz[])) AS w(dev, cid, since)
JOIN viid_object o ON o.device_id = w.dev AND o.shot_time >= w.since AND o.shot_time <= :until
WHERE o.kind IN ('face', 'person') AND {scope}
ORDER BY o.shot_time, o.id LIMIT :n"""


def _deg(lat: float, metres: float) -> float:
    return metres / 111_000.0 / max(0.2, math.cos(math.radians(lat)))


async def _from_node(conn: AsyncConnection, edges: str, node: int, dist: float) -> dict[int, float]:
    if dist < 0:
        return {}
    rows = (await conn.execute(_DD, {"edges": edges, "start": node, "dist": dist})).all()
    return {int(r.node): float(r.agg_cost) for r in rows}


def _area(rows, costs: dict[int, float], reach: float, start: mp.Start) -> dict | None:
    lines = []
    for r in rows:
        parts = mp.reachable_part(costs.get(r.source), costs.get(r.target), r.length_m, reach,
                                  start if r.id == start.edge_id else None)
        if not parts:
            continue
        geom = wkb.loads(bytes(r.g))
        for a, b in parts:
            piece = geom if (a, b) == (0.0, 1.0) else substring(geom, a, b, normalized=True)
            if isinstance(piece, LineString) and len(piece.coords) >= 2:
                lines.append([(round(x, 6), round(y, 6)) for x, y in piece.coords])
    return mapping(MultiLineString(lines)) if lines else None


async def reachable_cameras(conn: AsyncConnection, scope: Scope, lon: float, lat: float, last_seen: datetime,
                            until: datetime, speed_ms: float = mp.WALK_MS,
                            max_radius_m: float = mp.MAX_RADIUS_M) -> dict:
    """The reached road area and the in-scope cameras that see it, earliest arrival first, with their
    person/face records in each camera's window (recordings are asked for apart: ``ask_recordings``)."""
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput("coordinates out of range", field="lon")
    reach = mp.reach_m(last_seen, until, speed_ms, max_radius_m)
    snap = (await conn.execute(_SNAP, {"lon": lon, "lat": lat})).first()
    if snap is None or snap.d > SNAP_M:
        raise InvalidInput(f"no street within {SNAP_M:.0f} m of the last-seen point", field="lon")
    start = mp.Start(snap.id, float(snap.f), float(snap.d))
    box = _BOX.format(lon=float(lon), lat=float(lat), deg=_deg(lat, reach + SNAP_M))
    edges = _EDGES.format(box=box)
    to_src = start.offset_m + start.fraction * snap.length_m
    to_tgt = start.offset_m + (1 - start.fraction) * snap.length_m
    costs = mp.node_costs(start, snap.length_m, await _from_node(conn, edges, snap.source, reach - to_src),
                          await _from_node(conn, edges, snap.target, reach - to_tgt), snap.source, snap.target)
    area = _area((await conn.execute(text(_AREA.format(box=box)))).all(), costs, reach, start)
    where, params = scope_sql(scope, "c.division_code", "c.secrecy")
    arrivals: dict[int, float] = {}
    for r in (await conn.execute(text(_SEEING.format(box=box, scope=where)),
                                 {"lon": lon, "lat": lat, **params})).all():
        m = 0.0 if r.at_start else mp.edge_arrival_m(
            costs.get(r.source), costs.get(r.target), r.length_m, r.f0 or 0.0, r.f1 or 1.0,
            start if r.edge_id == start.edge_id else None)
        if m is not None and m < arrivals.get(r.id, math.inf):
            arrivals[r.id] = m
    seen = mp.sightings(arrivals, last_seen, until, speed_ms, reach)[:MAX_CAMERAS]
    info = {r.id: r for r in (await conn.execute(text(_CAMERAS.format(scope=where)),
                                                 {"ids": [s.camera_id for s in seen], **params})).all()}
    cameras = []
    for s in seen:
        c = info.get(s.camera_id)
        if c is None:
            continue
        cameras.append({"camera_id": c.id, "gb_id": c.gb_id, "name": c.name, "kind": c.kind, "status": c.status,
                        "source": c.source, "division_code": c.division_code, "lon": c.lon, "lat": c.lat,
                        "arrival_m": s.arrival_m, "start": s.earliest.isoformat(), "end": s.end.isoformat(),
                        "_devices": [d for d in (c.gb_id, c.parent_device) if d], "_since": s.earliest})
    await _attach_records(conn, scope, cameras, until)
    return {"point": [lon, lat], "snapped_m": round(start.offset_m, 1), "last_seen": last_seen.isoformat(),
            "until": until.isoformat(), "speed_ms": speed_ms, "reach_m": round(reach, 1), "area": area,
            "cameras": cameras}


async def _attach_records(conn: AsyncConnection, scope: Scope, cameras: list[dict], until: datetime) -> None:
    """Each camera's person/face records (GA/T 1400 ``DeviceID`` = the channel's or its device's GB id) in
    its window, filed under a division the caller sees."""
    dev, cid, since = [], [], []
    for c in cameras:
        c["records"] = []
        for d in c.pop("_devices"):
            dev.append(d)
            cid.append(c["camera_id"])
            since.append(c["_since"])
    for c in cameras:
        c.pop("_since")
    if not dev:
        return
    where, params = scope_sql(scope, "o.division_code")
    rows = (await conn.execute(text(_RECORDS.format(scope=where)), {
        "dev": dev, "cid": cid, "since": since, "until": until, "n": MAX_RECORDS, **params})).mappings().all()
    by_cam = {c["camera_id"]: c for c in cameras}
    for r in rows:
        by_cam[r["cid"]]["records"].append({
            "id": r["id"], "kind": r["kind"], "record_id": r["record_id"], "device_id": r["device_id"],
            "tollgate_id": r["tollgate_id"], "division_code": r["division_code"],
            "shot_time": r["shot_time"].isoformat(), "images": image_refs(r["images"])})


async def ask_recordings(calls: DeviceCalls, cameras: list[dict], until: datetime) -> None:
    """Each camera's recordings in its window, a few devices at a time; one that cannot or does not answer
    is listed as such (``state``), never an error of the search."""
    gate = asyncio.Semaphore(ASK_AT_ONCE)

    async def one(c: dict) -> None:
        c.update(segments=[], recorded_s=0.0)
        if c["source"] != GB28181 or not c["gb_id"]:
            c["state"] = "not_recording_device"
            return
        if c["status"] != "online":
            c.update(state="no_answer", reason=OFFLINE)
            return
        start = datetime.fromisoformat(c["start"])
        try:
            async with gate:
                segs, complete = await recordings.ask(calls, c["gb_id"], start, until, timeout_s=ASK_TIMEOUT_S)
        except DomainError as exc:
            c.update(state="no_answer", reason=str(exc))
            return
        t = recordings.timeline(segs, start, until, complete)
        c.update(state="answered", complete=complete, segments=t["segments"], recorded_s=t["recorded_s"])

    await asyncio.gather(*(one(c) for c in cameras))
