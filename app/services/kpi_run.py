"""KPIs per division at every level: SQL aggregates per own division, rolled up in Python, stored.

A camera or key area belongs to its ``division_code``, or else to the deepest division whose boundary
contains it. Main-road length is measured inside each boundary that exists.

Retention is measured where it can be: a GB/T 28181 channel's is what its device last said it holds
(``recording_check``, written by the recordings sweep), unknown until its device answered; only cameras
the platform cannot ask (loaded from files) count with their declared ``retention_days``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.scoping import OPEN
from app.domain import kpi
from app.domain.osm_tags import DEFAULT_RETENTION_DAYS, KEY_AREA_RETENTION_DAYS
from app.services import planning_inputs as inp

WINDOW_DAYS = 30

_CAMERAS = text("""
WITH cam AS (
  SELECT c.*, COALESCE(c.division_code, (
      SELECT d.code FROM division d WHERE ST_Contains(d.boundary, c.location) ORDER BY d.level DESC LIMIT 1
  )) AS dcode,
  EXISTS (SELECT 1 FROM key_area k WHERE ST_Intersects(k.area, c.view)) AS key_cam,
  CASE WHEN c.source = 'gb28181' THEN (SELECT rc.days FROM recording_check rc WHERE rc.camera_id = c.id)
       ELSE c.retention_days END AS held_days
  FROM camera c WHERE c.status <> 'planned'
),
ev AS (
  SELECT e.camera_id, e.status, e.at, LEAD(e.at) OVER (PARTITION BY e.camera_id ORDER BY e.at) AS next_at
  FROM camera_status_event e WHERE e.at < :t1
),
seg AS (
  SELECT camera_id, status, GREATEST(at, CAST(:t0 AS timestamptz)) AS a,
         LEAST(COALESCE(next_at, :t1), CAST(:t1 AS timestamptz)) AS b
  FROM ev WHERE COALESCE(next_at, :t1) > :t0
),
up AS (
  SELECT camera_id, SUM(EXTRACT(EPOCH FROM b - a)) FILTER (WHERE status = 'online') AS online_s,
         SUM(EXTRACT(EPOCH FROM b - a)) AS observed_s
  FROM seg GROUP BY camera_id
)
SELECT cam.dcode, cam.secrecy > 0 AS secret, count(*) AS cameras,
  count(*) FILTER (WHERE cam.networked) AS networked,
  count(*) FILTER (WHERE cam.hd) AS hd,
  count(*) FILTER (WHERE cam.held_days >=
    CASE WHEN cam.key_cam THEN CAST(:key_ret AS int) ELSE CAST(:other_ret AS int) END) AS retention_ok,
  count(cam.held_days) AS retention_known,
  -- No history in the window: the current status stands for the whole window.
  SUM(COALESCE(up.online_s,
    CASE WHEN cam.status = 'online' THEN CAST(:window_s AS float8) ELSE 0 END)) AS online_s,
  SUM(COALESCE(up.observed_s, CAST(:window_s AS float8))) AS observed_s,
  array_agg(cam.id) FILTER (WHERE cam.secrecy > 0) AS secret_ids
FROM cam LEFT JOIN up ON up.camera_id = cam.id
WHERE cam.dcode IS NOT NULL GROUP BY cam.dcode, cam.secrecy > 0
""")

_KEY_AREAS = text("""
SELECT COALESCE(k.division_code, (
    SELECT d.code FROM division d WHERE ST_Contains(d.boundary, ST_PointOnSurface(k.area))
    ORDER BY d.level DESC LIMIT 1
  )) AS dcode, count(*) AS n,
  SUM(COALESCE(kc.area_m2, ST_Area(k.area::geography))) AS m2, SUM(COALESCE(kc.covered_m2, 0)) AS covered,
  SUM(COALESCE(ko.covered_m2, kc.covered_m2, 0)) AS open_covered,
  string_agg(array_to_string(kc.secret_ids, ','), ',') FILTER (WHERE cardinality(kc.secret_ids) > 0) AS secret_ids
FROM key_area k LEFT JOIN key_area_coverage kc ON kc.key_area_id = k.id AND kc.mode = 'all'
LEFT JOIN key_area_coverage ko ON ko.key_area_id = k.id AND ko.mode = 'all.open'
GROUP BY 1
""")

_ROADS = text("""
SELECT d.code, SUM(ST_Length(ST_Intersection(e.geom, d.boundary)::geography)) AS m
FROM division d JOIN road_edge e ON e.geom && d.boundary AND ST_Intersects(e.geom, d.boundary)
WHERE e.highway = ANY(:main) GROUP BY d.code
""")


def _add(acc: dict[str, float], counts: dict) -> None:
    for k, v in counts.items():
        acc[k] += float(v or 0)


def _rollup_ids(own: dict[str, set[int]], codes: list[str]) -> dict[str, list[int]]:
    """Per division, the secret cameras its subtree's figures count (the reader must see them all)."""
    out: dict[str, set[int]] = {c: set() for c in codes}
    for code, ids in own.items():
        for anc in kpi.ancestors(code):
            if anc in out:
                out[anc] |= ids
    return {c: sorted(ids) for c, ids in out.items()}


async def compute_kpis(
    conn: AsyncConnection, window_days: int = WINDOW_DAYS, now: datetime | None = None
) -> int:
    """Recompute and store the KPIs of every division; returns the number of divisions."""
    t1 = now or datetime.now(UTC)
    t0 = t1 - timedelta(days=window_days)
    # Two sets of counts: every camera, and the open ones (secrecy 0) for readers not cleared for the
    # secret cameras a division's figures count (``secret``; ``app.db.scoping.figure_sql`` chooses).
    own: dict[str, dict[str, float]] = {}
    own_open: dict[str, dict[str, float]] = {}
    secret: dict[str, set[int]] = {}
    for r in (
        await conn.execute(
            _CAMERAS,
            {
                "t0": t0,
                "t1": t1,
                "window_s": float(window_days * 86400),
                "key_ret": KEY_AREA_RETENTION_DAYS,
                "other_ret": DEFAULT_RETENTION_DAYS,
            },
        )
    ).mappings():
        counts = {
            "cameras": r["cameras"],
            "networked": r["networked"],
            "hd": r["hd"],
            "retention_ok": r["retention_ok"],
            "retention_known": r["retention_known"],
            "online_s": float(r["online_s"] or 0),
            "observed_s": float(r["observed_s"] or 0),
        }
        for target in (own, own_open) if not r["secret"] else (own,):
            _add(target.setdefault(r["dcode"], kpi.empty()), counts)
        secret.setdefault(r["dcode"], set()).update(r["secret_ids"] or ())
    for r in (await conn.execute(_KEY_AREAS)).mappings():
        if r["dcode"] is not None:
            areas = {"key_areas": r["n"], "key_area_m2": float(r["m2"] or 0)}
            _add(own.setdefault(r["dcode"], kpi.empty()), {**areas, "key_area_covered_m2": float(r["covered"] or 0)})
            _add(own_open.setdefault(r["dcode"], kpi.empty()),
                 {**areas, "key_area_covered_m2": float(r["open_covered"] or 0)})
            secret.setdefault(r["dcode"], set()).update(int(i) for i in (r["secret_ids"] or "").split(",") if i)
    road_m = {r[0]: float(r[1] or 0) for r in await conn.execute(_ROADS, {"main": inp.MAIN_ROADS})}
    codes = list((await conn.execute(text("SELECT code FROM division"))).scalars())
    rolled = kpi.rollup(own, codes, road_m)
    rolled_open = kpi.rollup(own_open, codes, road_m)
    secret_in = _rollup_ids(secret, codes)
    await conn.execute(text("DELETE FROM division_kpi"))
    rows = [
        {"code": c, "mode": "all", "secret": secret_in[c], "w": window_days, "counts": counts, **kpi.rates(counts)}
        for c, counts in rolled.items()
    ] + [
        {"code": c, "mode": "all" + OPEN, "secret": secret_in[c], "w": window_days, "counts": counts,
         **kpi.rates(counts)}
        for c, counts in rolled_open.items() if secret_in[c]
    ]
    if rows:
        from sqlalchemy import bindparam
        from sqlalchemy.dialects.postgresql import JSONB

        await conn.execute(
            text(
                "INSERT INTO division_kpi (division_code, mode, secret_ids, window_days, counts,"
                " key_area_surface_rate, networked_rate,"
                " online_rate, hd_rate, retention_compliance_rate, cameras_per_main_road_km) VALUES"
                " (:code, :mode, :secret, :w, :counts,"
                " :key_area_surface_rate, :networked_rate, :online_rate, :hd_rate,"
                " :retention_compliance_rate,"
                " :cameras_per_main_road_km)"
            ).bindparams(bindparam("counts", type_=JSONB)),
            rows,
        )
    return len(rolled)
