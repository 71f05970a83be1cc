"""Planner report export: standalone HTML map (pydeck, its JavaScript shipped beside the page, never a
CDN), CSV tables and GeoJSON layers, all read from the stored results."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.access import Scope
from app.domain.errors import NotFound

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

# Layer colours (RGBA) for the report map.
_STYLE = {
    "cameras": ([70, 130, 180, 60], [70, 130, 180, 160]),
    "uncovered": ([220, 40, 40, 140], [160, 0, 0, 220]),
    "road_gaps": ([255, 140, 0, 255], [255, 140, 0, 255]),
    "blind_intersections": ([200, 0, 200, 230], [90, 0, 90, 255]),
    "duplicates": ([250, 200, 0, 230], [120, 90, 0, 255]),
}


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


_TEMPLATE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"/><title>{title}</title>
<script src="{js}"></script>
<style>body{{margin:0}}#deck-container{{position:absolute;inset:0;background:#10151c}}
#legend{{position:absolute;top:8px;left:8px;z-index:2;background:#fff;padding:6px 10px;
  font:13px sans-serif}}</style>
</head><body><div id="deck-container"></div><div id="legend">{legend}</div>
<script>
const deckInstance = createDeck({{container: document.getElementById('deck-container'),
  jsonInput: {spec}, tooltip: true, customLibraries: null, configuration: null}});
</script></body></html>
"""


def render_html(layers: dict[str, dict], title: str, js_href: str, center: tuple[float, float]) -> str:
    """A standalone HTML page; ``js_href`` is the same-origin or relative URL of the deck.gl bundle."""
    import pydeck as pdk

    deck_layers = []
    for name, fc in layers.items():
        fill, line = _STYLE.get(name, ([128, 128, 128, 120], [80, 80, 80, 255]))
        deck_layers.append(
            pdk.Layer(
                "GeoJsonLayer",
                data=fc,
                id=name,
                pickable=True,
                stroked=True,
                filled=True,
                get_fill_color=fill,
                get_line_color=line,
                line_width_min_pixels=1,
                point_radius_min_pixels=4,
            )
        )
    deck = pdk.Deck(
        layers=deck_layers,
        map_provider=None,
        map_style=None,
        initial_view_state=pdk.ViewState(longitude=center[0], latitude=center[1], zoom=12),
    )
    legend = " · ".join(
        f"<span style='color:rgb({_STYLE[n][1][0]},{_STYLE[n][1][1]},{_STYLE[n][1][2]})'>■</span> {n}"
        for n in layers
        if n in _STYLE
    )
    return _TEMPLATE.format(title=title, js=js_href, spec=deck.to_json(), legend=legend)


async def export_report(
    conn: AsyncConnection, out_dir: Path, mode: str = "all", title: str = "覆盖规划报告",
    scope: Scope | None = None,
) -> dict:
    """Write index.html (+ deckgl/index.js beside it), one CSV per table and one GeoJSON per layer."""
    out_dir = Path(out_dir)
    (out_dir / "deckgl").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(deck_bundle(), out_dir / "deckgl" / "index.js")
    layers = {name: await geojson_layer(conn, name, mode, scope) for name in LAYERS}
    files = []
    for name, fc in layers.items():
        (out_dir / f"{name}.geojson").write_bytes(orjson.dumps(fc))
        files.append(f"{name}.geojson")
    for name in TABLES:
        (out_dir / f"{name}.csv").write_text(await csv_table(conn, name, scope), encoding="utf-8")
        files.append(f"{name}.csv")
    c = (
        await conn.execute(
            text(
                "SELECT ST_X(ST_Centroid(ST_Extent(location))), ST_Y(ST_Centroid(ST_Extent("
                "location))) FROM camera"
            )
        )
    ).first()
    center = (float(c[0] or 0.0), float(c[1] or 0.0))
    (out_dir / "index.html").write_text(
        render_html(layers, title, "deckgl/index.js", center), encoding="utf-8"
    )
    files.append("index.html")
    return {"dir": str(out_dir), "files": sorted(files)}
