"""Dispatch: recommend the nearest free units by road (pgRouting), assign them, follow them to the scene."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import Dispatch, Incident, Target, Unit
from app.db.scoping import division_filter
from app.domain import dispatch as flow
from app.domain.access import Scope
from app.domain.errors import Conflict, InvalidInput, NotFound

SHORTLIST = 12  # straight-line nearest candidates that get a road ETA
OFFROAD_KMH = 15.0  # from a unit's fix to the road graph and from the graph to the scene
# Edges within a box around origin and destination: a bounded graph keeps Dijkstra fast on big cities.
EDGES_SQL = ("SELECT id, source, target, cost, reverse_cost FROM road_edge "
             "WHERE geom && ST_Expand(ST_MakeEnvelope({x1}, {y1}, {x2}, {y2}, 4326), 0.03)")


async def _incident_point(conn: AsyncConnection, scope: Scope, incident_id: int):
    r = (await conn.execute(select(Incident.id, Incident.status, Incident.division_code,
                                   func.ST_X(Incident.location).label("lon"), func.ST_Y(Incident.location).label("lat"))
                            .where(Incident.id == incident_id))).first()
    if r is None or not scope.covers(r.division_code):
        raise NotFound(f"incident {incident_id} not found")
    return r


async def _nearest_nodes(conn: AsyncConnection, points: list[tuple[float, float]]) -> list[tuple[int | None, float]]:
    """Nearest routable node and the distance to it (m) for each point, in one KNN query."""
    if not points:
        return []
    rows = (await conn.execute(text("""
        SELECT s.i, n.id, ST_Distance(n.location::geography, ST_SetSRID(ST_MakePoint(s.x, s.y), 4326)::geography) AS d
        FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS s(x, y, i)
        CROSS JOIN LATERAL (SELECT id, location FROM road_node WHERE degree > 0
                            ORDER BY location <-> ST_SetSRID(ST_MakePoint(s.x, s.y), 4326) LIMIT 1) n"""),
        {"xs": [p[0] for p in points], "ys": [p[1] for p in points]})).all()
    found = {r.i: (r.id, r.d) for r in rows}
    return [found.get(i + 1, (None, 0.0)) for i in range(len(points))]


async def _nearest_node(conn: AsyncConnection, lon: float, lat: float) -> tuple[int | None, float]:
    return (await _nearest_nodes(conn, [(lon, lat)]))[0]


async def road_etas(conn: AsyncConnection, starts: list[tuple[float, float]], dest: tuple[float, float]
                    ) -> list[float | None]:
    """Seconds by road from each start to dest; None when the graph does not connect them (never 0)."""
    goal, goal_off = await _nearest_node(conn, *dest)
    if goal is None or not starts:
        return [None] * len(starts)
    nodes = await _nearest_nodes(conn, starts)
    xs = [p[0] for p in starts] + [dest[0]]
    ys = [p[1] for p in starts] + [dest[1]]
    edges = EDGES_SQL.format(x1=min(xs), y1=min(ys), x2=max(xs), y2=max(ys))
    ids = sorted({n for n, _ in nodes if n is not None})
    costs: dict[int, float] = {}
    if ids:
        rows = (await conn.execute(text(
            "SELECT start_vid, agg_cost FROM pgr_dijkstraCost(CAST(:edges AS text), CAST(:starts AS bigint[]), "
            "CAST(:goal AS bigint), directed := true)"),
            {"edges": edges, "starts": ids, "goal": goal})).all()
        costs = {r.start_vid: r.agg_cost for r in rows}
        if goal in ids:
            costs[goal] = 0.0
    off = OFFROAD_KMH / 3.6
    out: list[float | None] = []
    for node, d in nodes:
        if node is None or node not in costs:
            out.append(None)
        else:
            out.append(round(costs[node] + (d + goal_off) / off, 1))
    return out


async def route(conn: AsyncConnection, start: tuple[float, float], dest: tuple[float, float]) -> dict | None:
    """GeoJSON LineString of the road route (unit → node … node → scene), or None when unreachable."""
    a, _ = await _nearest_node(conn, *start)
    b, _ = await _nearest_node(conn, *dest)
    if a is None or b is None:
        return None
    edges = EDGES_SQL.format(x1=min(start[0], dest[0]), y1=min(start[1], dest[1]), x2=max(start[0], dest[0]),
                             y2=max(start[1], dest[1]))
    geo = (await conn.execute(text("""
        WITH path AS (SELECT seq, node, edge FROM pgr_dijkstra(CAST(:edges AS text), CAST(:a AS bigint),
                                                              CAST(:b AS bigint), directed := true)),
        segs AS (SELECT p.seq, CASE WHEN e.source = p.node THEN e.geom ELSE ST_Reverse(e.geom) END AS g
                 FROM path p JOIN road_edge e ON e.id = p.edge)
        SELECT ST_AsGeoJSON(ST_MakeLine(ARRAY[ST_SetSRID(ST_MakePoint(:sx, :sy), 4326)]
               || (SELECT array_agg(pt ORDER BY seq, i) FROM (
                     SELECT s.seq, d.path[1] AS i, d.geom AS pt FROM segs s, ST_DumpPoints(s.g) d) q)
               || ARRAY[ST_SetSRID(ST_MakePoint(:dx, :dy), 4326)]), 6)
        WHERE EXISTS (SELECT 1 FROM path) OR :a = :b"""),
        {"edges": edges, "a": a, "b": b, "sx": start[0], "sy": start[1], "dx": dest[0], "dy": dest[1]})).scalar()
    return orjson.loads(geo) if geo else None


async def recommend(conn: AsyncConnection, scope: Scope, incident_id: int, kind: str | None = None,
                    count: int = 5, now: datetime | None = None) -> dict:
    inc = await _incident_point(conn, scope, incident_id)
    now = now or datetime.now(UTC)
    stale_before = now - timedelta(seconds=flow.STALE_FIX_S)
    pt = func.ST_SetSRID(func.ST_MakePoint(inc.lon, inc.lat), 4326)
    q = (select(Unit.id, Unit.callsign, Unit.kind, Unit.status, Target.last_fix_at,
                func.ST_X(Target.last_location).label("lon"), func.ST_Y(Target.last_location).label("lat"),
                func.ST_Distance(func.Geography(Target.last_location), func.Geography(pt)).label("distance_m"))
         .join(Target, Target.id == Unit.target_id)
         .where(Unit.status == "available", Target.last_location.is_not(None),
                division_filter(Unit.division_code, scope))
         .order_by(Target.last_location.op("<->")(pt)).limit(SHORTLIST * 3))
    if kind:
        q = q.where(Unit.kind == kind)
    rows = (await conn.execute(q)).mappings().all()
    fresh = [r for r in rows if r["last_fix_at"] and r["last_fix_at"] >= stale_before][:SHORTLIST]
    stale = [r for r in rows if not (r["last_fix_at"] and r["last_fix_at"] >= stale_before)]
    etas = await road_etas(conn, [(r["lon"], r["lat"]) for r in fresh], (inc.lon, inc.lat))

    def item(r, eta):
        return {"unit_id": r["id"], "callsign": r["callsign"], "kind": r["kind"], "lon": r["lon"], "lat": r["lat"],
                "distance_m": round(r["distance_m"], 1), "eta_s": eta,
                "last_fix_at": r["last_fix_at"].isoformat() if r["last_fix_at"] else None}

    ranked = sorted((item(r, e) for r, e in zip(fresh, etas, strict=True)),
                    key=lambda x: (x["eta_s"] is None, x["eta_s"] or 0.0, x["distance_m"]))
    return {"incident_id": incident_id, "recommended": ranked[:count],
            "stale": [item(r, None) | {"stale": True} for r in stale[:count]]}


async def assign(conn: AsyncConnection, scope: Scope, incident_id: int, unit_ids: list[int],
                 assigned_by: int | None) -> list[dict]:
    if not unit_ids:
        raise InvalidInput("choose at least one unit", field="unit_ids")
    inc = await _incident_point(conn, scope, incident_id)
    if inc.status in ("resolved", "closed"):
        raise Conflict(f"incident is {inc.status}")
    units = (await conn.execute(select(Unit.id, Unit.status, Unit.callsign, Unit.division_code,
                                       func.ST_X(Target.last_location).label("lon"),
                                       func.ST_Y(Target.last_location).label("lat"))
                                .outerjoin(Target, Target.id == Unit.target_id)
                                .where(Unit.id.in_(unit_ids)).with_for_update(of=Unit))).mappings().all()
    found = {u["id"]: u for u in units if scope.covers(u["division_code"])}
    for uid in unit_ids:
        if uid not in found:
            raise NotFound(f"unit {uid} not found")
        if found[uid]["status"] != "available":
            raise Conflict(f"unit {found[uid]['callsign']} is {found[uid]['status']}, not available")
    out = []
    for uid in unit_ids:
        u = found[uid]
        eta, geo = None, None
        if u["lon"] is not None:
            eta = (await road_etas(conn, [(u["lon"], u["lat"])], (inc.lon, inc.lat)))[0]
            geo = await route(conn, (u["lon"], u["lat"]), (inc.lon, inc.lat)) if eta is not None else None
        did = (await conn.execute(insert(Dispatch).values(
            incident_id=incident_id, unit_id=uid, status="assigned", assigned_by=assigned_by, eta_s=eta,
            route=func.ST_SetSRID(func.ST_GeomFromGeoJSON(orjson.dumps(geo).decode()), 4326) if geo else None)
            .returning(Dispatch.id))).scalar_one()
        await conn.execute(update(Unit).where(Unit.id == uid).values(status="assigned"))
        out.append({"dispatch_id": did, "unit_id": uid, "callsign": u["callsign"], "eta_s": eta, "route": geo})
    if inc.status == "new":
        await conn.execute(update(Incident).where(Incident.id == incident_id)
                           .values(status="dispatched", dispatched_at=datetime.now(UTC)))
    return out


async def set_status(conn: AsyncConnection, scope: Scope, dispatch_id: int, wanted: str,
                     acting_user: int | None = None, officer_only: bool = False) -> dict:
    d = (await conn.execute(select(Dispatch.id, Dispatch.status, Dispatch.unit_id, Dispatch.incident_id,
                                   Unit.user_id, Unit.division_code, Incident.division_code.label("incident_division"),
                                   func.ST_X(Incident.location).label("lon"), func.ST_Y(Incident.location).label("lat"))
                            .join(Unit, Unit.id == Dispatch.unit_id).join(Incident, Incident.id == Dispatch.incident_id)
                            .where(Dispatch.id == dispatch_id).with_for_update(of=Dispatch))).mappings().first()
    if d is None or (officer_only and d["user_id"] != acting_user) or (
            not officer_only and not scope.covers(d["division_code"])):
        raise NotFound(f"dispatch {dispatch_id} not found")
    status = flow.next_dispatch_status(d["status"], wanted)
    now = datetime.now(UTC)
    values = {"status": status}
    if status in flow.DISPATCH_STAMP:
        values[flow.DISPATCH_STAMP[status]] = now
    await conn.execute(update(Dispatch).where(Dispatch.id == dispatch_id).values(**values))
    await conn.execute(update(Unit).where(Unit.id == d["unit_id"]).values(status=flow.UNIT_STATUS[status]))
    if status == "on_scene":
        await conn.execute(update(Incident).where(Incident.id == d["incident_id"],
                                                  Incident.status.in_(["new", "dispatched"]))
                           .values(status="on_scene", on_scene_at=now))
    # Routing fields for the live feed: the incident's division and place.
    return {"dispatch_id": dispatch_id, "incident_id": d["incident_id"], "unit_id": d["unit_id"], "status": status,
            "division": d["incident_division"], "lon": d["lon"], "lat": d["lat"]}


async def on_position(conn: AsyncConnection, target_id: int, lon: float, lat: float) -> list[dict]:
    """A unit moved: refresh the ETA of its active dispatch; inside the arrival radius it is on scene."""
    rows = (await conn.execute(text("""
        SELECT d.id, d.status, d.incident_id, i.division_code, ST_X(i.location) AS ilon, ST_Y(i.location) AS ilat,
               ST_Distance(i.location::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography) AS dist
        FROM dispatch d JOIN unit u ON u.id = d.unit_id JOIN incident i ON i.id = d.incident_id
        WHERE u.target_id = :t AND d.status IN ('assigned', 'en_route')"""),
        {"t": target_id, "x": lon, "y": lat})).mappings().all()
    changes = []
    for d in rows:
        if d["dist"] <= flow.ARRIVAL_RADIUS_M:
            if d["status"] == "assigned":
                await set_status(conn, Scope(("",), 99, None), d["id"], "en_route")
            changes.append(await set_status(conn, Scope(("",), 99, None), d["id"], "on_scene") | {"eta_s": 0.0})
            await conn.execute(update(Dispatch).where(Dispatch.id == d["id"]).values(eta_s=0.0))
            continue
        eta = (await road_etas(conn, [(lon, lat)], (d["ilon"], d["ilat"])))[0]
        await conn.execute(update(Dispatch).where(Dispatch.id == d["id"]).values(eta_s=eta))
        changes.append({"dispatch_id": d["id"], "incident_id": d["incident_id"], "status": d["status"],
                        "eta_s": eta, "division": d["division_code"], "lon": d["ilon"], "lat": d["ilat"]})
    return changes


async def my_assignment(conn: AsyncConnection, user_id: int) -> dict:
    """The officer's unit and its active dispatch (with incident, route and ETA), if any."""
    unit = (await conn.execute(select(Unit.id, Unit.callsign, Unit.status, Unit.target_id)
                               .where(Unit.user_id == user_id))).mappings().first()
    if unit is None:
        return {"unit": None, "dispatch": None}
    d = (await conn.execute(text("""
        SELECT d.id, d.status, d.eta_s, d.incident_id, ST_AsGeoJSON(d.route, 6) AS route, i.type, i.priority,
               i.description, i.address, ST_X(i.location) AS lon, ST_Y(i.location) AS lat
        FROM dispatch d JOIN incident i ON i.id = d.incident_id
        WHERE d.unit_id = :u AND d.status IN ('assigned', 'en_route', 'on_scene') ORDER BY d.id DESC LIMIT 1"""),
        {"u": unit["id"]})).mappings().first()
    disp = None
    if d:
        route_geo = orjson.loads(d["route"]) if d["route"] else None
        disp = {**{k: v for k, v in d.items() if k != "route"}, "route": route_geo}
    return {"unit": dict(unit), "dispatch": disp}


async def list_units(conn: AsyncConnection, scope: Scope, now: datetime | None = None) -> list[dict]:
    now = now or datetime.now(UTC)
    rows = (await conn.execute(select(Unit.id, Unit.callsign, Unit.kind, Unit.status, Unit.division_code,
                                      Unit.target_id, Target.last_fix_at,
                                      func.ST_X(Target.last_location).label("lon"),
                                      func.ST_Y(Target.last_location).label("lat"), Target.last_course_deg)
                               .outerjoin(Target, Target.id == Unit.target_id)
                               .where(division_filter(Unit.division_code, scope)).order_by(Unit.id))).mappings().all()
    stale_before = now - timedelta(seconds=flow.STALE_FIX_S)
    return [{**{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()},
             "stale": not (r["last_fix_at"] and r["last_fix_at"] >= stale_before)} for r in rows]
