// What the planner does on the page: load the KPIs and the coverage layers, walk the division tree, run the
// analysis and the placement jobs, accept the placed cameras, open the report. Each changes the state and redraws.
import { api, ok } from "../../api/client";
import { currentLang, t } from "../../i18n";
import { errorText } from "../../ui/desk";
import { bboxOf, toMoves, toPaths, toPoints, type Feature, type FC, type Job, type Placement } from "./model";
import { redraw, type PlanningState } from "./state";

async function loadKpis(s: PlanningState): Promise<void> {
  const r = await ok(api.GET("/api/v1/planning/kpi"));
  s.items = r.items;
  s.byCode.clear(); s.kids.clear();
  for (const it of s.items) s.byCode.set(it.code, it);
  for (const it of s.items) {
    const p = it.parent_code && s.byCode.has(it.parent_code) ? it.parent_code : null;
    if (!s.kids.has(p)) s.kids.set(p, []);
    s.kids.get(p)!.push(it);
  }
  if (s.current && !s.byCode.has(s.current)) s.current = null;
  if (s.current === null && (s.kids.get(null)?.length ?? 0) === 1) s.current = s.kids.get(null)![0].code;
  s.loaded = true;
}

export async function loadLayers(s: PlanningState): Promise<void> {
  const get = (layer: string): Promise<FC> =>
    ok(api.GET("/api/v1/planning/layers/{layer}.geojson", { params: { path: { layer }, query: { mode: s.mode } } }));
  const [u, b, g, d] = await Promise.all([get("uncovered"), get("blind_intersections"), get("road_gaps"), get("duplicates")]);
  s.uncovered = u;
  s.blind = toPoints(b);
  s.gaps = toPaths(g);
  s.dups = toPoints(d);
  s.moves = toMoves(s.dups);
  s.counts = { uncovered: u.features.length, blind_intersections: b.features.length, road_gaps: g.features.length,
    duplicates: d.features.length,
    road_gap_km: g.features.reduce((sum, f) => sum + Number(f.properties.blind_m ?? 0), 0) / 1000 };
}

const division = (code: string): Promise<Feature> => ok(api.GET("/api/v1/divisions/{code}", { params: { path: { code } } }));

export async function showDivision(s: PlanningState, code: string | null, fit = true): Promise<void> {
  s.current = code;
  s.placement = null; s.accepted = null; s.placeError = "";
  redraw(s);
  const key = code ?? "";
  if (!s.geomCache.has(key)) {
    try {
      let feats: Feature[] = [];
      if (code) {
        const fc = await ok(api.GET("/api/v1/divisions", { params: { query: { parent: code, limit: 1000 } } }));
        feats = fc.features;
        if (!feats.length) feats = [await division(code)];
      } else {
        const roots = s.kids.get(null) ?? [];
        feats = (await Promise.all(roots.map((r) => division(r.code))));
      }
      s.geomCache.set(key, feats.filter((f) => f.geometry));
    } catch { s.geomCache.set(key, []); }
  }
  if (s.current !== code) return; // another click meanwhile
  s.choro = s.geomCache.get(key)!;
  const box = bboxOf(s.choro);
  if (fit && box && s.page) {
    // Frame the division in the map area left free by the tree (left) and the panels (right).
    const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
    s.page.map.fitTo(box, 17, { left: Math.round(28 * rem), right: Math.round(27 * rem), top: Math.round(5 * rem),
      bottom: Math.round(2 * rem) });
  }
  redraw(s);
}

export async function refreshAll(s: PlanningState): Promise<void> {
  try {
    await Promise.all([loadKpis(s), loadLayers(s)]);
  } catch (e) { s.jobError = errorText(e); }
  s.geomCache.clear();
  await showDivision(s, s.current, true);
}

const pollJob = (id: number): Promise<Job> => ok(api.GET("/api/v1/planning/jobs/{job_id}", { params: { path: { job_id: id } } }));

export async function runJob(s: PlanningState): Promise<void> {
  s.jobError = "";
  try {
    const { id } = await ok(api.POST("/api/v1/planning/jobs", { body: { kind: "full", params: {} } }));
    let job: Job = { id, status: "queued", progress: 0 };
    s.job = job;
    redraw(s);
    for (;;) {
      await new Promise((r) => window.setTimeout(r, 600));
      s.job = job = await pollJob(id);
      redraw(s);
      if (job.status === "done" || job.status === "failed") break;
    }
    if (job.status === "failed") s.jobError = job.error ?? t("pl.job.failed");
    else await refreshAll(s);
  } catch (e) { s.jobError = errorText(e); }
  redraw(s);
}

export async function runPlacement(s: PlanningState): Promise<void> {
  s.placing = true; s.placeError = ""; s.placement = null; s.accepted = null;
  redraw(s);
  try {
    // A background job (the exact solver may take its time limit): the page polls, no request waits on it.
    const { id } = await ok(api.POST("/api/v1/planning/jobs",
      { body: { kind: "placement", params: { budget: s.budget, division_code: s.current ?? undefined, mode: s.mode, exact: s.exact } } }));
    let pj: Job;
    do {
      await new Promise((r) => window.setTimeout(r, 500));
      pj = await pollJob(id);
    } while (pj.status !== "done" && pj.status !== "failed");
    if (pj.status === "failed") s.placeError = pj.error ?? t("pl.job.failed");
    else { s.placement = pj.result as unknown as Placement; s.on.sites = true; }
  } catch (e) { s.placeError = errorText(e); }
  s.placing = false;
  redraw(s);
}

export async function accept(s: PlanningState): Promise<void> {
  const placement = s.placement;
  if (!placement) return;
  try {
    const r = await ok(api.POST("/api/v1/planning/accept", { body: {
      sites: placement.sites.map((x) => ({ lon: x.lon, lat: x.lat, heading_deg: x.heading_deg,
        fov_deg: placement.fov_deg, range_m: placement.range_m })) } }));
    s.accepted = r.camera_ids;
  } catch (e) { s.placeError = errorText(e); }
  redraw(s);
}

export function openReport(s: PlanningState): void {
  // A new tab cannot send the bearer header, and a token in a URL lands in logs and history: the report
  // opens with a one-time ticket (60 s, this page only). Its deck.gl script is served by the same router.
  const path = "/api/v1/planning/report/index.html";
  void ok(api.POST("/api/v1/auth/ticket", { body: { path } })).then(({ ticket }) => {
    window.open(`${path}?mode=${s.mode}&lang=${currentLang()}&ticket=${encodeURIComponent(ticket)}`, "_blank", "noopener");
  }).catch((e) => { s.jobError = errorText(e); redraw(s); });
}
