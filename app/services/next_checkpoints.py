"""The checkpoints to intercept a watched vehicle at, after a hit (app/domain/next_checkpoints.py ranks them).

Candidates: the nearest positioned checkpoints around the hit that the caller's scope covers; their driving
time from the hit, one pgRouting query from the hit to all of them on the dispatch routing's graph (its
snapping, its costs, its off-road legs); and the platform's own history at the hit's checkpoint: for its
latest passes, where the same plate was seen next within the hour. At each of the chosen ones, the free units
of the caller's divisions with a fresh fix that reach it by road before the vehicle (the dispatch ETAs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import Target, Unit
from app.db.scoping import division_filter, scope_sql
from app.domain import dispatch as flow
from app.domain import next_checkpoints as nc
from app.domain.access import Scope
from app.services import dispatch

RADIUS_M = 15_000.0
NEAREST = 12
HISTORY = 2000  # latest passes at the hit's checkpoint looked at for transitions
UNITS = 8  # free units nearest the hit that get a road ETA to each checkpoint

_CANDIDATES = """
SELECT t.tollgate_id, t.name, ST_X(t.location) AS lon, ST_Y(t.location) AS lat
FROM viid_tollgate t
WHERE t.location IS NOT NULL AND t.tollgate_id IS DISTINCT FROM :tg AND {cond}
  AND ST_DWithin(t.location::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography, :r)
ORDER BY t.location <-> ST_SetSRID(ST_MakePoint(:x, :y), 4326), t.tollgate_id LIMIT :n"""

_SEEN_NEXT = text("""
SELECT nxt.tollgate_id, count(*) AS n
FROM (SELECT plate_no, pass_time FROM viid_motor_vehicle
      WHERE tollgate_id = :tg AND plate_no IS NOT NULL ORDER BY pass_time DESC LIMIT :h) a
CROSS JOIN LATERAL (SELECT b.tollgate_id FROM viid_motor_vehicle b
                    WHERE b.plate_no = a.plate_no AND b.pass_time > a.pass_time
                      AND b.pass_time <= a.pass_time + interval '1 hour'
                    ORDER BY b.pass_time LIMIT 1) nxt
WHERE nxt.tollgate_id IS DISTINCT FROM :tg GROUP BY nxt.tollgate_id""")


async def etas_from(conn: AsyncConnection, start: tuple[float, float], dests: list[tuple[float, float]]
                    ) -> list[float | None]:
    """Seconds driving from ``start`` to each of ``dests`` (None: not connected by road). The dispatch
    routing's ``road_etas`` goes many → one; a vehicle leaving a checkpoint goes one → many, and on one-way
    streets the two differ."""
    if not dests:
        return []
    snapped = await dispatch._snap(conn, [start, *dests])  # the same snapping as dispatch
    if snapped[0] is None:
        return [None] * len(dests)
    usable = [k for k, sn in enumerate(snapped[1:]) if sn is not None]
    pts = [snapped[0]] + [snapped[k + 1] for k in usable]
    rows = (await conn.execute(text(
        "SELECT end_pid, agg_cost FROM pgr_withPointsCost(CAST(:edges AS text), CAST(:points AS text),"
        " CAST(-1 AS bigint), CAST(:ends AS bigint[]), directed := true, driving_side := 'b')"),
        {"edges": dispatch._edges_sql([start, *dests]), "points": dispatch._points_sql(pts),
         "ends": [-(j + 2) for j in range(len(usable))]})).all()
    cost = {usable[-int(r.end_pid) - 2]: r.agg_cost for r in rows}
    off = dispatch.OFFROAD_KMH / 3.6
    out: list[float | None] = []
    for k, sn in enumerate(snapped[1:]):
        c = 0.0 if sn is not None and sn[:2] == snapped[0][:2] else cost.get(k)
        out.append(None if c is None or sn is None else round(c + (snapped[0][2] + sn[2]) / off, 1))
    return out


async def _free_units(conn: AsyncConnection, scope: Scope, lon: float, lat: float) -> list:
    pt = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
    fresh = datetime.now(UTC) - timedelta(seconds=flow.STALE_FIX_S)
    return list((await conn.execute(
        select(Unit.id, Unit.callsign, Unit.kind, Target.last_course_deg, Target.last_speed_kmh,
               func.ST_X(Target.last_location).label("lon"), func.ST_Y(Target.last_location).label("lat"))
        .join(Target, Target.id == Unit.target_id)
        .where(Unit.status == "available", Target.last_location.is_not(None), Target.last_fix_at >= fresh,
               division_filter(Unit.division_code, scope))
        .order_by(Target.last_location.op("<->")(pt), Unit.id).limit(UNITS))).all())


async def _interceptors(conn: AsyncConnection, units: list, gate: dict, elapsed_s: float) -> list[dict]:
    if not units:
        return []
    etas = await dispatch.road_etas(conn, [(u.lon, u.lat) for u in units], (gate["lon"], gate["lat"]),
                                    [flow.moving_course(u.last_course_deg, u.last_speed_kmh) for u in units],
                                    [flow.travel_mode(u.kind) for u in units])
    fast = nc.interceptors(gate["eta_s"], elapsed_s,
                           [nc.Unit(u.id, u.callsign, eta) for u, eta in zip(units, etas, strict=True)])
    return [{"unit_id": u.unit_id, "callsign": u.callsign, "eta_s": u.eta_s} for u in fast]


async def next_checkpoints(conn: AsyncConnection, scope: Scope, tollgate_id: str | None, lon: float | None,
                           lat: float | None, passed_at: datetime | None = None,
                           count: int = nc.DEFAULT_COUNT) -> list[dict]:
    """The likely next checkpoints after a hit at (lon, lat) at ``passed_at``, best first: id, name, position,
    ETA, history, and the units that can be there first."""
    if lon is None or lat is None:
        return []
    cond, params = ("TRUE", {}) if scope.everywhere else scope_sql(scope, "t.division_code", prefix="nc")
    rows = (await conn.execute(text(_CANDIDATES.format(cond=cond)), {
        **params, "tg": tollgate_id, "x": lon, "y": lat, "r": RADIUS_M, "n": NEAREST})).mappings().all()
    if not rows:
        return []
    seen = {} if tollgate_id is None else {
        r.tollgate_id: r.n for r in await conn.execute(_SEEN_NEXT, {"tg": tollgate_id, "h": HISTORY})}
    etas = await etas_from(conn, (lon, lat), [(r["lon"], r["lat"]) for r in rows])
    cands = [nc.Candidate(r["tollgate_id"], r["name"], r["lon"], r["lat"], eta, seen.get(r["tollgate_id"], 0))
             for r, eta in zip(rows, etas, strict=True)]
    gates = [{"tollgate_id": c.tollgate_id, "name": c.name, "lon": c.lon, "lat": c.lat, "eta_s": c.eta_s,
              "seen_next": c.seen_next} for c in nc.rank(tollgate_id, cands, count)]
    units = await _free_units(conn, scope, lon, lat) if gates else []
    elapsed = (datetime.now(UTC) - passed_at).total_seconds() if passed_at else 0.0
    for g in gates:
        g["units"] = await _interceptors(conn, units, g, elapsed)
    return gates
