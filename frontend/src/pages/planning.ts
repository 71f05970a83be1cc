// /planning: the planner's desk (issue #6). Division tree with the programme's KPIs and a choropleth,
// the coverage results as map layers (blind spots, blind intersections, main-road gaps, duplicates),
// the analysis job with its progress, placement of new cameras under a budget, and the exports.
// The state is one object (planning/state.ts), changed by planning/actions.ts, drawn by planning/view_*.ts.
import { mountMapPage } from "./shell";
import "./planning.css";
import { refreshAll } from "./planning/actions";
import { newState } from "./planning/state";
import { layers, tooltip } from "./planning/view_map";
import { analysisPanel, exportPanel, layersPanel, placementPanel } from "./planning/view_panels";
import { legendBox, treePanel } from "./planning/view_tree";

export function mount(root: HTMLElement): void {
  const s = newState();
  const page = mountMapPage(root, { page: "page.planning", className: "console planning", kpi: false, followIncidents: false,
    panels: () => [analysisPanel(s), layersPanel(s), placementPanel(s), exportPanel(s)],
    extra: () => [treePanel(s), legendBox(s)] });
  s.page = page;
  page.map.underLayers = () => layers(s);
  page.map.extraTooltip = (info) => tooltip(s, info);
  (window as unknown as { sharpeyesPlanning: unknown }).sharpeyesPlanning = {
    get current() { return s.current; }, get items() { return s.items; }, get placement() { return s.placement; },
  };
  void refreshAll(s);
}
