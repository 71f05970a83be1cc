// /admin: users, grants and devices (panels filled by the administration module).
import { mountMapPage, placeholderPanel } from "./shell";

export function mount(root: HTMLElement): void {
  mountMapPage(root, { page: "page.admin", className: "console", kpi: true, followIncidents: false,
    panels: () => [placeholderPanel("panel.users"), placeholderPanel("panel.devices")] });
}
