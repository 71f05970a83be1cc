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

from app.domain.access import Scope
from app.domain.errors import NotFound
from app.services import report_page

LAYERS = {
    "uncovered": (
        "SELECT kc.key_area_id AS id, k.name, k.division_code, kc.fraction, ST_AsGeoJSON(kc.uncovered, 7) AS g "
        "FROM key_area_coverage kc JOIN key_area k ON k.id = kc.key_area_id "
        "WHERE kc.mode = :m AND kc.uncovered IS NOT NULL"
    ),
    "blind_intersections": (
        "SELECT n.id, n.degree, ST_AsGeoJSON(n.location, 7) AS g FROM intersection_coverage ic "
        "JOIN road_node n ON n.id = ic.node_id WHERE ic.mode = :m AND NOT ic.covered"
    ),
    "road_gaps": (
        "SELECT rc.edge_id AS id, e.name, e.highway, rc.blind_m, ST_AsGeoJSON(rc.blind, 7) AS g "
        "FROM road_coverage rc JOIN road_edge e ON e.id = rc.edge_id "
        "WHERE rc.mode = :m AND rc.blind IS NOT NULL"
    ),
    "duplicates": (
        "SELECT d.camera_id AS id, c.name, c.division_code, c.secrecy, d.other_camera_id, d.overlap,"
        " d.suggested_heading_deg,"
        " d.suggested_gain_m2, ST_AsGeoJSON(c.location, 7) AS g, ST_X(d.suggested_location) AS to_lon,"
        " ST_Y(d.suggested_location) AS to_lat FROM camera_duplicate d JOIN camera c ON c.id = d.camera_id"
    ),
    "cameras": (
        "SELECT c.id, c.name, c.status, c.division_code, c.secrecy, ST_AsGeoJSON(c.view, 7) AS g FROM camera c "
        "WHERE c.status <> 'planned' OR :m = 'all'"
    ),
}

TABLES = {
    "kpi": (
        "SELECT k.division_code, d.name, d.level, k.window_days, k.key_area_coverage_rate, k.networked_rate,"
        " k.online_rate, k.hd_rate, k.retention_compliance_rate, k.cameras_per_main_road_km,"
        " (k.counts->>'cameras')::float8::int AS cameras FROM division_kpi k JOIN division d ON"
        " d.code = k.division_code"
        " ORDER BY d.level, k.division_code"
    ),
    "key_area_coverage": (
        "SELECT kc.key_area_id, k.name, k.category, k.division_code, kc.mode, kc.area_m2, kc.covered_m2, kc.fraction"
        " FROM key_area_coverage kc JOIN key_area k ON k.id = kc.key_area_id"
        " ORDER BY kc.mode, kc.fraction"
    ),
    "blind_intersections": (
        "SELECT ic.node_id, ic.mode, n.degree, ST_X(n.location) AS lon, ST_Y(n.location) AS lat"
        " FROM intersection_coverage ic JOIN road_node n ON n.id = ic.node_id"
        " WHERE NOT ic.covered ORDER BY ic.mode, ic.node_id"
    ),
    "road_gaps": (
        "SELECT rc.edge_id, rc.mode, e.name, e.highway, rc.length_m, rc.blind_m FROM road_coverage rc"
        " JOIN road_edge e ON e.id = rc.edge_id WHERE rc.blind_m > 0 ORDER BY rc.blind_m DESC"
    ),
    "duplicates": (
        "SELECT d.camera_id, c.gb_id, c.name, c.division_code, c.secrecy, d.other_camera_id, d.overlap,"
        " ST_X(d.suggested_location) AS"
        " to_lon, ST_Y(d.suggested_location) AS to_lat, d.suggested_heading_deg, d.suggested_gain_m2,"
        " d.suggested_gain_intersections FROM camera_duplicate d JOIN camera c ON c.id = d.camera_id"
        " ORDER BY d.overlap DESC"
    ),
}

# Context under the findings on the report map (public OSM data): the roads within the findings' extent.
ROADS_IN = (
    "SELECT ST_AsGeoJSON(geom, 6) AS g FROM road_edge"
    " WHERE geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)"
)
KPI_ROWS = (
    "SELECT d.code, d.name, d.name_en, d.level, k.key_area_coverage_rate, k.networked_rate, k.online_rate,"
    " k.hd_rate, k.retention_compliance_rate, k.cameras_per_main_road_km, k.computed_at"
    " FROM division_kpi k JOIN division d ON d.code = k.division_code ORDER BY d.level, d.code"
)


def _visible(row, scope: Scope | None) -> bool:
    """Rows tied to a division obey the reader's scope; road-network rows (public OSM data) do not."""
    if scope is None or "division_code" not in row:
        return True
    return scope.covers(row["division_code"], row.get("secrecy") or 0)


async def geojson_layer(conn: AsyncConnection, layer: str, mode: str = "all", scope: Scope | None = None) -> dict:
    if layer not in LAYERS:
        raise NotFound(f"unknown layer {layer!r}; one of {', '.join(LAYERS)}")
    rows = (await conn.execute(text(LAYERS[layer]), {"m": mode})).mappings().all()
    feats = []
    for r in rows:
        if not _visible(r, scope):
            continue
        props = {k: v for k, v in r.items() if k not in ("g", "secrecy")}
        feats.append({"type": "Feature", "geometry": orjson.loads(r["g"]), "properties": props})
    return {"type": "FeatureCollection", "features": feats}


async def csv_table(conn: AsyncConnection, table: str, scope: Scope | None = None) -> str:
    if table not in TABLES:
        raise NotFound(f"unknown table {table!r}; one of {', '.join(TABLES)}")
    res = await conn.execute(text(TABLES[table]))
    keys = [k for k in res.keys() if k != "secrecy"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(keys)
    w.writerows([r[k] for k in keys] for r in res.mappings().all() if _visible(r, scope))
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
    rows = [dict(r) for r in (await conn.execute(text(KPI_ROWS))).mappings().all()]
    rows = [r for r in rows if scope is None or scope.covers(r["code"])]
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
