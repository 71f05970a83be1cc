// /planning: the planner's desk (issue #6). Division tree with the programme's KPIs and a choropleth,
// the coverage results as map layers (blind spots, blind intersections, main-road gaps, duplicates),
// the analysis job with its progress, placement of new cameras under a budget, and the exports.
import type { Layer, PickingInfo } from "@deck.gl/core";
import { GeoJsonLayer, LineLayer, PathLayer, ScatterplotLayer, TextLayer } from "@deck.gl/layers";
import { accessToken } from "../auth";
import { h } from "../dom";
import { currentLang, localName, t, type Key } from "../i18n";
import { call, download, errorText, tr } from "../ui/desk";
import { mountMapPage, type MapPage } from "./shell";
import "./planning.css";

type Counts = Record<string, number>;
interface KpiItem {
  code: string; name: string; name_en: string | null; level: number; parent_code: string | null;
  key_area_coverage_rate: number | null; networked_rate: number | null; online_rate: number | null;
  hd_rate: number | null; retention_compliance_rate: number | null; cameras_per_main_road_km: number | null;
  counts: Counts | null;
}
type Geometry = { type: string; coordinates: unknown };
interface Feature { type: "Feature"; id?: string | number; geometry: Geometry | null; properties: Record<string, unknown> }
interface FC { type: "FeatureCollection"; features: Feature[] }
interface Job { id: number; status: string; progress: number; stage?: string | null; message?: string | null;
  result?: Record<string, unknown> | null; error?: string | null }
interface Site { lon: number; lat: number; heading_deg: number | null; site_kind: string; gain_m2: number;
  gain_intersections: number; view: Geometry }
interface Placement { budget: number; candidates: number; sites: Site[]; method: string; fov_deg: number; range_m: number;
  greedy: { value: number; count: number; seconds: number }; milp?: { value: number; optimal: boolean; bound: number; seconds: number } | null;
  greedy_gap?: number | null }

type KpiKey = "key_area_coverage_rate" | "networked_rate" | "online_rate" | "hd_rate" | "retention_compliance_rate"
  | "cameras_per_main_road_km";
const KPIS: KpiKey[] = ["key_area_coverage_rate", "networked_rate", "online_rate", "hd_rate", "retention_compliance_rate",
  "cameras_per_main_road_km"];
const LAYERS = ["choropleth", "uncovered", "blind_intersections", "road_gaps", "duplicates", "sites"] as const;
type LayerName = (typeof LAYERS)[number];
const TABLES = ["kpi", "key_area_coverage", "blind_intersections", "road_gaps", "duplicates"] as const;
const GEOJSON = ["uncovered", "blind_intersections", "road_gaps", "duplicates", "cameras"] as const;

// Layer colours (RGBA), shared by the map and the panel's swatches.
const C = {
  uncovered: [255, 90, 95, 150], blind: [255, 190, 60, 255], gaps: [255, 64, 160, 235], dup: [190, 120, 255, 255],
  site: [64, 200, 255, 255], sector: [64, 200, 255, 70],
} as const;

// Binary columns for the point and line layers: typed arrays straight into deck.gl attributes.
interface Points { length: number; attributes: { getPosition: { value: Float64Array; size: 2 } }; props: Array<Record<string, unknown>> }
interface Paths { length: number; startIndices: Uint32Array; attributes: { getPath: { value: Float64Array; size: 2 } };
  props: Array<Record<string, unknown>> }
interface Moves { length: number; attributes: { getSourcePosition: { value: Float64Array; size: 2 };
  getTargetPosition: { value: Float64Array; size: 2 } } }

function toPoints(fc: FC): Points {
  const feats = fc.features.filter((f) => f.geometry?.type === "Point");
  const pos = new Float64Array(feats.length * 2);
  feats.forEach((f, i) => pos.set((f.geometry!.coordinates as number[]).slice(0, 2), 2 * i));
  return { length: feats.length, attributes: { getPosition: { value: pos, size: 2 } }, props: feats.map((f) => f.properties) };
}

function toPaths(fc: FC): Paths {
  const lines: Array<{ coords: number[][]; props: Record<string, unknown> }> = [];
  for (const f of fc.features) {
    const g = f.geometry;
    if (g?.type === "LineString") lines.push({ coords: g.coordinates as number[][], props: f.properties });
    else if (g?.type === "MultiLineString") for (const c of g.coordinates as number[][][]) lines.push({ coords: c, props: f.properties });
  }
  const n = lines.reduce((s, l) => s + l.coords.length, 0);
  const value = new Float64Array(n * 2);
  const starts = new Uint32Array(lines.length);
  let k = 0;
  lines.forEach((l, i) => {
    starts[i] = k;
    for (const c of l.coords) { value[2 * k] = c[0]; value[2 * k + 1] = c[1]; k++; }
  });
  return { length: lines.length, startIndices: starts, attributes: { getPath: { value, size: 2 } }, props: lines.map((l) => l.props) };
}

function toMoves(p: Points): Moves {
  const src = p.attributes.getPosition.value;
  const dst = new Float64Array(src.length);
  p.props.forEach((q, i) => {
    const ok = typeof q.to_lon === "number" && typeof q.to_lat === "number";
    dst[2 * i] = ok ? (q.to_lon as number) : src[2 * i];
    dst[2 * i + 1] = ok ? (q.to_lat as number) : src[2 * i + 1];
  });
  return { length: p.length, attributes: { getSourcePosition: { value: src, size: 2 }, getTargetPosition: { value: dst, size: 2 } } };
}

function bboxOf(features: Feature[]): [[number, number], [number, number]] | null {
  let x1 = 180, y1 = 90, x2 = -180, y2 = -90;
  const walk = (c: unknown): void => {
    if (Array.isArray(c) && typeof c[0] === "number") {
      const [x, y] = c as number[];
      x1 = Math.min(x1, x); x2 = Math.max(x2, x); y1 = Math.min(y1, y); y2 = Math.max(y2, y);
    } else if (Array.isArray(c)) c.forEach(walk);
  };
  features.forEach((f) => walk(f.geometry?.coordinates));
  return x1 <= x2 ? [[x1, y1], [x2, y2]] : null;
}

export function fmtKpi(key: KpiKey, v: number | null | undefined): string {
  if (v === null || v === undefined) return "—";
  return key === "cameras_per_main_road_km" ? v.toFixed(1) : `${(v * 100).toFixed(1)}%`;
}

/** Red (0) → amber (0.5) → green (1). */
export function ramp(x: number): [number, number, number] {
  const stops: Array<[number, number, number]> = [[255, 90, 95], [255, 190, 60], [34, 211, 154]];
  const v = Math.min(1, Math.max(0, x)) * 2;
  const i = Math.min(1, Math.floor(v)), f = v - i;
  const a = stops[i], b = stops[i + 1];
  return [0, 1, 2].map((j) => Math.round(a[j] + (b[j] - a[j]) * f)) as [number, number, number];
}

const rgba = (c: readonly number[]) => `rgba(${c[0]},${c[1]},${c[2]},${((c[3] ?? 255) / 255).toFixed(2)})`;

export function mount(root: HTMLElement): void {
  // --- state -------------------------------------------------------------------------------------
  let items: KpiItem[] = [];
  const byCode = new Map<string, KpiItem>();
  const kids = new Map<string | null, KpiItem[]>();
  let current: string | null = null;
  let kpiKey: KpiKey = "key_area_coverage_rate";
  let mode: "all" | "online" = "all";
  const on: Record<LayerName, boolean> = { choropleth: true, uncovered: true, blind_intersections: true, road_gaps: true,
    duplicates: false, sites: true };
  let choro: Feature[] = [];
  const geomCache = new Map<string, Feature[]>();
  let uncovered: FC = { type: "FeatureCollection", features: [] };
  let blind: Points = toPoints({ type: "FeatureCollection", features: [] });
  let gaps: Paths = toPaths({ type: "FeatureCollection", features: [] });
  let dups: Points = blind;
  let moves: Moves = toMoves(dups);
  let counts: Record<string, number> = {};
  let job: Job | null = null;
  let jobError = "";
  let budget = 5;
  let exact = true;
  let placing = false;
  let placement: Placement | null = null;
  let placeError = "";
  let accepted: number[] | null = null;
  let loaded = false;
  let page: MapPage | null = null;

  const redraw = () => { page?.rerender(); page?.map.render(); };

  // --- data --------------------------------------------------------------------------------------
  async function loadKpis(): Promise<void> {
    const r = await call<{ items: KpiItem[] }>("/api/v1/planning/kpi");
    items = r.items;
    byCode.clear(); kids.clear();
    for (const it of items) byCode.set(it.code, it);
    for (const it of items) {
      const p = it.parent_code && byCode.has(it.parent_code) ? it.parent_code : null;
      if (!kids.has(p)) kids.set(p, []);
      kids.get(p)!.push(it);
    }
    if (current && !byCode.has(current)) current = null;
    if (current === null && (kids.get(null)?.length ?? 0) === 1) current = kids.get(null)![0].code;
    loaded = true;
  }

  async function loadLayers(): Promise<void> {
    const get = (l: string) => call<FC>(`/api/v1/planning/layers/${l}.geojson?mode=${mode}`);
    const [u, b, g, d] = await Promise.all([get("uncovered"), get("blind_intersections"), get("road_gaps"), get("duplicates")]);
    uncovered = u;
    blind = toPoints(b);
    gaps = toPaths(g);
    dups = toPoints(d);
    moves = toMoves(dups);
    counts = { uncovered: u.features.length, blind_intersections: b.features.length, road_gaps: g.features.length,
      duplicates: d.features.length,
      road_gap_km: g.features.reduce((s, f) => s + Number(f.properties.blind_m ?? 0), 0) / 1000 };
  }

  async function showDivision(code: string | null, fit = true): Promise<void> {
    current = code;
    placement = null; accepted = null; placeError = "";
    redraw();
    const key = code ?? "";
    if (!geomCache.has(key)) {
      try {
        let feats: Feature[] = [];
        if (code) {
          const fc = await call<FC>(`/api/v1/divisions?parent=${code}&limit=1000`);
          feats = fc.features;
          if (!feats.length) feats = [await call<Feature>(`/api/v1/divisions/${code}`)];
        } else {
          const roots = kids.get(null) ?? [];
          feats = (await Promise.all(roots.map((r) => call<Feature>(`/api/v1/divisions/${r.code}`))));
        }
        geomCache.set(key, feats.filter((f) => f.geometry));
      } catch { geomCache.set(key, []); }
    }
    if (current !== code) return; // another click meanwhile
    choro = geomCache.get(key)!;
    const box = bboxOf(choro);
    if (fit && box && page) {
      // Frame the division in the map area left free by the tree (left) and the panels (right).
      const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
      page.map.fitTo(box, 17, { left: Math.round(28 * rem), right: Math.round(27 * rem), top: Math.round(5 * rem),
        bottom: Math.round(2 * rem) });
    }
    redraw();
  }

  async function refreshAll(): Promise<void> {
    try {
      await Promise.all([loadKpis(), loadLayers()]);
    } catch (e) { jobError = errorText(e); }
    geomCache.clear();
    await showDivision(current, true);
  }

  async function runJob(): Promise<void> {
    jobError = "";
    try {
      const { id } = await call<{ id: number }>("/api/v1/planning/jobs", "POST", { kind: "full", params: {} });
      job = { id, status: "queued", progress: 0 };
      redraw();
      for (;;) {
        await new Promise((r) => window.setTimeout(r, 600));
        job = await call<Job>(`/api/v1/planning/jobs/${id}`);
        redraw();
        if (job.status === "done" || job.status === "failed") break;
      }
      if (job.status === "failed") jobError = job.error ?? t("pl.job.failed");
      else await refreshAll();
    } catch (e) { jobError = errorText(e); }
    redraw();
  }

  async function runPlacement(): Promise<void> {
    placing = true; placeError = ""; placement = null; accepted = null;
    redraw();
    try {
      placement = await call<Placement>("/api/v1/planning/placement", "POST",
        { budget, division_code: current ?? undefined, mode, exact });
      on.sites = true;
    } catch (e) { placeError = errorText(e); }
    placing = false;
    redraw();
  }

  async function accept(): Promise<void> {
    if (!placement) return;
    try {
      const r = await call<{ camera_ids: number[] }>("/api/v1/planning/accept", "POST", {
        sites: placement.sites.map((s) => ({ lon: s.lon, lat: s.lat, heading_deg: s.heading_deg,
          fov_deg: placement!.fov_deg, range_m: placement!.range_m })) });
      accepted = r.camera_ids;
    } catch (e) { placeError = errorText(e); }
    redraw();
  }

  function openReport(): void {
    // A new tab cannot send the bearer header: the report (and only it) takes the token as a parameter,
    // like tiles do. Its deck.gl script is served by the same router.
    const tok = encodeURIComponent(accessToken() ?? "");
    window.open(`/api/v1/planning/report/index.html?mode=${mode}&lang=${currentLang()}&access_token=${tok}`, "_blank", "noopener");
  }

  // --- map layers --------------------------------------------------------------------------------
  const kpiRange = (): [number, number] => {
    if (kpiKey !== "cameras_per_main_road_km") return [0, 1];
    const vals = choro.map((f) => byCode.get(String(f.properties.code))?.[kpiKey]).filter((v): v is number => v !== null && v !== undefined);
    return [0, Math.max(1, ...vals)];
  };

  function layers(): Layer[] {
    const out: Layer[] = [];
    const [lo, hi] = kpiRange();
    if (on.choropleth && choro.length) {
      out.push(new GeoJsonLayer({
        id: "pl-choro", data: choro as never, filled: true, stroked: true, pickable: true, autoHighlight: true,
        highlightColor: [255, 255, 255, 40],
        getFillColor: ((f: Feature) => {
          const v = byCode.get(String(f.properties.code))?.[kpiKey];
          if (v === null || v === undefined) return [120, 130, 150, 50];
          return [...ramp((v - lo) / (hi - lo || 1)), 95];
        }) as never,
        getLineColor: [200, 225, 255, 200], getLineWidth: 2, lineWidthUnits: "pixels",
        updateTriggers: { getFillColor: [kpiKey, items.length, current] },
        onClick: (info: PickingInfo) => {
          const code = String((info.object as Feature | undefined)?.properties.code ?? "");
          if (code && code !== current && (kids.get(code)?.length || byCode.has(code))) void showDivision(code);
        },
      }) as unknown as Layer);
    }
    if (on.uncovered) {
      out.push(new GeoJsonLayer({
        id: "pl-uncovered", data: uncovered as never, filled: true, stroked: true, pickable: true,
        getFillColor: C.uncovered as never, getLineColor: [255, 120, 120, 255], getLineWidth: 1, lineWidthUnits: "pixels",
      }) as unknown as Layer);
    }
    if (on.road_gaps) {
      out.push(new PathLayer({
        id: "pl-gaps", data: gaps as never, _pathType: "open", positionFormat: "XY", pickable: true,
        getColor: C.gaps as never, getWidth: 5, widthUnits: "pixels", capRounded: true, jointRounded: true,
      } as never));
    }
    if (on.duplicates) {
      out.push(new LineLayer({ id: "pl-dup-moves", data: moves as never, getColor: [190, 120, 255, 170], getWidth: 2,
        widthUnits: "pixels" } as never));
      out.push(new ScatterplotLayer({ id: "pl-dup", data: dups as never, pickable: true, radiusUnits: "pixels",
        getRadius: 6, getFillColor: C.dup as never, stroked: true, getLineColor: [255, 255, 255, 230], lineWidthMinPixels: 1.5 } as never));
    }
    if (on.blind_intersections) {
      out.push(new ScatterplotLayer({ id: "pl-blind", data: blind as never, pickable: true, radiusUnits: "pixels",
        getRadius: 6, getFillColor: C.blind as never, stroked: true, getLineColor: [20, 20, 20, 230], lineWidthMinPixels: 1.5 } as never));
    }
    if (on.sites && placement?.sites.length) {
      const sites = placement.sites.map((s, i) => ({ ...s, n: i + 1 }));
      out.push(new GeoJsonLayer({
        id: "pl-sectors", data: sites.map((s) => ({ type: "Feature", geometry: s.view, properties: { n: s.n } })) as never,
        filled: true, stroked: true, getFillColor: C.sector as never, getLineColor: [64, 200, 255, 220], getLineWidth: 1.5,
        lineWidthUnits: "pixels",
      }) as unknown as Layer);
      out.push(new ScatterplotLayer({ id: "pl-sites", data: sites, pickable: true, radiusUnits: "pixels", getRadius: 9,
        getPosition: (d: Site) => [d.lon, d.lat], getFillColor: C.site as never, stroked: true,
        getLineColor: [255, 255, 255, 255], lineWidthMinPixels: 2 }) as unknown as Layer);
      out.push(new TextLayer({ id: "pl-site-n", data: sites, getPosition: (d: Site) => [d.lon, d.lat],
        getText: (d: { n: number }) => String(d.n), getSize: 11, getColor: [2, 16, 31, 255], fontWeight: 700,
        characterSet: "0123456789" }) as unknown as Layer);
    }
    return out;
  }

  function tooltip(info: PickingInfo): { text: string } | null {
    const id = info.layer?.id;
    const i = info.index;
    if (id === "pl-choro" && info.object) {
      const code = String((info.object as Feature).properties.code);
      const it = byCode.get(code);
      const name = localName(String((info.object as Feature).properties.name ?? ""), (info.object as Feature).properties.name_en as string);
      return { text: `${name} (${code})\n${t(`pl.kpi.${kpiKey}` as Key)}: ${fmtKpi(kpiKey, it?.[kpiKey])}` };
    }
    if (id === "pl-blind" && i >= 0) return { text: `${t("pl.layer.blind_intersections")} · deg ${blind.props[i]?.degree ?? "?"}` };
    if (id === "pl-gaps" && i >= 0) {
      const p = gaps.props[i] ?? {};
      return { text: `${t("pl.layer.road_gaps")}: ${p.name ?? p.highway ?? ""} · ${Math.round(Number(p.blind_m ?? 0))} m` };
    }
    if (id === "pl-dup" && i >= 0) {
      const p = dups.props[i] ?? {};
      return { text: `${p.name} · overlap ${(Number(p.overlap ?? 0) * 100).toFixed(0)}% (#${p.other_camera_id})\n`
        + `→ +${Math.round(Number(p.suggested_gain_m2 ?? 0))} m²` };
    }
    if (id === "pl-uncovered" && info.object) {
      const p = (info.object as Feature).properties;
      return { text: `${t("pl.layer.uncovered")}: ${String(p.name ?? p.key_area_id ?? "")}` };
    }
    if (id === "pl-sites" && info.object) {
      const s = info.object as Site & { n: number };
      return { text: `#${s.n} ${tr(`pl.kind.${s.site_kind}`, s.site_kind)} · ${s.heading_deg ?? "—"}° · +${Math.round(s.gain_m2)} m²` };
    }
    return null;
  }

  // --- panels ------------------------------------------------------------------------------------
  const pathTo = (code: string | null): KpiItem[] => {
    const out: KpiItem[] = [];
    for (let c = code; c && byCode.has(c); c = byCode.get(c)!.parent_code) out.unshift(byCode.get(c)!);
    return out;
  };

  function treePanel(): HTMLElement {
    const node = current ? byCode.get(current) ?? null : null;
    const children = kids.get(current) ?? [];
    const [lo, hi] = kpiRange();
    const crumbs = pathTo(current);
    const kpiSelect = h("select", { "data-testid": "kpi-select", onchange: (ev: Event) => {
      kpiKey = (ev.target as HTMLSelectElement).value as KpiKey; redraw(); } }) as HTMLSelectElement;
    for (const k of KPIS) kpiSelect.append(h("option", { value: k }, t(`pl.kpi.${k}` as Key)));
    kpiSelect.value = kpiKey;

    const card = node ? h("div", { class: "pl-node", "data-testid": "tree-node", "data-code": node.code },
      h("div", { class: "pl-node-title" },
        h("span", { class: "pl-level" }, t(`pl.level.${node.level}` as Key)),
        h("span", { class: "pl-node-name" }, localName(node.name, node.name_en)),
        h("span", { class: "pl-code" }, node.code)),
      h("div", { class: "pl-kpis" },
        ...KPIS.map((k) => h("div", { class: `pl-kpi ${k === kpiKey ? "sel" : ""}`, "data-testid": "tree-kpi", "data-kpi": k,
          "data-raw": node[k] === null ? "" : String(node[k]), onclick: () => { kpiKey = k; redraw(); } },
          h("div", { class: "pl-kpi-v" }, fmtKpi(k, node[k])), h("div", { class: "pl-kpi-l" }, t(`pl.kpi.${k}` as Key)))),
        h("div", { class: "pl-kpi" }, h("div", { class: "pl-kpi-v", "data-testid": "tree-cameras" },
          String(node.counts?.cameras ?? "—")), h("div", { class: "pl-kpi-l" }, t("pl.kpi.cameras"))),
        h("div", { class: "pl-kpi" }, h("div", { class: "pl-kpi-v" }, String(node.counts?.key_areas ?? "—")),
          h("div", { class: "pl-kpi-l" }, t("pl.kpi.key_areas"))))) : null;

    const rows = children.map((c) => {
      const v = c[kpiKey];
      const share = v === null || v === undefined ? 0 : Math.max(0, Math.min(1, (v - lo) / (hi - lo || 1)));
      const col = ramp(share);
      const hasKids = (kids.get(c.code)?.length ?? 0) > 0;
      return h("button", { class: "pl-row", type: "button", "data-testid": "tree-row", "data-code": c.code,
        "data-raw": v === null ? "" : String(v), onclick: () => void showDivision(c.code) },
        // The whole name, wrapped: siblings often differ only at the end ("… Subdistrict 1", "… 2").
        h("span", { class: "pl-row-name", title: localName(c.name, c.name_en) },
          h("span", { class: "pl-row-title" }, localName(c.name, c.name_en)),
          h("small", {}, `${t(`pl.level.${c.level}` as Key)} · ${c.counts?.cameras ?? 0}`)),
        h("span", { class: "pl-bar" }, h("span", { style: `width:${(share * 100).toFixed(1)}%;background:rgb(${col.join(",")})` })),
        h("span", { class: "pl-row-v" }, fmtKpi(kpiKey, v)),
        h("span", { class: "pl-chev" }, hasKids ? "›" : ""));
    });

    return h("section", { class: "pl-tree panel", "data-testid": "division-tree" },
      h("h2", {}, t("pl.tree")),
      h("nav", { class: "pl-crumbs", "data-testid": "crumbs" },
        ...(kids.get(null)?.length === 1 ? [] : [h("button", { type: "button", onclick: () => void showDivision(null) }, "⌂")]),
        ...crumbs.flatMap((c, i) => [
          ...(i ? [h("span", { class: "sep" }, "/")] : []),
          h("button", { type: "button", class: c.code === current ? "cur" : "", onclick: () => void showDivision(c.code) },
            localName(c.name, c.name_en))])),
      !loaded ? h("div", { class: "panel-pending" }, "…")
        : !items.length ? h("div", { class: "pl-empty", "data-testid": "no-results" }, t("pl.no_results")) : card,
      h("label", { class: "pl-colorby" }, h("span", {}, t("pl.color_by")), kpiSelect),
      h("div", { class: "pl-rows-title" }, t("pl.children"), h("span", {}, String(children.length))),
      h("div", { class: "pl-rows" }, ...(rows.length ? rows : [h("div", { class: "panel-empty" }, t("pl.no_children"))])));
  }

  function legendBox(): HTMLElement {
    const [lo, hi] = kpiRange();
    const grad = [0, 0.5, 1].map((x) => `rgb(${ramp(x).join(",")})`).join(",");
    const sw = (c: readonly number[], shape = "dot") => h("span", { class: `sw sw-${shape}`, style: `--c:${rgba(c)}` });
    return h("aside", { class: "pl-legend", "data-testid": "planning-legend" },
      h("div", { class: "lg-title" }, t(`pl.kpi.${kpiKey}` as Key)),
      h("div", { class: "pl-ramp", style: `background:linear-gradient(90deg,${grad})` }),
      h("div", { class: "pl-ramp-l" }, h("span", {}, fmtKpi(kpiKey, lo)), h("span", {}, fmtKpi(kpiKey, hi))),
      h("div", { class: "lg-row" }, sw(C.uncovered, "box"), h("span", {}, t("pl.layer.uncovered"))),
      h("div", { class: "lg-row" }, sw(C.blind), h("span", {}, t("pl.layer.blind_intersections"))),
      h("div", { class: "lg-row" }, sw(C.gaps, "line"), h("span", {}, t("pl.layer.road_gaps"))),
      h("div", { class: "lg-row" }, sw(C.dup), h("span", {}, t("pl.layer.duplicates"))),
      h("div", { class: "lg-row" }, sw(C.site), h("span", {}, t("pl.layer.sites"))));
  }

  function analysisPanel(): HTMLElement {
    const running = job !== null && job.status !== "done" && job.status !== "failed";
    const res = (job?.status === "done" ? (job.result?.coverage as Record<string, Record<string, number>> | undefined)?.[mode] : undefined);
    const root = current ? byCode.get(current) : undefined;
    const stat = (k: Key, v: string, testid: string) => h("div", { class: "pl-stat", "data-testid": testid },
      h("b", {}, v), h("span", {}, t(k)));
    return h("section", { class: "panel pl-panel", "data-testid": "analysis" },
      h("h2", {}, t("pl.analysis")),
      h("div", { class: "pl-jobrow" },
        h("button", { class: "primary", type: "button", "data-testid": "run-job", disabled: running, onclick: () => void runJob() },
          running ? t("pl.running") : t("pl.run")),
        h("select", { "data-testid": "mode", title: t("pl.mode"), onchange: (ev: Event) => {
          mode = (ev.target as HTMLSelectElement).value as "all" | "online"; void loadLayers().then(redraw); } },
          ...(["all", "online"] as const).map((m) => h("option", { value: m, selected: m === mode }, t(`pl.mode.${m}` as Key))))),
      job ? h("div", { class: "pl-progress", "data-testid": "job-progress", "data-status": job.status },
        h("div", { class: "pl-progress-bar" }, h("span", { style: `width:${Math.round((job.progress ?? 0) * 100)}%` })),
        h("div", { class: "pl-progress-l" },
          h("span", {}, `${tr(`pl.job.${job.status}`, job.status)}${job.stage ? ` · ${job.stage}` : ""}${job.message ? ` · ${job.message}` : ""}`),
          h("span", {}, `${Math.round((job.progress ?? 0) * 100)}%`))) : null,
      jobError ? h("div", { class: "note note-error" }, jobError) : null,
      h("div", { class: "pl-stats" },
        stat("pl.res.key_area_coverage", fmtKpi("key_area_coverage_rate", res?.key_area_coverage_rate ?? root?.key_area_coverage_rate),
          "stat-coverage"),
        stat("pl.res.blind_intersections", String(res?.blind_intersections ?? counts.blind_intersections ?? "—"), "stat-blind"),
        stat("pl.res.main_road_blind_km", res?.main_road_blind_km !== undefined ? res.main_road_blind_km.toFixed(2)
          : counts.road_gap_km !== undefined ? counts.road_gap_km.toFixed(2) : "—", "stat-gaps"),
        stat("pl.res.duplicates", String(counts.duplicates ?? "—"), "stat-dups")));
  }

  function layersPanel(): HTMLElement {
    const n: Partial<Record<LayerName, number>> = { uncovered: counts.uncovered, blind_intersections: counts.blind_intersections,
      road_gaps: counts.road_gaps, duplicates: counts.duplicates, choropleth: choro.length, sites: placement?.sites.length };
    return h("section", { class: "panel pl-panel", "data-testid": "layers" },
      h("h2", {}, t("pl.layers")),
      ...LAYERS.map((l) => {
        const cb = h("input", { type: "checkbox", "data-testid": `layer-${l}`, checked: on[l],
          onchange: (ev: Event) => { on[l] = (ev.target as HTMLInputElement).checked; redraw(); } });
        return h("label", { class: "pl-check" }, cb, h("span", {}, t(`pl.layer.${l}` as Key)),
          h("small", {}, n[l] !== undefined ? String(n[l]) : ""));
      }));
  }

  function placementPanel(): HTMLElement {
    const node = current ? byCode.get(current) : undefined;
    const valueEl = h("b", { "data-testid": "budget-value" }, String(budget));
    const slider = h("input", { type: "range", min: 1, max: 30, step: 1, value: budget, "data-testid": "budget",
      oninput: (ev: Event) => { budget = Number((ev.target as HTMLInputElement).value); valueEl.textContent = String(budget); } });
    const p = placement;
    const gainM2 = p ? p.sites.reduce((s, x) => s + x.gain_m2, 0) : 0;
    const gainInt = p ? p.sites.reduce((s, x) => s + x.gain_intersections, 0) : 0;
    return h("section", { class: "panel pl-panel", "data-testid": "placement" },
      h("h2", {}, t("pl.placement")),
      h("div", { class: "pl-scope" }, `${t("pl.scope")}: `, h("b", {}, node ? localName(node.name, node.name_en) : "—")),
      h("div", { class: "pl-budget" }, h("span", {}, t("pl.budget")), valueEl),
      slider,
      h("div", { class: "pl-jobrow" },
        h("label", { class: "pl-check" }, h("input", { type: "checkbox", checked: exact, "data-testid": "exact",
          onchange: (ev: Event) => { exact = (ev.target as HTMLInputElement).checked; } }), h("span", {}, "MILP")),
        h("button", { class: "primary", type: "button", "data-testid": "run-placement", disabled: placing || !items.length,
          onclick: () => void runPlacement() }, placing ? t("pl.placing") : t("pl.place"))),
      placeError ? h("div", { class: "note note-error", "data-testid": "placement-error" }, placeError) : null,
      p ? h("div", { class: "pl-result", "data-testid": "placement-result", "data-sites": p.sites.length },
        h("div", { class: "pl-stats" },
          h("div", { class: "pl-stat" }, h("b", { "data-testid": "gain" }, `${Math.round(gainM2).toLocaleString("en-US")} m²`), h("span", {}, t("pl.gain"))),
          h("div", { class: "pl-stat" }, h("b", {}, String(gainInt)), h("span", {}, t("pl.gain_int"))),
          h("div", { class: "pl-stat" }, h("b", {}, Math.round(p.greedy.value).toLocaleString("en-US")), h("span", {}, t("pl.greedy"))),
          h("div", { class: "pl-stat" }, h("b", {}, p.milp ? `${Math.round(p.milp.value).toLocaleString("en-US")}${p.milp.optimal ? " ✓" : ""}` : "—"),
            h("span", {}, t("pl.milp"))),
          h("div", { class: "pl-stat" }, h("b", { "data-testid": "gap" }, p.greedy_gap === null || p.greedy_gap === undefined ? "—"
            : `${(p.greedy_gap * 100).toFixed(1)}%`), h("span", {}, t("pl.gap")))),
        h("ol", { class: "pl-sites" }, ...p.sites.map((s) => h("li", {},
          h("span", {}, tr(`pl.kind.${s.site_kind}`, s.site_kind)),
          h("span", { class: "pl-head", style: `--a:${s.heading_deg ?? 0}deg` }, s.heading_deg === null ? "360°" : `↑ ${s.heading_deg}°`),
          h("span", {}, `+${Math.round(s.gain_m2)} m²`)))),
        accepted ? h("div", { class: "note note-ok", "data-testid": "accepted", "data-ids": accepted.join(",") },
          `${t("pl.accepted")}: ${accepted.length}`)
          : h("button", { class: "primary wide", type: "button", "data-testid": "accept", disabled: !p.sites.length,
            onclick: () => void accept() }, t("pl.accept"))) : null);
  }

  function exportPanel(): HTMLElement {
    const dl = (path: string, name: string, label: string, testid: string) => h("button", { type: "button", class: "chip",
      "data-testid": testid, onclick: () => void download(path, name).catch((e) => { jobError = errorText(e); redraw(); }) }, label);
    return h("section", { class: "panel pl-panel", "data-testid": "exports" },
      h("h2", {}, t("pl.export")),
      h("button", { class: "primary wide", type: "button", "data-testid": "report", onclick: openReport }, `${t("pl.report")} ↗`),
      h("div", { class: "pl-sub" }, t("pl.csv")),
      h("div", { class: "chips" }, ...TABLES.map((x) => dl(`/api/v1/planning/tables/${x}.csv`, `${x}.csv`, t(`pl.tab.${x}` as Key), `csv-${x}`))),
      h("div", { class: "pl-sub" }, t("pl.geojson")),
      h("div", { class: "chips" }, ...GEOJSON.map((x) => dl(`/api/v1/planning/layers/${x}.geojson?mode=${mode}`, `${x}.geojson`,
        t(`pl.tab.${x}` as Key), `geojson-${x}`))));
  }

  page = mountMapPage(root, { page: "page.planning", className: "console planning", kpi: false, followIncidents: false,
    panels: () => [analysisPanel(), layersPanel(), placementPanel(), exportPanel()],
    extra: () => [treePanel(), legendBox()] });
  page.map.underLayers = layers;
  page.map.extraTooltip = tooltip;
  (window as unknown as { sharpeyesPlanning: unknown }).sharpeyesPlanning = {
    get current() { return current; }, get items() { return items; }, get placement() { return placement; },
  };
  void refreshAll();
}
