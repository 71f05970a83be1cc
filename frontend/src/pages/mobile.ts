// /m: field officer on a phone. Assignments and position sharing come with the field module.
import { mountMapPage, placeholderPanel } from "./shell";

export function mount(root: HTMLElement): void {
  mountMapPage(root, { page: "page.m", className: "mobile", kpi: false, followIncidents: false,
    panels: () => [placeholderPanel("panel.assignments"), placeholderPanel("panel.nearby")] });
}
