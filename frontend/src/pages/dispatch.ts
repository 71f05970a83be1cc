// /dispatch: dispatcher console. The incident/unit workflow panels are issue #5's; this is their frame.
import { h } from "../dom";
import { t, type Key } from "../i18n";
import { mountMapPage, placeholderPanel, type MapPage } from "./shell";

export function mount(root: HTMLElement): void {
  let page: MapPage | null = null;
  const incidents = () => {
    const list = page ? [...page.store.incidents.values()] : [];
    return list.length
      ? h("ul", { class: "list" }, ...list.map((i) => h("li", {}, `#${i.id} ${t(`incident.p${i.priority}` as Key)} ${i.type}`)))
      : h("div", { class: "panel-empty" }, t("panel.empty"));
  };
  const units = () => {
    const list = page ? [...page.store.units.values()] : [];
    return list.length
      ? h("ul", { class: "list" }, ...list.map((u) => h("li", {}, `${u.callsign} · ${t(`unit.${u.status}` as Key)}`)))
      : h("div", { class: "panel-empty" }, t("panel.empty"));
  };
  page = mountMapPage(root, { page: "page.dispatch", className: "console", kpi: true, followIncidents: true,
    panels: () => [placeholderPanel("panel.incidents", incidents()), placeholderPanel("panel.units", units())] });
  page.rerender();
}
