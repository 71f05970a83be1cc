"""The simulator's use of the database: register its units, and routes between road nodes (pgRouting)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from shapely import wkb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Dijkstra on the edges in a box around both ends: bounded work on a big graph (as dispatch does).
_ROUTE = text("""
WITH path AS (
  SELECT seq, node, edge FROM pgr_dijkstra(
    format('SELECT id, source, target, cost, reverse_cost FROM road_edge WHERE geom && '
           'ST_Expand(ST_MakeEnvelope(%s, %s, %s, %s, 4326), 0.01)', CAST(:x1 AS float8), CAST(:y1 AS float8),
           CAST(:x2 AS float8), CAST(:y2 AS float8)),
    CAST(:a AS bigint), CAST(:b AS bigint), directed := true))
SELECT p.seq, e.speed_kmh, e.highway,
       ST_AsBinary(CASE WHEN e.source = p.node THEN e.geom ELSE ST_Reverse(e.geom) END) AS g
FROM path p JOIN road_edge e ON e.id = p.edge ORDER BY p.seq""")
_NODE = text("SELECT id, ST_X(location), ST_Y(location) FROM road_node WHERE id = :id")
_STARTS = text("""SELECT id FROM road_node WHERE degree > 1
                  AND location && ST_Expand((SELECT ST_Centroid(ST_Extent(location)) FROM road_node), :deg)
                  ORDER BY random() LIMIT :n""")
_DEST = text("""
SELECT id FROM road_node WHERE degree > 1
  AND location && ST_Expand(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 0.04)
  AND ST_DWithin(location::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography, :far)
  AND NOT ST_DWithin(location::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography, :near)
ORDER BY random() LIMIT 1""")
_DIVISION = text("""SELECT code FROM division WHERE ST_Intersects(boundary, ST_SetSRID(ST_MakePoint(:x, :y), 4326))
                    ORDER BY level DESC LIMIT 1""")
_TARGET = text("""
INSERT INTO target (protocol, external_id, kind, name, division_code) VALUES (:p, :e, 'patrol_car', :name, :div)
ON CONFLICT (protocol, external_id) DO UPDATE SET kind = 'patrol_car', name = EXCLUDED.name,
  division_code = EXCLUDED.division_code
RETURNING id""")
_UNIT = text("""
INSERT INTO unit (callsign, kind, status, target_id, division_code) VALUES (:c, 'patrol_car', 'available', :t, :div)
ON CONFLICT (callsign) DO UPDATE SET target_id = EXCLUDED.target_id, kind = 'patrol_car',
  division_code = EXCLUDED.division_code
RETURNING id""")


@dataclass
class Leg:
    """A route as one polyline with the speed limit of each vertex's outgoing segment."""

    coords: list[tuple[float, float]]
    speeds_kmh: list[float]
    end_node: int


async def start_nodes(conn: AsyncConnection, n: int, radius_deg: float = 0.03) -> list[tuple[int, float, float]]:
    ids = [r[0] for r in await conn.execute(_STARTS, {"n": n, "deg": radius_deg})]
    while ids and len(ids) < n:
        ids.append(random.choice(ids))
    return [tuple((await conn.execute(_NODE, {"id": i})).one()) for i in ids]


async def route(conn: AsyncConnection, a: int, ax: float, ay: float, b: int) -> Leg | None:
    bx, by = (await conn.execute(_NODE, {"id": b})).one()[1:]
    rows = (await conn.execute(_ROUTE, {"a": a, "b": b, "x1": min(ax, bx), "y1": min(ay, by), "x2": max(ax, bx),
                                        "y2": max(ay, by)})).all()
    if not rows:
        return None
    coords: list[tuple[float, float]] = []
    speeds: list[float] = []
    for _, speed, _, g in rows:
        pts = list(wkb.loads(bytes(g)).coords)
        if coords:
            pts = pts[1:]
        coords += pts
        speeds += [float(speed)] * len(pts)
    return Leg(coords, speeds, b) if len(coords) >= 2 else None


async def next_leg(conn: AsyncConnection, node: int, x: float, y: float, tries: int = 6) -> Leg | None:
    """A route from ``node`` to a random node 0.8–3 km away (pgRouting); None if the graph strands us."""
    for _ in range(tries):
        dest = (await conn.execute(_DEST, {"x": x, "y": y, "near": 800.0, "far": 3000.0})).first()
        if dest is None:
            return None
        leg = await route(conn, node, x, y, dest[0])
        if leg is not None:
            return leg
    return None


async def register(conn: AsyncConnection, protocol: str, device_id: str, callsign: str, x: float, y: float
                   ) -> tuple[int, int]:
    """Target (kind patrol_car) + unit, so dispatch can send the simulated cars. Idempotent."""
    div = (await conn.execute(_DIVISION, {"x": x, "y": y})).scalar()
    tid = (await conn.execute(_TARGET, {"p": protocol, "e": device_id, "name": f"巡逻车 {callsign}",
                                        "div": div})).scalar_one()
    uid = (await conn.execute(_UNIT, {"c": callsign, "t": tid, "div": div})).scalar_one()
    return tid, uid


# Simulated cars obey the dispatcher: an assigned or en-route car drives to its incident, a car on
# scene stays there until its dispatch is cleared.
_MISSIONS = text("""
SELECT t.external_id, d.id, d.status, ST_X(i.location), ST_Y(i.location)
FROM dispatch d JOIN unit u ON u.id = d.unit_id JOIN target t ON t.id = u.target_id
JOIN incident i ON i.id = d.incident_id
WHERE t.protocol = :p AND t.external_id = ANY(:ids) AND d.status IN ('assigned', 'en_route', 'on_scene')""")
_NEAREST = text("""SELECT id, ST_X(location), ST_Y(location) FROM road_node WHERE degree > 0
                   ORDER BY location <-> ST_SetSRID(ST_MakePoint(:x, :y), 4326) LIMIT 1""")


@dataclass
class Mission:
    dispatch_id: int
    status: str
    x: float
    y: float


async def missions(conn: AsyncConnection, protocol: str, device_ids: list[str]) -> dict[str, Mission]:
    rows = await conn.execute(_MISSIONS, {"p": protocol, "ids": device_ids})
    return {r[0]: Mission(r[1], r[2], r[3], r[4]) for r in rows}


async def route_to(conn: AsyncConnection, x: float, y: float, tx: float, ty: float) -> Leg | None:
    """From anywhere to a point: via the nearest road nodes, ending exactly at the point."""
    a = (await conn.execute(_NEAREST, {"x": x, "y": y})).first()
    b = (await conn.execute(_NEAREST, {"x": tx, "y": ty})).first()
    if a is None or b is None:
        return None
    leg = await route(conn, a[0], a[1], a[2], b[0]) if a[0] != b[0] else Leg([(a[1], a[2]), (b[1], b[2])], [20.0] * 2,
                                                                              b[0])
    if leg is None:
        return None
    coords = [(x, y), *leg.coords, (tx, ty)]
    speeds = [leg.speeds_kmh[0], *leg.speeds_kmh, 20.0]
    return Leg(coords, speeds, b[0])
