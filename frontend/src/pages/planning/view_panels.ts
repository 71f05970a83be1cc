// The planning page's right-hand panels: the analysis job and its results, the layer switches, the placement
// of new cameras under a budget, and the exports (report, CSV tables, GeoJSON layers).
import { download } from "../../api/client";
import { h } from "../../dom";
import { localName, t, type Key } from "../../i18n";
import { errorText, tr } from "../../ui/desk";
import { accept, loadLayers, openReport, runJob, runPlacement } from "./actions";
import { fmtKpi, GEOJSON, LAYERS, TABLES, type LayerName } from "./model";
import { redraw, type PlanningState } from "./state";

export function analysisPanel(s: PlanningState): HTMLElement {
  const { job, mode, counts } = s;
  const running = job !== null && job.status !== "done" && job.status !== "failed";
  const res = (job?.status === "done" ? (job.result?.coverage as Record<string, Record<string, number>> | undefined)?.[mode] : undefined);
  const root = s.current ? s.byCode.get(s.current) : undefined;
  const stat = (k: Key, v: string, testid: string) => h("div", { class: "pl-stat", "data-testid": testid },
    h("b", {}, v), h("span", {}, t(k)));
  return h("section", { class: "panel pl-panel", "data-testid": "analysis" },
    h("h2", {}, t("pl.analysis")),
    h("div", { class: "pl-jobrow" },
      h("button", { class: "primary", type: "button", "data-testid": "run-job", disabled: running, onclick: () => void runJob(s) },
        running ? t("pl.running") : t("pl.run")),
      h("select", { "data-testid": "mode", title: t("pl.mode"), onchange: (ev: Event) => {
        s.mode = (ev.target as HTMLSelectElement).value as "all" | "online"; void loadLayers(s).then(() => redraw(s)); } },
        ...(["all", "online"] as const).map((m) => h("option", { value: m, selected: m === mode }, t(`pl.mode.${m}` as Key))))),
    job ? h("div", { class: "pl-progress", "data-testid": "job-progress", "data-status": job.status },
      h("div", { class: "pl-progress-bar" }, h("span", { style: `width:${Math.round((job.progress ?? 0) * 100)}%` })),
      h("div", { class: "pl-progress-l" },
        h("span", {}, `${tr(`pl.job.${job.status}`, job.status)}${job.stage ? ` · ${job.stage}` : ""}${job.message ? ` · ${job.message}` : ""}`),
        h("span", {}, `${Math.round((job.progress ?? 0) * 100)}%`))) : null,
    s.jobError ? h("div", { class: "note note-error" }, s.jobError) : null,
    h("div", { class: "pl-stats" },
      stat("pl.res.key_area_surface", fmtKpi("key_area_surface_rate", res?.key_area_surface_rate ?? root?.key_area_surface_rate),
        "stat-coverage"),
      stat("pl.res.blind_intersections", String(res?.blind_intersections ?? counts.blind_intersections ?? "—"), "stat-blind"),
      stat("pl.res.main_road_blind_km", res?.main_road_blind_km !== undefined ? res.main_road_blind_km.toFixed(2)
        : counts.road_gap_km !== undefined ? counts.road_gap_km.toFixed(2) : "—", "stat-gaps"),
      stat("pl.res.duplicates", String(counts.duplicates ?? "—"), "stat-dups")));
}

export function layersPanel(s: PlanningState): HTMLElement {
  const { counts } = s;
  const n: Partial<Record<LayerName, number>> = { uncovered: counts.uncovered, blind_intersections: counts.blind_intersections,
    road_gaps: counts.road_gaps, duplicates: counts.duplicates, choropleth: s.choro.length, sites: s.placement?.sites.length };
  return h("section", { class: "panel pl-panel", "data-testid": "layers" },
    h("h2", {}, t("pl.layers")),
    ...LAYERS.map((l) => {
      const cb = h("input", { type: "checkbox", "data-testid": `layer-${l}`, checked: s.on[l],
        onchange: (ev: Event) => { s.on[l] = (ev.target as HTMLInputElement).checked; redraw(s); } });
      return h("label", { class: "pl-check" }, cb, h("span", {}, t(`pl.layer.${l}` as Key)),
        h("small", {}, n[l] !== undefined ? String(n[l]) : ""));
    }));
}

export function placementPanel(s: PlanningState): HTMLElement {
  const node = s.current ? s.byCode.get(s.current) : undefined;
  const valueEl = h("b", { "data-testid": "budget-value" }, String(s.budget));
  const slider = h("input", { type: "range", min: 1, max: 30, step: 1, value: s.budget, "data-testid": "budget",
    oninput: (ev: Event) => { s.budget = Number((ev.target as HTMLInputElement).value); valueEl.textContent = String(s.budget); } });
  const p = s.placement;
  const accepted = s.accepted;
  const gainM2 = p ? p.sites.reduce((sum, x) => sum + x.gain_m2, 0) : 0;
  const gainInt = p ? p.sites.reduce((sum, x) => sum + x.gain_intersections, 0) : 0;
  return h("section", { class: "panel pl-panel", "data-testid": "placement" },
    h("h2", {}, t("pl.placement")),
    h("div", { class: "pl-scope" }, `${t("pl.scope")}: `, h("b", {}, node ? localName(node.name, node.name_en) : "—")),
    h("div", { class: "pl-budget" }, h("span", {}, t("pl.budget")), valueEl),
    slider,
    h("div", { class: "pl-jobrow" },
      h("label", { class: "pl-check" }, h("input", { type: "checkbox", checked: s.exact, "data-testid": "exact",
        onchange: (ev: Event) => { s.exact = (ev.target as HTMLInputElement).checked; } }), h("span", {}, "MILP")),
      h("button", { class: "primary", type: "button", "data-testid": "run-placement", disabled: s.placing || !s.items.length,
        onclick: () => void runPlacement(s) }, s.placing ? t("pl.placing") : t("pl.place"))),
    s.placeError ? h("div", { class: "note note-error", "data-testid": "placement-error" }, s.placeError) : null,
    p ? h("div", { class: "pl-result", "data-testid": "placement-result", "data-sites": p.sites.length },
      h("div", { class: "pl-stats" },
        h("div", { class: "pl-stat" }, h("b", { "data-testid": "gain" }, `${Math.round(gainM2).toLocaleString("en-US")} m²`), h("span", {}, t("pl.gain"))),
        h("div", { class: "pl-stat" }, h("b", {}, String(gainInt)), h("span", {}, t("pl.gain_int"))),
        h("div", { class: "pl-stat" }, h("b", {}, Math.round(p.greedy.value).toLocaleString("en-US")), h("span", {}, t("pl.greedy"))),
        h("div", { class: "pl-stat" }, h("b", {}, p.milp ? `${Math.round(p.milp.value).toLocaleString("en-US")}${p.milp.optimal ? " ✓" : ""}` : "—"),
          h("span", {}, t("pl.milp"))),
        h("div", { class: "pl-stat" }, h("b", { "data-testid": "gap" }, p.greedy_gap === null || p.greedy_gap === undefined ? "—"
          : `${(p.greedy_gap * 100).toFixed(1)}%`), h("span", {}, t("pl.gap")))),
      h("ol", { class: "pl-sites" }, ...p.sites.map((x) => h("li", {},
        h("span", {}, tr(`pl.kind.${x.site_kind}`, x.site_kind)),
        h("span", { class: "pl-head", style: `--a:${x.heading_deg ?? 0}deg` }, x.heading_deg === null ? "360°" : `↑ ${x.heading_deg}°`),
        h("span", {}, `+${Math.round(x.gain_m2)} m²`)))),
      accepted ? h("div", { class: "note note-ok", "data-testid": "accepted", "data-ids": accepted.join(",") },
        `${t("pl.accepted")}: ${accepted.length}`)
        : h("button", { class: "primary wide", type: "button", "data-testid": "accept", disabled: !p.sites.length,
          onclick: () => void accept(s) }, t("pl.accept"))) : null);
}

export function exportPanel(s: PlanningState): HTMLElement {
  const dl = (path: string, name: string, label: string, testid: string) => h("button", { type: "button", class: "chip",
    "data-testid": testid, onclick: () => void download(path, name).catch((e) => { s.jobError = errorText(e); redraw(s); }) }, label);
  return h("section", { class: "panel pl-panel", "data-testid": "exports" },
    h("h2", {}, t("pl.export")),
    h("button", { class: "primary wide", type: "button", "data-testid": "report", onclick: () => openReport(s) }, `${t("pl.report")} ↗`),
    h("div", { class: "pl-sub" }, t("pl.csv")),
    h("div", { class: "chips" }, ...TABLES.map((x) => dl(`/api/v1/planning/tables/${x}.csv`, `${x}.csv`, t(`pl.tab.${x}` as Key), `csv-${x}`))),
    h("div", { class: "pl-sub" }, t("pl.geojson")),
    h("div", { class: "chips" }, ...GEOJSON.map((x) => dl(`/api/v1/planning/layers/${x}.geojson?mode=${s.mode}`, `${x}.geojson`,
      t(`pl.tab.${x}` as Key), `geojson-${x}`))));
}
