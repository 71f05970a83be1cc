"""Dispatch: recommend the nearest free units by road (pgRouting), assign them, follow them to the scene."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from pyproj import Geod
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import AppUser, Dispatch, Incident, Target, Unit
from app.db.scoping import division_filter
from app.domain import dispatch as flow
from app.domain.access import Scope
from app.domain.errors import Conflict, InvalidInput, NotFound

_MOTION = (Target.last_course_deg.label("course"), Target.last_speed_kmh.label("speed"))
SHORTLIST = 12  # straight-line nearest candidates that get a road ETA
OFFROAD_KMH = 15.0  # from a unit's fix to the road graph and from the graph to the scene
# Edges within a box around origin and destination: a bounded graph keeps Dijkstra fast on big cities.
EDGES_SQL = ("SELECT id, source, target, {cost} FROM road_edge "
             "WHERE geom && ST_Expand(ST_MakeEnvelope({x1}, {y1}, {x2}, {y2}, 4326), 0.03)")
# Seconds per edge: a car's (one-way streets refused: negative), or on foot along any street either way.
COSTS = {"drive": "cost, reverse_cost",
         "walk": f"length_m / {flow.WALK_KMH / 3.6!r} AS cost, length_m / {flow.WALK_KMH / 3.6!r} AS reverse_cost"}
GEOD = Geod(ellps="WGS84")


async def _incident_point(conn: AsyncConnection, scope: Scope, incident_id: int):
    r = (await conn.execute(select(Incident.id, Incident.status, Incident.division_code,
                                   func.ST_X(Incident.location).label("lon"), func.ST_Y(Incident.location).label("lat"))
                            .where(Incident.id == incident_id))).first()
    if r is None or not scope.covers(r.division_code):
        raise NotFound(f"incident {incident_id} not found")
    return r


async def _snap(conn: AsyncConnection, points: list[tuple[float, float]], courses: list[float | None] | None = None
                ) -> list[tuple[int, float, float] | None]:
    """Each point's place on the road graph: (drivable edge, fraction along it, distance to it in m).

    Routing then starts and ends *on* that edge (pgRouting's withPoints), not at its nearest node, which
    may lie behind the unit: a route to it would run back and forth along the first street. With a course
    (a moving unit), the edge is the nearest one it can drive along that way among those within
    ``flow.SNAP_SLACK_M`` of the nearest: on a divided road GPS error often puts a car closer to the
    opposite carriageway, and a route from there starts with a U-turn loop."""
    if not points:
        return []
    rows = (await conn.execute(text("""
        SELECT s.i, e.id, e.f, e.d, e.fwd, e.rev, degrees(ST_Azimuth(
                   ST_LineInterpolatePoint(e.geom, greatest(e.f - 0.01, 0))::geography,
                   ST_LineInterpolatePoint(e.geom, least(e.f + 0.01, 1))::geography)) AS az
        FROM (SELECT i, ST_SetSRID(ST_MakePoint(x, y), 4326) AS p
              FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS u(x, y, i)) s
        CROSS JOIN LATERAL (SELECT id, geom, ST_LineLocatePoint(geom, s.p) AS f, cost >= 0 AS fwd,
                                   reverse_cost >= 0 AS rev, ST_Distance(geom::geography, s.p::geography) AS d
                            FROM road_edge WHERE cost >= 0 OR reverse_cost >= 0
                            ORDER BY geom <-> s.p LIMIT 4) e
        ORDER BY s.i, e.d"""),
        {"xs": [p[0] for p in points], "ys": [p[1] for p in points]})).all()
    cands: dict[int, list[flow.EdgeCandidate]] = {}
    for r in rows:
        cands.setdefault(r.i, []).append(flow.EdgeCandidate(r.id, r.f, r.d, r.fwd, r.rev, r.az))
    out: list[tuple[int, float, float] | None] = []
    for k in range(len(points)):
        c = flow.pick_edge(cands.get(k + 1, []), courses[k] if courses else None)
        # Strictly inside the edge: pgRouting 3.4 returns no cost at all for a point at fraction 0 or 1 (it
        # becomes the edge's vertex); 1e-9 of an edge is well under a millimetre.
        out.append(None if c is None else (c.edge, min(max(c.fraction, 1e-9), 1 - 1e-9), c.distance_m))
    return out


def _points_sql(snapped: list[tuple[int, float, float]]) -> str:
    """pgRouting's points SQL for snapped places; point k is vertex -(k+1). Numbers only (from our query)."""
    rows = ", ".join(f"({k + 1}, {int(e)}, {float(f)!r}::float8)" for k, (e, f, _) in enumerate(snapped))
    return f"SELECT pid, edge_id, fraction, 'b'::char AS side FROM (VALUES {rows}) AS p(pid, edge_id, fraction)"


def _edges_sql(points: list[tuple[float, float]], mode: str = "drive") -> str:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return EDGES_SQL.format(cost=COSTS[mode], x1=min(xs), y1=min(ys), x2=max(xs), y2=max(ys))


async def road_etas(conn: AsyncConnection, starts: list[tuple[float, float]], dest: tuple[float, float],
                    courses: list[float | None] | None = None, modes: list[str] | None = None
                    ) -> list[float | None]:
    """Seconds from each start to dest; None when the road graph does not connect them (never 0).
    ``courses``: each start's heading when it is moving (degrees), else None; ``modes``: each start's
    ``flow.travel_mode`` (default: all drive)."""
    modes = modes or ["drive"] * len(starts)
    out: list[float | None] = [None] * len(starts)
    for mode in ("drive", "walk"):
        idx = [k for k, m in enumerate(modes) if m == mode]
        if idx:
            part = await _graph_etas(conn, [starts[k] for k in idx], dest,
                                     [courses[k] for k in idx] if courses and mode == "drive" else None, mode)
            for k, eta in zip(idx, part, strict=True):
                out[k] = eta
    for k, m in enumerate(modes):
        if m == "fly":
            out[k] = flow.flight_s(GEOD.inv(*starts[k], *dest)[2])
    return out


async def _graph_etas(conn: AsyncConnection, starts: list[tuple[float, float]], dest: tuple[float, float],
                      courses: list[float | None] | None, mode: str) -> list[float | None]:
    if not starts:
        return []
    snapped = await _snap(conn, [*starts, dest], [*courses, None] if courses else None)
    goal = snapped[-1]
    usable = [k for k, sn in enumerate(snapped[:-1]) if sn is not None]
    if goal is None or not usable:
        return [None] * len(starts)
    pts = [snapped[k] for k in usable] + [goal]
    rows = (await conn.execute(text(
        "SELECT * FROM pgr_withPointsCost(CAST(:edges AS text), CAST(:points AS text),"
        " CAST(:starts AS bigint[]), CAST(:goal AS bigint), directed := :directed, driving_side := 'b')"),
        {"edges": _edges_sql([*starts, dest], mode), "points": _points_sql(pts), "directed": mode == "drive",
         "starts": [-(j + 1) for j in range(len(usable))], "goal": -len(pts)})).all()
    # (start, end, agg_cost): named start_pid/end_pid in pgRouting 3.4, start_vid/end_vid later.
    cost = {usable[-r[0] - 1]: r[-1] for r in rows}
    off = (OFFROAD_KMH if mode == "drive" else flow.WALK_KMH) / 3.6
    out: list[float | None] = []
    for k, sn in enumerate(snapped[:-1]):
        same = sn is not None and sn[:2] == goal[:2]  # the very same place on the graph: no road leg
        c = 0.0 if same else cost.get(k)
        out.append(None if c is None else round(c + (sn[2] + goal[2]) / off, 1))
    return out


def _route_geom(geo: dict | None):
    """A route GeoJSON as the column's value (None stays None: unreachable)."""
    return func.ST_SetSRID(func.ST_GeomFromGeoJSON(orjson.dumps(geo).decode()), 4326) if geo else None


async def route(conn: AsyncConnection, start: tuple[float, float], dest: tuple[float, float],
                course: float | None = None, mode: str = "drive") -> dict | None:
    """GeoJSON LineString of the route (unit → its street … the scene's street → scene), or None when
    unreachable. Each leg of the path is the traversed part of its edge, the first and last ones partial.
    A drone's route is the straight line."""
    if mode == "fly":
        return {"type": "LineString", "coordinates": [list(start), list(dest)]}
    a, b = await _snap(conn, [start, dest], [course if mode == "drive" else None, None])
    if a is None or b is None:
        return None
    geo = (await conn.execute(text("""
        WITH pts(pid, edge_id, fraction) AS (VALUES (-1, CAST(:ea AS bigint), CAST(:fa AS float8)),
                                                    (-2, CAST(:eb AS bigint), CAST(:fb AS float8))),
        path AS (SELECT seq, node, edge, LEAD(node) OVER (ORDER BY seq) AS next
                 FROM pgr_withPoints(CAST(:edges AS text), CAST(:points AS text), -1, -2,
                                     directed := :directed, driving_side := 'b')),
        legs AS (SELECT p.seq, e.geom,
                        CASE WHEN p.node < 0 THEN (SELECT fraction FROM pts WHERE pid = p.node)
                             WHEN p.node = e.source THEN 0.0 ELSE 1.0 END AS f0,
                        CASE WHEN p.next < 0 THEN (SELECT fraction FROM pts WHERE pid = p.next)
                             WHEN p.next = e.source THEN 0.0 ELSE 1.0 END AS f1
                 FROM path p JOIN road_edge e ON e.id = p.edge),
        segs AS (SELECT seq, CASE WHEN f0 <= f1 THEN ST_LineSubstring(geom, f0, f1)
                                  ELSE ST_Reverse(ST_LineSubstring(geom, f1, f0)) END AS g FROM legs)
        SELECT ST_AsGeoJSON(ST_RemoveRepeatedPoints(ST_MakeLine(ARRAY[ST_SetSRID(ST_MakePoint(:sx, :sy), 4326)]
               || (SELECT array_agg(pt ORDER BY seq, i) FROM (
                     SELECT s.seq, d.path[1] AS i, d.geom AS pt FROM segs s, ST_DumpPoints(s.g) d) q)
               || ARRAY[ST_SetSRID(ST_MakePoint(:dx, :dy), 4326)])), 6)
        WHERE EXISTS (SELECT 1 FROM path)"""),
        {"edges": _edges_sql([start, dest], mode), "points": _points_sql([a, b]), "directed": mode == "drive",
         "ea": a[0], "fa": a[1],
         "eb": b[0], "fb": b[1], "sx": start[0], "sy": start[1], "dx": dest[0], "dy": dest[1]})).scalar()
    if geo is None and a[:2] == b[:2]:  # the same place on the graph: straight there
        return {"type": "LineString", "coordinates": [list(start), list(dest)]}
    return orjson.loads(geo) if geo else None


async def recommend(conn: AsyncConnection, scope: Scope, incident_id: int, kind: str | None = None,
                    count: int = 5, now: datetime | None = None) -> dict:
    inc = await _incident_point(conn, scope, incident_id)
    now = now or datetime.now(UTC)
    stale_before = now - timedelta(seconds=flow.STALE_FIX_S)
    pt = func.ST_SetSRID(func.ST_MakePoint(inc.lon, inc.lat), 4326)
    q = (select(Unit.id, Unit.callsign, Unit.kind, Unit.status, Target.last_fix_at, *_MOTION,
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
    etas = await road_etas(conn, [(r["lon"], r["lat"]) for r in fresh], (inc.lon, inc.lat),
                           [flow.moving_course(r["course"], r["speed"]) for r in fresh],
                           [flow.travel_mode(r["kind"]) for r in fresh])

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
    units = (await conn.execute(select(Unit.id, Unit.status, Unit.callsign, Unit.kind, Unit.division_code,
                                       func.ST_X(Target.last_location).label("lon"),
                                       func.ST_Y(Target.last_location).label("lat"), *_MOTION)
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
            course, mode = flow.moving_course(u["course"], u["speed"]), flow.travel_mode(u["kind"])
            eta = (await road_etas(conn, [(u["lon"], u["lat"])], (inc.lon, inc.lat), [course], [mode]))[0]
            geo = (await route(conn, (u["lon"], u["lat"]), (inc.lon, inc.lat), course, mode)
                   if eta is not None else None)
        did = (await conn.execute(insert(Dispatch).values(
            incident_id=incident_id, unit_id=uid, status="assigned", assigned_by=assigned_by, eta_s=eta,
            route=_route_geom(geo))
            .returning(Dispatch.id))).scalar_one()
        await conn.execute(update(Unit).where(Unit.id == uid).values(status="assigned"))
        out.append({"dispatch_id": did, "unit_id": uid, "callsign": u["callsign"], "eta_s": eta, "route": geo,
                    "unit_division": u["division_code"]})
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
            "division": d["incident_division"], "unit_division": d["division_code"], "lon": d["lon"], "lat": d["lat"]}


async def on_position(conn: AsyncConnection, target_id: int, lon: float, lat: float,
                      course: float | None = None) -> list[dict]:
    """A unit moved (heading ``course`` when moving): refresh the ETA and route of its active dispatch;
    inside the arrival radius it is on scene."""
    rows = (await conn.execute(text("""
        SELECT d.id, d.status, d.incident_id, u.kind, i.division_code, u.division_code AS unit_division,
               ST_X(i.location) AS ilon,
               ST_Y(i.location) AS ilat,
               ST_Distance(i.location::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography) AS dist
        FROM dispatch d JOIN unit u ON u.id = d.unit_id JOIN incident i ON i.id = d.incident_id
        WHERE u.target_id = :t AND d.status IN ('assigned', 'en_route')"""),
        {"t": target_id, "x": lon, "y": lat})).mappings().all()
    changes = []
    for d in rows:
        if d["dist"] <= flow.ARRIVAL_RADIUS_M:
            if d["status"] == "assigned":
                await set_status(conn, Scope.everywhere_up_to(99), d["id"], "en_route")
            changes.append(await set_status(conn, Scope.everywhere_up_to(99), d["id"], "on_scene") | {"eta_s": 0.0})
            await conn.execute(update(Dispatch).where(Dispatch.id == d["id"]).values(eta_s=0.0))
            continue
        mode = flow.travel_mode(d["kind"])
        eta = (await road_etas(conn, [(lon, lat)], (d["ilon"], d["ilat"]), [course], [mode]))[0]
        # The route from where the unit is now: what it has driven drops off the map, a detour is re-routed.
        geo = await route(conn, (lon, lat), (d["ilon"], d["ilat"]), course, mode) if eta is not None else None
        await conn.execute(update(Dispatch).where(Dispatch.id == d["id"]).values(eta_s=eta, route=_route_geom(geo)))
        changes.append({"dispatch_id": d["id"], "incident_id": d["incident_id"], "status": d["status"],
                        "eta_s": eta, "route": geo, "division": d["division_code"], "unit_division": d["unit_division"],
                        "lon": d["ilon"], "lat": d["ilat"]})
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
                                      Unit.target_id, Target.protocol.label("tracker_protocol"),
                                      Target.external_id.label("tracker_id"), AppUser.username.label("officer"),
                                      Target.last_fix_at, func.ST_X(Target.last_location).label("lon"),
                                      func.ST_Y(Target.last_location).label("lat"), Target.last_course_deg)
                               .outerjoin(Target, Target.id == Unit.target_id)
                               .outerjoin(AppUser, AppUser.id == Unit.user_id)
                               .where(division_filter(Unit.division_code, scope)).order_by(Unit.id))).mappings().all()
    stale_before = now - timedelta(seconds=flow.STALE_FIX_S)
    return [{**{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()},
             "stale": not (r["last_fix_at"] and r["last_fix_at"] >= stale_before)} for r in rows]
