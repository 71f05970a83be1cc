// /planning: planner's desk. Coverage analysis and per-division KPIs are filled by the planning module.
import { mountMapPage, placeholderPanel } from "./shell";

export function mount(root: HTMLElement): void {
  mountMapPage(root, { page: "page.planning", className: "console", kpi: true, followIncidents: false,
    panels: () => [placeholderPanel("panel.coverage"), placeholderPanel("panel.kpi_divisions")] });
}
