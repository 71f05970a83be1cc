// /wall: the command-centre display — unattended, scales from 1920×1080 to 3840×2160, never scrolls.
import { mountMapPage } from "./shell";

export function mount(root: HTMLElement): void {
  mountMapPage(root, { page: "page.wall", className: "wall", kpi: true, followIncidents: true, panels: () => [] });
}
