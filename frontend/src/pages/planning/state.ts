// The planning page's state, one object: the divisions and their KPIs, the map's layers, the analysis job and
// the placement. Actions (actions.ts) change it and redraw; the views (view_*.ts) only read it.
import type { MapPage } from "../shell";
import { toMoves, toPaths, toPoints, type Counts, type Feature, type FC, type Job, type KpiItem, type KpiKey,
  type LayerName, type Moves, type Paths, type Placement, type Points } from "./model";

export interface PlanningState {
  items: KpiItem[];
  byCode: Map<string, KpiItem>;
  kids: Map<string | null, KpiItem[]>;
  current: string | null;
  kpiKey: KpiKey;
  mode: "all" | "online";
  on: Record<LayerName, boolean>;
  choro: Feature[];
  geomCache: Map<string, Feature[]>;
  uncovered: FC;
  blind: Points;
  gaps: Paths;
  dups: Points;
  moves: Moves;
  counts: Counts;
  job: Job | null;
  jobError: string;
  budget: number;
  exact: boolean;
  placing: boolean;
  placement: Placement | null;
  placeError: string;
  accepted: number[] | null;
  loaded: boolean;
  page: MapPage | null;
}

export function newState(): PlanningState {
  const none: FC = { type: "FeatureCollection", features: [] };
  const dups = toPoints(none);
  return {
    items: [], byCode: new Map(), kids: new Map(), current: null, kpiKey: "key_area_surface_rate", mode: "all",
    on: { choropleth: true, uncovered: true, blind_intersections: true, road_gaps: true, duplicates: false, sites: true },
    choro: [], geomCache: new Map(), uncovered: none, blind: toPoints(none), gaps: toPaths(none), dups, moves: toMoves(dups),
    counts: {}, job: null, jobError: "", budget: 5, exact: true, placing: false, placement: null, placeError: "",
    accepted: null, loaded: false, page: null,
  };
}

export const redraw = (s: PlanningState): void => { s.page?.rerender(); s.page?.map.render(); };

/** The colour scale's bounds: rates are 0..1, cameras per km up to the largest shown. */
export function kpiRange(s: PlanningState): [number, number] {
  if (s.kpiKey !== "cameras_per_main_road_km") return [0, 1];
  const vals = s.choro.map((f) => s.byCode.get(String(f.properties.code))?.[s.kpiKey])
    .filter((v): v is number => v !== null && v !== undefined);
  return [0, Math.max(1, ...vals)];
}

/** The divisions from the root down to `code` (the breadcrumbs). */
export function pathTo(s: PlanningState, code: string | null): KpiItem[] {
  const out: KpiItem[] = [];
  for (let c = code; c && s.byCode.has(c); c = s.byCode.get(c)!.parent_code) out.unshift(s.byCode.get(c)!);
  return out;
}
