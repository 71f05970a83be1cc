"""Planner report export: standalone HTML map (``report_page``: pydeck, its JavaScript shipped beside the
page, never a CDN), CSV tables and GeoJSON layers, all read from the stored results."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import orjson
import shapely
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.scoping import figure_sql, scope_sql
from app.domain.access import Scope
from app.domain.errors import NotFound
from app.services import report_page

# Every query carries its scope condition (``{scope}``): rows tied to a division (key areas, cameras,
# KPIs) by the division and secrecy; road-network rows (no division of their own) by the boundaries of
# the reader's divisions. Cut in SQL, before any LIMIT, so a district planner never gets the city.
LAYERS = {
    "uncovered": (
        "SELECT kc.key_area_id AS id, k.name, k.division_code, kc.fraction, ST_AsGeoJSON(kc.uncovered, 7) AS g "
        "FROM key_area_coverage kc JOIN key_area k ON k.id = kc.key_area_id "
        "WHERE kc.mode IN (CAST(:m AS text), CAST(:m AS text) || '.open') AND {fig_kc}"
        " AND kc.uncovered IS NOT NULL AND {scope}",
        ("k.division_code", None, None),
    ),
    "blind_intersections": (
        "SELECT n.id, n.degree, ST_AsGeoJSON(n.location, 7) AS g FROM intersection_coverage ic "
        "JOIN road_node n ON n.id = ic.node_id "
        "WHERE ic.mode IN (CAST(:m AS text), CAST(:m AS text) || '.open') AND {fig_ic}"
        " AND NOT ic.covered AND {scope}",
        (None, None, "n.location"),
    ),
    "road_gaps": (
        "SELECT rc.edge_id AS id, e.name, e.highway, rc.blind_m, ST_AsGeoJSON(rc.blind, 7) AS g "
        "FROM road_coverage rc JOIN road_edge e ON e.id = rc.edge_id "
        "WHERE rc.mode IN (CAST(:m AS text), CAST(:m AS text) || '.open') AND {fig_rc}"
        " AND rc.blind IS NOT NULL AND {scope}",
        (None, None, "e.geom"),
    ),
    "duplicates": (
        "SELECT d.camera_id AS id, c.name, c.division_code, CASE WHEN {other} THEN d.other_camera_id END"
        " AS other_camera_id, d.overlap, d.suggested_heading_deg,"
        " d.suggested_gain_m2, ST_AsGeoJSON(c.location, 7) AS g, ST_X(d.suggested_location) AS to_lon,"
        " ST_Y(d.suggested_location) AS to_lat FROM camera_duplicate d JOIN camera c ON c.id = d.camera_id"
        " JOIN camera o ON o.id = d.other_camera_id WHERE {scope} AND (o.secrecy = 0 OR {other})",
        ("c.division_code", "c.secrecy", None),
    ),
    "cameras": (
        "SELECT c.id, c.name, c.status, c.division_code, ST_AsGeoJSON(c.view, 7) AS g FROM camera c "
        "WHERE (c.status <> 'planned' OR :m = 'all') AND {scope}",
        ("c.division_code", "c.secrecy", None),
    ),
}

TABLES = {
    "kpi": (
        "SELECT k.division_code, d.name, d.level, k.window_days, k.key_area_surface_rate, k.networked_rate,"
        " k.online_rate, k.hd_rate, k.retention_compliance_rate, k.cameras_per_main_road_km,"
        " (k.counts->>'cameras')::float8::int AS cameras FROM division_kpi k JOIN division d ON"
        " d.code = k.division_code WHERE {fig_k} AND {scope}"
        " ORDER BY d.level, k.division_code",
        ("d.code", None, None),
    ),
    "key_area_coverage": (
        "SELECT kc.key_area_id, k.name, k.category, k.division_code, split_part(kc.mode, '.', 1) AS mode,"
        " kc.area_m2, kc.covered_m2, kc.fraction"
        " FROM key_area_coverage kc JOIN key_area k ON k.id = kc.key_area_id WHERE {fig_kc} AND {scope}"
        " ORDER BY 5, kc.fraction",
        ("k.division_code", None, None),
    ),
    "blind_intersections": (
        "SELECT ic.node_id, split_part(ic.mode, '.', 1) AS mode, n.degree, ST_X(n.location) AS lon,"
        " ST_Y(n.location) AS lat FROM intersection_coverage ic JOIN road_node n ON n.id = ic.node_id"
        " WHERE NOT ic.covered AND {fig_ic} AND {scope} ORDER BY 2, ic.node_id",
        (None, None, "n.location"),
    ),
    "road_gaps": (
        "SELECT rc.edge_id, split_part(rc.mode, '.', 1) AS mode, e.name, e.highway, rc.length_m, rc.blind_m"
        " FROM road_coverage rc JOIN road_edge e ON e.id = rc.edge_id"
        " WHERE rc.blind_m > 0 AND {fig_rc} AND {scope} ORDER BY rc.blind_m DESC",
        (None, None, "e.geom"),
    ),
    "duplicates": (
        "SELECT d.camera_id, c.gb_id, c.name, c.division_code, CASE WHEN {other} THEN d.other_camera_id END"
        " AS other_camera_id, d.overlap, ST_X(d.suggested_location) AS"
        " to_lon, ST_Y(d.suggested_location) AS to_lat, d.suggested_heading_deg, d.suggested_gain_m2,"
        " d.suggested_gain_intersections FROM camera_duplicate d JOIN camera c ON c.id = d.camera_id"
        " JOIN camera o ON o.id = d.other_camera_id WHERE {scope} AND (o.secrecy = 0 OR {other})"
        " ORDER BY d.overlap DESC",
        ("c.division_code", "c.secrecy", None),
    ),
}

# Context under the findings on the report map (public OSM data): the roads within the findings' extent.
ROADS_IN = (
    "SELECT ST_AsGeoJSON(geom, 6) AS g FROM road_edge"
    " WHERE geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)"
)
KPI_ROWS = (
    "SELECT d.code, d.name, d.name_en, d.level, k.key_area_surface_rate, k.networked_rate, k.online_rate,"
    " k.hd_rate, k.retention_compliance_rate, k.cameras_per_main_road_km, k.computed_at"
    " FROM division_kpi k JOIN division d ON d.code = k.division_code WHERE {fig_k} AND {scope}"
    " ORDER BY d.level, d.code"
)


FIGURE_ALIASES = ("kc", "ic", "rc", "k")  # key-area, intersection, road coverage; division KPIs


def in_scope(scope: Scope | None, division: str | None = None, secrecy: str | None = None,
             geom: str | None = None, *, prefix: str = "sc") -> tuple[str, dict]:
    """SQL condition and parameters: the rows ``scope`` covers (None: everything, e.g. the CLI export).

    By ``division`` (and ``secrecy``) for objects of a division; by ``geom`` meeting the boundary of a
    division in scope for the road network, which belongs to no division."""
    if scope is None:
        return "TRUE", {}
    if division is not None:
        return scope_sql(scope, division, secrecy, prefix=prefix)
    if scope.everywhere:
        return "TRUE", {}
    cond, params = scope_sql(scope, "sd.code", prefix=prefix)
    return f"EXISTS (SELECT 1 FROM division sd WHERE {cond} AND ST_Intersects(sd.boundary, {geom}))", params


def figures(scope: Scope | None, alias: str) -> tuple[str, dict]:
    """The variant of each stored figure (full, or open: no secret camera) the reader gets (``figure_sql``)."""
    return figure_sql(scope, alias, prefix=f"sf{alias}")


def _query(sql_and_cols: tuple[str, tuple], scope: Scope | None) -> tuple[str, dict]:
    sql, (division, secrecy, geom) = sql_and_cols
    cond, params = in_scope(scope, division, secrecy, geom)
    other, other_p = in_scope(scope, "o.division_code", "o.secrecy", prefix="so") if "{other}" in sql else ("", {})
    figs = {f"fig_{a}": figures(scope, a) for a in FIGURE_ALIASES if f"{{fig_{a}}}" in sql}
    fig_p = {k: v for _, p in figs.values() for k, v in p.items()}
    return sql.format(scope=cond, other=other, **{k: c for k, (c, _) in figs.items()}), {**params, **other_p, **fig_p}


async def geojson_layer(conn: AsyncConnection, layer: str, mode: str = "all", scope: Scope | None = None) -> dict:
    if layer not in LAYERS:
        raise NotFound(f"unknown layer {layer!r}; one of {', '.join(LAYERS)}")
    sql, params = _query(LAYERS[layer], scope)
    rows = (await conn.execute(text(sql), {"m": mode, **params})).mappings().all()
    feats = [{"type": "Feature", "geometry": orjson.loads(r["g"]),
              "properties": {k: v for k, v in r.items() if k != "g"}} for r in rows]
    return {"type": "FeatureCollection", "features": feats}


async def csv_table(conn: AsyncConnection, table: str, scope: Scope | None = None) -> str:
    if table not in TABLES:
        raise NotFound(f"unknown table {table!r}; one of {', '.join(TABLES)}")
    sql, params = _query(TABLES[table], scope)
    res = await conn.execute(text(sql), params)
    keys = list(res.keys())
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(keys)
    w.writerows(res.all())
    return buf.getvalue()


def deck_bundle() -> Path:
    """deck.gl's jupyter-widget bundle as shipped inside the pydeck wheel (no network needed)."""
    import pydeck

    return Path(pydeck.__file__).parent / "nbextension" / "static" / "index.js"


def _bounds(layers: dict[str, dict]) -> tuple[float, float, float, float] | None:
    shapes = shapely.from_geojson([orjson.dumps(fc) for fc in layers.values() if fc["features"]])
    if len(shapes) == 0:
        return None
    b = shapely.bounds(shapes)
    return float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())


async def kpi_rows(conn: AsyncConnection, scope: Scope | None = None) -> list[dict]:
    """The KPIs of the highest divisions the reader may see and of their children (the report's table)."""
    cond, params = in_scope(scope, "d.code")
    fig, fig_p = figures(scope, "k")
    rows = [dict(r) for r in (await conn.execute(text(KPI_ROWS.format(scope=cond, fig_k=fig)),
                                                 {**params, **fig_p})).mappings().all()]
    if not rows:
        return []
    top = rows[0]["level"]
    return [r for r in rows if r["level"] <= top + 1]


async def report_html(
    conn: AsyncConnection,
    *,
    mode: str = "all",
    scope: Scope | None = None,
    lang: str = "zh-CN",
    js_href: str = "deckgl/index.js",
    files: list[str] = (),
) -> str:
    """The report page over the stored results, as the reader may see them."""
    layers = {name: await geojson_layer(conn, name, mode, scope) for name in LAYERS}
    bounds = _bounds(layers)
    if bounds:
        w, s, e, n = bounds
        roads = (await conn.execute(text(ROADS_IN), {"w": w, "s": s, "e": e, "n": n})).scalars().all()
        feats = [{"type": "Feature", "geometry": orjson.loads(g), "properties": {}} for g in roads]
        layers = {"roads": {"type": "FeatureCollection", "features": feats}, **layers}
    now = (await conn.execute(text("SELECT now()"))).scalar_one()
    return report_page.render(
        layers, lang=lang, mode=mode, js_href=js_href, bounds=bounds, kpi_rows=await kpi_rows(conn, scope),
        files=list(files), now=now,
    )


async def export_report(
    conn: AsyncConnection, out_dir: Path, mode: str = "all", lang: str = "zh-CN", scope: Scope | None = None
) -> dict:
    """Write index.html (+ deckgl/index.js beside it), one CSV per table and one GeoJSON per layer."""
    out_dir = Path(out_dir)
    (out_dir / "deckgl").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(deck_bundle(), out_dir / "deckgl" / "index.js")
    files = []
    for name in LAYERS:
        (out_dir / f"{name}.geojson").write_bytes(orjson.dumps(await geojson_layer(conn, name, mode, scope)))
        files.append(f"{name}.geojson")
    for name in TABLES:
        (out_dir / f"{name}.csv").write_text(await csv_table(conn, name, scope), encoding="utf-8")
        files.append(f"{name}.csv")
    page = await report_html(conn, mode=mode, scope=scope, lang=lang, files=sorted(files))
    (out_dir / "index.html").write_text(page, encoding="utf-8")
    files.append("index.html")
    return {"dir": str(out_dir), "files": sorted(files)}


async def scoped_summary(conn: AsyncConnection, scope: Scope | None, kind: str = "full") -> dict:
    """What an analysis job reports: the stored results inside ``scope`` only (a recompute refreshes the
    whole city's tables, its owner sees their own part of them)."""
    out: dict = {}
    if kind in ("full", "coverage"):
        ka, ka_p = in_scope(scope, "k.division_code")
        nodes, n_p = in_scope(scope, geom="n.location", prefix="sn")
        roads, r_p = in_scope(scope, geom="e.geom", prefix="sr")
        f_kc, f_ic, f_rc = (figures(scope, a) for a in ("kc", "ic", "rc"))
        # Each mode's rows: per entity the full figure or its open twin, whichever the reader gets.
        ka = f"kc.mode IN (m.mode, m.mode || '.open') AND {f_kc[0]} AND {ka}"
        nodes = f"ic.mode IN (m.mode, m.mode || '.open') AND {f_ic[0]} AND {nodes}"
        roads = f"rc.mode IN (m.mode, m.mode || '.open') AND {f_rc[0]} AND {roads}"
        rows = (await conn.execute(text(
            "SELECT m.mode,"
            " (SELECT count(*) FROM key_area_coverage kc JOIN key_area k ON k.id = kc.key_area_id"
            f"   WHERE {ka}) AS key_areas,"
            " (SELECT sum(kc.covered_m2) / NULLIF(sum(kc.area_m2), 0) FROM key_area_coverage kc"
            f"   JOIN key_area k ON k.id = kc.key_area_id WHERE {ka}) AS key_area_surface_rate,"
            " (SELECT count(*) FROM intersection_coverage ic JOIN road_node n ON n.id = ic.node_id"
            f"   WHERE {nodes}) AS intersections,"
            " (SELECT count(*) FROM intersection_coverage ic JOIN road_node n ON n.id = ic.node_id"
            f"   WHERE NOT ic.covered AND {nodes}) AS blind_intersections,"
            " (SELECT coalesce(sum(rc.length_m), 0) / 1000 FROM road_coverage rc JOIN road_edge e ON e.id = rc.edge_id"
            f"   WHERE {roads}) AS main_road_km,"
            " (SELECT coalesce(sum(rc.blind_m), 0) / 1000 FROM road_coverage rc JOIN road_edge e ON e.id = rc.edge_id"
            f"   WHERE {roads}) AS main_road_blind_km"
            " FROM (VALUES ('all'), ('online')) AS m(mode)"),
            {**ka_p, **n_p, **r_p, **f_kc[1], **f_ic[1], **f_rc[1]})).mappings().all()
        out["coverage"] = {r["mode"]: {k: v for k, v in r.items() if k != "mode"} for r in rows}
    if kind in ("full", "duplicates"):
        cond, p = in_scope(scope, "c.division_code", "c.secrecy")
        other, o_p = in_scope(scope, "o.division_code", "o.secrecy", prefix="so")
        out["duplicates"] = (await conn.execute(text(
            "SELECT count(*) FROM camera_duplicate d JOIN camera c ON c.id = d.camera_id"
            f" JOIN camera o ON o.id = d.other_camera_id WHERE {cond} AND (o.secrecy = 0 OR {other})"),
            {**p, **o_p})).scalar_one()
    if kind in ("full", "kpi"):
        cond, p = in_scope(scope, "d.code")
        out["divisions"] = (await conn.execute(text(
            "SELECT count(*) FROM division_kpi k JOIN division d ON d.code = k.division_code"
            f" WHERE k.mode = 'all' AND {cond}"), p)
        ).scalar_one()
    return out
