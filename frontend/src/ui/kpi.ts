// KPI strip: numbers come from the API (/api/v1/kpi/summary, then `kpi` frames), never from the page.
import { h } from "../dom";
import { t, type Key } from "../i18n";

type Kpi = Record<string, number | null>;
const ITEMS: Array<[string, Key, "count" | "rate"]> = [
  ["cameras", "kpi.cameras", "count"],
  ["online_rate", "kpi.online_rate", "rate"],
  ["networked_rate", "kpi.networked_rate", "rate"],
  ["hd_ratio", "kpi.hd_ratio", "rate"],
  ["key_areas", "kpi.key_areas", "count"],
  ["key_area_reach_rate", "kpi.key_area_reach_rate", "rate"],
  ["open_incidents", "kpi.open_incidents", "count"],
  ["units_available", "kpi.units_available", "count"],
];

export function formatKpi(value: number | null | undefined, kind: "count" | "rate"): string {
  // Nothing to count is "no data", never 0 %: a rate of nothing is unknown, not bad.
  if (value === null || value === undefined) return t("kpi.no_data");
  return kind === "rate" ? `${(value * 100).toFixed(1)}%` : value.toLocaleString("en-US");
}

export function kpiStrip(kpi: Kpi | null): HTMLElement {
  return h("div", { class: "kpi-strip", "data-testid": "kpi" },
    ...ITEMS.map(([key, label, kind]) => h("div", { class: `kpi kpi-${key}` },
      h("div", { class: "kpi-value", "data-kpi": key, "data-raw": String(kpi?.[key] ?? "") }, formatKpi(kpi?.[key], kind)),
      h("div", { class: "kpi-label" }, t(label)))));
}
