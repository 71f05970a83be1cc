"""Where a target will be in 30/60/120 s: free-space prediction, and continuation along the road.

Both use ``prediction.estimate_motion`` (heading from the track or the device's agreeing course, speed
from the device or the last 5 minutes' path); bench/eval_prediction.py measures them on real trajectories.

The road method map-matches the last fix to the nearest ``road_edge`` (PostGIS KNN within
``MATCH_RADIUS_M``), choosing the edge and direction that agree best with the heading, then follows the
graph ahead, taking the straightest allowed continuation at each node (one-way edges respected), far
enough for the longest horizon at the current speed.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import datetime, timedelta

from shapely import wkb
from shapely.geometry import LineString, Point
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.errors import NotFound
from app.domain.metric import LocalFrame
from app.domain.prediction import HORIZONS_S, estimate_motion, predict_along_road, predict_motion

HISTORY = timedelta(minutes=5)
MAX_FIXES = 120
MATCH_RADIUS_M = 30.0

_FIXES = text("""
SELECT extract(epoch FROM fix_time)::float8 AS t, ST_X(location) AS lon, ST_Y(location) AS lat, speed_kmh,
       course_deg, accuracy_m
FROM position WHERE target_id = :id AND fix_time > :since AND fix_time <= :last
ORDER BY fix_time DESC LIMIT :n""")
_CANDIDATES = text("""
SELECT id, source, target, cost, reverse_cost, ST_AsBinary(geom) AS g,
       ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography) AS d
FROM road_edge ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:x, :y), 4326) LIMIT 6""")
_AROUND = text("""
SELECT id, source, target, cost, reverse_cost, ST_AsBinary(geom) AS g FROM road_edge
WHERE geom && ST_Expand(ST_SetSRID(ST_MakePoint(:x, :y), 4326), :deg)""")


def bearing(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (b[0] - a[0]) * math.cos(math.radians((a[1] + b[1]) / 2))
    return math.degrees(math.atan2(dx, b[1] - a[1])) % 360.0


def turn(a: float, b: float) -> float:
    return abs((b - a + 180.0) % 360.0 - 180.0)


def _direction_at(coords: list[tuple[float, float]], s_frac: float) -> float:
    """Bearing of the polyline's segment at a fraction of its length."""
    line = LineString(coords)
    p = line.interpolate(s_frac, normalized=True)
    q = line.interpolate(min(1.0, s_frac + 1e-3), normalized=True) if s_frac < 1 else p
    if p.equals(q):
        p = line.interpolate(max(0.0, s_frac - 1e-3), normalized=True)
        q = line.interpolate(s_frac, normalized=True)
    return bearing((p.x, p.y), (q.x, q.y))


def match(candidates, lon: float, lat: float, heading: float | None):
    """(edge row, forward?) best agreeing with position and heading, or None."""
    best, best_score = None, math.inf
    for r in candidates:
        if r.d > MATCH_RADIUS_M:
            continue
        coords = list(wkb.loads(bytes(r.g)).coords)
        frac = LineString(coords).project(Point(lon, lat), normalized=True)
        for forward, cost in ((True, r.cost), (False, r.reverse_cost)):
            if cost is None or cost < 0:
                continue
            b = _direction_at(coords if forward else coords[::-1], frac if forward else 1 - frac)
            score = r.d + (turn(heading, b) / 3.0 if heading is not None else 0.0)  # 30° ≈ 10 m of distance
            if score < best_score:
                best, best_score = (r, forward), score
    return best


def continue_road(edges, start, forward: bool, length_m: float) -> list[tuple[float, float]]:
    """The matched edge in its direction, then the straightest allowed continuations up to ``length_m``."""
    out: dict[int, list] = {}
    for r in edges:
        coords = list(wkb.loads(bytes(r.g)).coords)
        if r.cost is not None and r.cost >= 0:
            out.setdefault(r.source, []).append((r.id, r.target, coords))
        if r.reverse_cost is not None and r.reverse_cost >= 0:
            out.setdefault(r.target, []).append((r.id, r.source, coords[::-1]))
    coords = list(wkb.loads(bytes(start.g)).coords)
    path = coords if forward else coords[::-1]
    node, edge_id = (start.target if forward else start.source), start.id
    frame = LocalFrame(path[0][0], path[0][1])
    total = 0.0
    seen = {edge_id}
    while True:
        xs, ys = frame.to_xy([p[0] for p in path], [p[1] for p in path])
        total = LineString(list(zip(xs, ys, strict=True))).length
        if total >= length_m:
            return path
        heading = bearing(path[-2], path[-1])
        options = [(turn(heading, bearing(c[0], c[1])), eid, nxt, c) for eid, nxt, c in out.get(node, [])
                   if eid not in seen and len(c) >= 2]
        if not options:
            return path  # dead end or beyond the loaded area: the prediction holds at the end
        _, edge_id, node, c = min(options, key=lambda o: o[0])
        seen.add(edge_id)
        path += c[1:]


async def predict(conn: AsyncConnection, target: dict, horizons=HORIZONS_S) -> dict:
    if target["last_fix_at"] is None:
        raise NotFound(f"target {target['id']} has no position yet", field="target_id")
    last = datetime.fromisoformat(target["last_fix_at"])
    rows = (await conn.execute(_FIXES, {"id": target["id"], "since": last - HISTORY, "last": last + timedelta(
        seconds=60), "n": MAX_FIXES})).all()[::-1]
    if not rows:  # target.last_* without stored positions (e.g. retention): use the last known point
        rows = [(last.timestamp(), target["lon"], target["lat"], target["last_speed_kmh"],
                 target["last_course_deg"], None)]
    t, lon, lat = [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
    speeds = [None if r[3] is None else r[3] / 3.6 for r in rows]
    courses = [r[4] for r in rows]
    free = predict_motion(t, lon, lat, horizons, speeds_ms=speeds, courses_deg=courses)
    frame = LocalFrame.around(lon, lat)
    xs, ys = frame.to_xy(lon, lat)
    motion = estimate_motion(t, xs, ys, speeds[-1], courses[-1])
    speed_ms, heading = motion.speed_ms, motion.heading_deg
    road, matched = None, None
    params = {"x": lon[-1], "y": lat[-1]}
    m = match((await conn.execute(_CANDIDATES, params)).all(), lon[-1], lat[-1], heading)
    if m is not None:
        edge, forward = m
        need = speed_ms * max(horizons) + 200.0
        deg = need / 111_000.0 / max(0.2, math.cos(math.radians(lat[-1])))
        around = (await conn.execute(_AROUND, {**params, "deg": deg})).all()
        path = continue_road(around, edge, forward, need + 100.0)
        road = [asdict(p) for p in predict_along_road(lon[-1], lat[-1], speed_ms, LineString(path), horizons)]
        matched = {"edge_id": edge.id, "forward": forward, "distance_m": round(edge.d, 1),
                   "path": [[round(x, 6), round(y, 6)] for x, y in path]}
    return {"target_id": target["id"], "from_time": datetime.fromtimestamp(t[-1], last.tzinfo).isoformat(),
            "lon": lon[-1], "lat": lat[-1], "speed_kmh": round(speed_ms * 3.6, 1),
            "heading_deg": round(heading, 1) if heading is not None else None, "fixes_used": len(rows),
            "methods": {"cv": [asdict(p) for p in free], "road": road}, "road_match": matched,
            "stale": target["stale"]}
