// The planning page's left side: the division tree (breadcrumbs, the current division's KPI card, its
// children ranked by the chosen KPI) and the map legend.
import { h } from "../../dom";
import { localName, t, type Key } from "../../i18n";
import { showDivision } from "./actions";
import { C, fmtKpi, KPIS, ramp, rgba, type KpiKey } from "./model";
import { kpiRange, pathTo, redraw, type PlanningState } from "./state";

export function treePanel(s: PlanningState): HTMLElement {
  const { byCode, kids, current, kpiKey } = s;
  const node = current ? byCode.get(current) ?? null : null;
  const children = kids.get(current) ?? [];
  const [lo, hi] = kpiRange(s);
  const crumbs = pathTo(s, current);
  const kpiSelect = h("select", { "data-testid": "kpi-select", onchange: (ev: Event) => {
    s.kpiKey = (ev.target as HTMLSelectElement).value as KpiKey; redraw(s); } }) as HTMLSelectElement;
  for (const k of KPIS) kpiSelect.append(h("option", { value: k }, t(`pl.kpi.${k}` as Key)));
  kpiSelect.value = kpiKey;

  const card = node ? h("div", { class: "pl-node", "data-testid": "tree-node", "data-code": node.code },
    h("div", { class: "pl-node-title" },
      h("span", { class: "pl-level" }, t(`pl.level.${node.level}` as Key)),
      h("span", { class: "pl-node-name" }, localName(node.name, node.name_en)),
      h("span", { class: "pl-code" }, node.code)),
    h("div", { class: "pl-kpis" },
      ...KPIS.map((k) => h("div", { class: `pl-kpi ${k === kpiKey ? "sel" : ""}`, "data-testid": "tree-kpi", "data-kpi": k,
        "data-raw": node[k] === null ? "" : String(node[k]), onclick: () => { s.kpiKey = k; redraw(s); } },
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
      "data-raw": v === null ? "" : String(v), onclick: () => void showDivision(s, c.code) },
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
      ...(kids.get(null)?.length === 1 ? [] : [h("button", { type: "button", onclick: () => void showDivision(s, null) }, "⌂")]),
      ...crumbs.flatMap((c, i) => [
        ...(i ? [h("span", { class: "sep" }, "/")] : []),
        h("button", { type: "button", class: c.code === current ? "cur" : "", onclick: () => void showDivision(s, c.code) },
          localName(c.name, c.name_en))])),
    !s.loaded ? h("div", { class: "panel-pending" }, "…")
      : !s.items.length ? h("div", { class: "pl-empty", "data-testid": "no-results" }, t("pl.no_results")) : card,
    h("label", { class: "pl-colorby" }, h("span", {}, t("pl.color_by")), kpiSelect),
    h("div", { class: "pl-rows-title" }, t("pl.children"), h("span", {}, String(children.length))),
    h("div", { class: "pl-rows" }, ...(rows.length ? rows : [h("div", { class: "panel-empty" }, t("pl.no_children"))])));
}

export function legendBox(s: PlanningState): HTMLElement {
  const [lo, hi] = kpiRange(s);
  const grad = [0, 0.5, 1].map((x) => `rgb(${ramp(x).join(",")})`).join(",");
  const sw = (c: readonly number[], shape = "dot") => h("span", { class: `sw sw-${shape}`, style: `--c:${rgba(c)}` });
  return h("aside", { class: "pl-legend", "data-testid": "planning-legend" },
    h("div", { class: "lg-title" }, t(`pl.kpi.${s.kpiKey}` as Key)),
    h("div", { class: "pl-ramp", style: `background:linear-gradient(90deg,${grad})` }),
    h("div", { class: "pl-ramp-l" }, h("span", {}, fmtKpi(s.kpiKey, lo)), h("span", {}, fmtKpi(s.kpiKey, hi))),
    h("div", { class: "lg-row" }, sw(C.uncovered, "box"), h("span", {}, t("pl.layer.uncovered"))),
    h("div", { class: "lg-row" }, sw(C.blind), h("span", {}, t("pl.layer.blind_intersections"))),
    h("div", { class: "lg-row" }, sw(C.gaps, "line"), h("span", {}, t("pl.layer.road_gaps"))),
    h("div", { class: "lg-row" }, sw(C.dup), h("span", {}, t("pl.layer.duplicates"))),
    h("div", { class: "lg-row" }, sw(C.site), h("span", {}, t("pl.layer.sites"))));
}
