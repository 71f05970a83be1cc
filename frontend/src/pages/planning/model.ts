// The planning page's data model: the API's shapes, the KPIs and layers it knows, their colours and the
// pure transforms from GeoJSON to deck.gl's binary attributes (no page state, no DOM).
import type { Schemas } from "../../api/client";
import { t } from "../../i18n";
export type Counts = Record<string, number>;
// The KPIs of a division and a planning job, as the server's response models declare them.
export type KpiItem = Schemas["DivisionKpi"];
export type Geometry = { type: string; coordinates: unknown };
export interface Feature { type: "Feature"; id?: string | number; geometry: Geometry | null; properties: Record<string, unknown> }
export interface FC { type: "FeatureCollection"; features: Feature[] }
// A job as the page first shows it (just created: id, status, progress) or as polled.
export type Job = Pick<Schemas["PlanningJob"], "id" | "status" | "progress"> & Partial<Schemas["PlanningJob"]>;
export interface Site { lon: number; lat: number; heading_deg: number | null; site_kind: string; gain_m2: number;
  gain_intersections: number; view: Geometry }
export interface Placement { budget: number; candidates: number; sites: Site[]; method: string; fov_deg: number; range_m: number;
  greedy: { value: number; count: number; seconds: number }; milp?: { value: number; optimal: boolean; bound: number; seconds: number } | null;
  greedy_gap?: number | null }

export type KpiKey = "key_area_surface_rate" | "networked_rate" | "online_rate" | "hd_rate" | "retention_compliance_rate"
  | "cameras_per_main_road_km";
export const KPIS: KpiKey[] = ["key_area_surface_rate", "networked_rate", "online_rate", "hd_rate", "retention_compliance_rate",
  "cameras_per_main_road_km"];
export const LAYERS = ["choropleth", "uncovered", "blind_intersections", "road_gaps", "duplicates", "sites"] as const;
export type LayerName = (typeof LAYERS)[number];
export const TABLES = ["kpi", "key_area_coverage", "blind_intersections", "road_gaps", "duplicates"] as const;
export const GEOJSON = ["uncovered", "blind_intersections", "road_gaps", "duplicates", "cameras"] as const;

// Layer colours (RGBA), shared by the map and the panel's swatches.
export const C = {
  uncovered: [255, 90, 95, 150], blind: [240, 244, 250, 255], gaps: [255, 64, 160, 235], dup: [190, 120, 255, 255],
  site: [64, 200, 255, 255], sector: [64, 200, 255, 70],
} as const;

// Binary columns for the point and line layers: typed arrays straight into deck.gl attributes.
export interface Points { length: number; attributes: { getPosition: { value: Float64Array; size: 2 } }; props: Array<Record<string, unknown>> }
export interface Paths { length: number; startIndices: Uint32Array; attributes: { getPath: { value: Float64Array; size: 2 } };
  props: Array<Record<string, unknown>> }
export interface Moves { length: number; attributes: { getSourcePosition: { value: Float64Array; size: 2 };
  getTargetPosition: { value: Float64Array; size: 2 } } }

export function toPoints(fc: FC): Points {
  const feats = fc.features.filter((f) => f.geometry?.type === "Point");
  const pos = new Float64Array(feats.length * 2);
  feats.forEach((f, i) => pos.set((f.geometry!.coordinates as number[]).slice(0, 2), 2 * i));
  return { length: feats.length, attributes: { getPosition: { value: pos, size: 2 } }, props: feats.map((f) => f.properties) };
}

export function toPaths(fc: FC): Paths {
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

export function toMoves(p: Points): Moves {
  const src = p.attributes.getPosition.value;
  const dst = new Float64Array(src.length);
  p.props.forEach((q, i) => {
    const ok = typeof q.to_lon === "number" && typeof q.to_lat === "number";
    dst[2 * i] = ok ? (q.to_lon as number) : src[2 * i];
    dst[2 * i + 1] = ok ? (q.to_lat as number) : src[2 * i + 1];
  });
  return { length: p.length, attributes: { getSourcePosition: { value: src, size: 2 }, getTargetPosition: { value: dst, size: 2 } } };
}

export function bboxOf(features: Feature[]): [[number, number], [number, number]] | null {
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
  if (v === null || v === undefined) return t("kpi.no_data");  // nothing measured: not 0 %
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

export const rgba = (c: readonly number[]) => `rgba(${c[0]},${c[1]},${c[2]},${((c[3] ?? 255) / 255).toFixed(2)})`;
