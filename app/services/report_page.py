"""The planner report as one standalone HTML page: the stored layers on a deck.gl map (pydeck's JSON,
its JavaScript beside the page, never a CDN), a panel with the scope's KPIs, a legend with counts and,
in an exported folder, links to the CSV tables and GeoJSON layers. zh-CN by default, en on request.

The map opens framed on the data for the window it is shown in (fitted in the page, right of the panel),
not on a fixed zoom: a district and a whole city both fill the screen."""

from __future__ import annotations

import html
from datetime import datetime

import orjson

LANGS = ("zh-CN", "en")

TEXT = {
    "title": ("覆盖规划报告", "Coverage planning report"),
    "mode.all": ("全部摄像机", "All cameras"),
    "mode.online": ("仅在线摄像机", "Online cameras only"),
    "basis": ("口径", "Basis"),
    "generated": ("生成时间", "Generated"),
    "computed": ("指标计算于", "KPIs computed"),
    "division": ("区划", "Division"),
    "key_area_surface_rate": ("重点区域面积覆盖率", "Key-area surface covered"),
    "no_data": ("无数据", "no data"),
    "networked_rate": ("联网率", "Networked"),
    "online_rate": ("完好率", "Online (intact)"),
    "hd_rate": ("高清率", "HD"),
    "retention_compliance_rate": ("存储合规率", "Retention compliance"),
    "cameras_per_main_road_km": ("主干道每公里摄像机", "Cameras per main-road km"),
    "layers": ("图层", "Layers"),
    "files": ("数据文件", "Data files"),
    "no_kpi": ("尚无指标，请先运行分析", "No KPIs yet: run an analysis first"),
    "uncovered": ("重点区域盲区", "Key-area blind spots"),
    "blind_intersections": ("盲区路口", "Blind intersections"),
    "road_gaps": ("主干道盲段", "Main-road gaps"),
    "duplicates": ("重复点位", "Duplicated cameras"),
    "cameras": ("摄像机视域", "Camera views"),
    "roads": ("道路", "Roads"),
}

KPI_COLUMNS = (
    "key_area_surface_rate",
    "networked_rate",
    "online_rate",
    "hd_rate",
    "retention_compliance_rate",
    "cameras_per_main_road_km",
)

# (fill, line) RGBA per layer; drawn in this order, context first.
STYLE = {
    "roads": ([0, 0, 0, 0], [110, 125, 145, 150]),
    "cameras": ([70, 130, 180, 60], [70, 130, 180, 160]),
    "uncovered": ([220, 40, 40, 140], [160, 0, 0, 220]),
    "road_gaps": ([255, 140, 0, 255], [255, 140, 0, 255]),
    "blind_intersections": ([200, 0, 200, 230], [90, 0, 90, 255]),
    "duplicates": ([250, 200, 0, 230], [120, 90, 0, 255]),
}
CONTEXT = ("roads",)  # drawn and named in the legend, not counted as findings

_TEMPLATE = """<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"/><meta name="viewport" content="width=device-width,initial-scale=1"/>
<title>{title}</title>
<script src="{js}"></script>
<style>
body{{margin:0;font:13px/1.45 "Noto Sans CJK SC","Microsoft YaHei",sans-serif;color:#dfe7f1;background:#10151c}}
#deck-container{{position:absolute;inset:0}}
#panel{{position:absolute;top:12px;left:12px;max-height:calc(100% - 24px);width:{panel}px;z-index:2;
  overflow:auto;box-sizing:border-box;
  padding:14px 16px;background:rgba(16,24,34,.93);border:1px solid #2a3a4e;border-radius:6px}}
h1{{font-size:18px;margin:0 0 6px}} h2{{font-size:13px;margin:14px 0 6px;color:#8fb3d9}}
.meta{{color:#93a4b8}} table{{border-collapse:collapse;width:100%}}
th,td{{padding:3px 4px;border-bottom:1px solid #24344a;text-align:right;white-space:nowrap}}
th:first-child,td:first-child{{text-align:left}} .scroll{{overflow-x:auto}}
th{{color:#93a4b8;font-weight:normal;font-size:12px;white-space:normal;vertical-align:bottom}}
.sw{{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px;border:2px solid}}
ul{{list-style:none;padding:0;margin:0}} li{{display:flex;justify-content:space-between;padding:2px 0}}
a{{color:#6cb4ff}}
@media (max-width:700px){{#panel{{top:auto;right:8px;left:8px;bottom:8px;width:auto;max-height:45%}}}}
</style>
</head><body><div id="deck-container"></div>
<div id="panel" data-testid="report-panel">
<h1>{title}</h1>
<div class="meta">{basis}: {mode}<br/>{generated}: <time datetime="{now}">{now}</time></div>
{kpi}
<h2>{layers_h}</h2><ul data-testid="report-legend">{legend}</ul>
{files}
</div>
<script>
const spec = {spec};
const bounds = {bounds};
// The view that frames [west, south, east, north] in the free part of this window (right of the panel),
// in deck.gl's web-mercator terms: a world 512 px wide at zoom 0.
function fit([w, s, e, n], width, height, left) {{
  const y = (lat) => Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360));
  const pad = 32, free = Math.max(width - left - 2 * pad, 120), tall = Math.max(height - 2 * pad, 120);
  const dx = Math.max(e - w, 1e-5) / 360, dy = Math.max(y(n) - y(s), 1e-7) / (2 * Math.PI);
  const zoom = Math.min(Math.log2(Math.min(free / (512 * dx), tall / (512 * dy))), 18);
  const lon = (w + e) / 2 - (left / 2 / (512 * 2 ** zoom)) * 360;
  const lat = ((2 * Math.atan(Math.exp((y(n) + y(s)) / 2)) - Math.PI / 2) * 180) / Math.PI;
  return {{longitude: lon, latitude: lat, zoom: zoom, pitch: 0, bearing: 0}};
}}
if (bounds) {{
  const panel = document.getElementById('panel');
  const left = window.innerWidth > 700 ? panel.offsetLeft + panel.offsetWidth : 0;
  spec.initialViewState = fit(bounds, window.innerWidth, window.innerHeight, left);
}}
for (const t of document.querySelectorAll('time')) t.textContent = new Date(t.dateTime).toLocaleString('{lang}');
const deckInstance = createDeck({{container: document.getElementById('deck-container'),
  jsonInput: spec, tooltip: true, customLibraries: null, configuration: null}});
</script></body></html>
"""


def text(key: str, lang: str) -> str:
    return TEXT[key][LANGS.index(lang)]


def _pct(v, lang: str) -> str:
    return text("no_data", lang) if v is None else f"{v:.1%}"  # nothing measured is not 0 %


def _kpi_table(rows: list[dict], lang: str) -> str:
    if not rows:
        return f"<p class='meta'>{html.escape(text('no_kpi', lang))}</p>"
    head = "".join(f"<th>{html.escape(text(k, lang))}</th>" for k in ("division", *KPI_COLUMNS))
    body = []
    for r in rows:
        name = (r.get("name_en") if lang == "en" else None) or r["name"]
        cells = [_pct(r[k], lang) for k in KPI_COLUMNS[:-1]]
        per_km = r["cameras_per_main_road_km"]
        cells.append(text("no_data", lang) if per_km is None else f"{per_km:.1f}")
        indent = "&nbsp;&nbsp;" if r["level"] > rows[0]["level"] else ""
        body.append(
            f"<tr><td>{indent}{html.escape(name)}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        )
    computed = max((r["computed_at"] for r in rows if r.get("computed_at")), default=None)
    when = (
        f"<div class='meta'>{html.escape(text('computed', lang))}: <time datetime='{computed.isoformat()}'>"
        f"{computed.isoformat()}</time></div>"
        if computed
        else ""
    )
    return (
        f"<h2>{html.escape(text('division', lang))}</h2>"
        f"<div class='scroll'><table data-testid='report-kpi'><tr>{head}</tr>{''.join(body)}</table></div>{when}"
    )


def render(
    layers: dict[str, dict],
    *,
    lang: str = "zh-CN",
    mode: str = "all",
    js_href: str,
    bounds: tuple[float, float, float, float] | None,
    kpi_rows: list[dict] = (),
    files: list[str] = (),
    now: datetime,
) -> str:
    """The page. ``layers``: FeatureCollections by name (drawn in ``STYLE`` order); ``js_href``: the
    same-origin or relative URL of the deck.gl bundle; ``files``: relative links listed in the panel."""
    import pydeck as pdk

    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}")
    deck_layers, legend = [], []
    for name in [n for n in STYLE if n in layers] + [n for n in layers if n not in STYLE]:
        fill, line = STYLE.get(name, ([128, 128, 128, 120], [80, 80, 80, 255]))
        deck_layers.append(
            pdk.Layer(
                "GeoJsonLayer",
                data=layers[name],
                id=name,
                pickable=name not in CONTEXT,
                stroked=True,
                filled=name not in CONTEXT,
                get_fill_color=fill,
                get_line_color=line,
                line_width_min_pixels=1,
                point_radius_min_pixels=4,
            )
        )
        label = html.escape(text(name, lang)) if name in TEXT else html.escape(name)
        count = "" if name in CONTEXT else f"{len(layers[name]['features']):,}"
        swatch = "background:rgba({},{},{},{:.2f});border-color:rgb({},{},{})".format(
            *fill[:3], fill[3] / 255, *line[:3]
        )
        legend.append(
            f"<li data-layer='{name}'><span><span class='sw' style='{swatch}'></span>{label}</span>"
            f"<span>{count}</span></li>"
        )
    deck = pdk.Deck(layers=deck_layers, map_provider=None, map_style=None, initial_view_state=pdk.ViewState(0, 0, 1))
    file_list = (
        f"<h2>{html.escape(text('files', lang))}</h2><ul>"
        + "".join(f"<li><a href='{html.escape(f)}'>{html.escape(f)}</a></li>" for f in files)
        + "</ul>"
        if files
        else ""
    )
    return _TEMPLATE.format(
        lang=lang,
        title=html.escape(text("title", lang)),
        js=html.escape(js_href),
        panel=470,
        basis=html.escape(text("basis", lang)),
        mode=html.escape(text(f"mode.{mode}", lang)),
        generated=html.escape(text("generated", lang)),
        now=now.isoformat(timespec="seconds"),
        kpi=_kpi_table(list(kpi_rows), lang),
        layers_h=html.escape(text("layers", lang)),
        legend="".join(legend),
        files=file_list,
        spec=deck.to_json().replace("<", "\\u003c"),  # names are user text: no "</script>" in the script
        bounds=orjson.dumps(list(bounds)).decode() if bounds else "null",
    )
