// A map page: chrome + shared map + live feed; each page adds its own panels.
import { api, ok } from "../api/client";
import { h } from "../dom";
import { onLangChange, t, type Key } from "../i18n";
import { LiveFeed, type ConnState, type Frame } from "../live";
import { MapView } from "../map/mapview";
import { MapStore, type Incident } from "../map/store";
import { attribution, legend, topBar } from "../ui/chrome";
import { incidentPanel } from "../ui/incident";
import { kpiStrip } from "../ui/kpi";

export interface PageSpec {
  page: Key;
  className: string;
  kpi: boolean;
  followIncidents: boolean; // fly to and open new incidents (wall, dispatch)
  panels: () => HTMLElement[];
  onFrame?: (f: Frame) => void; // every frame, after the store has it (pages with their own panels)
  onNewIncident?: (inc: Incident) => void;
  extra?: () => HTMLElement[]; // page-specific floating elements (planning: the division tree)
}

export interface MapPage {
  store: MapStore;
  map: MapView;
  feed: LiveFeed;
  rerender: () => void;
}

export function mountMapPage(root: HTMLElement, spec: PageSpec): MapPage {
  const store = new MapStore();
  let conn: ConnState = "connecting";
  let openIncident: Incident | null = null;
  let snapshots = 0;

  root.className = `page ${spec.className}`;
  const mapEl = h("div", { class: "map", "data-testid": "map" });
  const chrome = h("div", { class: "chrome" });
  root.replaceChildren(mapEl, chrome);
  const map = new MapView(mapEl, store);

  const rerender = () => {
    chrome.replaceChildren(
      topBar(spec.page, conn),
      ...(spec.kpi ? [kpiStrip(store.kpi)] : []),
      h("div", { class: "side" }, ...spec.panels()),
      legend(),
      ...(spec.extra?.() ?? []),
      attribution(),
      ...(openIncident ? [incidentPanel(openIncident, () => { openIncident = null; rerender(); })] : []),
    );
  };
  onLangChange(rerender);
  onLangChange(() => map.render()); // the map's labels too (it otherwise redraws only when its data changes)
  rerender();

  const refreshKpi = async () => {
    try { store.kpi = await ok(api.GET("/api/v1/kpi/summary")); rerender(); } catch { /* shown as — until the feed is back */ }
  };
  if (spec.kpi) void refreshKpi();

  const onFrame = (f: Frame) => {
    switch (f.type) {
      case "snapshot":
        if (snapshots++ > 0) map.invalidateAllTiles(); // after a reconnect: tiles may have failed meanwhile
        store.applySnapshot(f);
        map.fitOnce(store.cameraBounds());
        if (spec.kpi) void refreshKpi();
        break;
      case "positions":
        store.applyPositions(f.items as Array<Record<string, unknown>>);
        map.render(); // at most 10 Hz (the hub batches per tick); no chrome change
        store.positionsDrawnAt = Date.now(); // when the target layer got them (latency checks)
        spec.onFrame?.(f);
        return;
      case "cameras":
        store.applyCamera(f as never);
        map.invalidateTiles("camera_views");
        return;
      case "incidents": {
        const fresh = store.applyIncident(f as never);
        if (fresh) spec.onNewIncident?.(fresh);
        if (fresh && spec.followIncidents) {
          openIncident = fresh;
          map.flyTo(fresh.lon, fresh.lat);
        }
        break;
      }
      case "dispatch":
        store.applyDispatch(f as never);
        break;
      case "kpi":
        store.kpi = f.kpi as Record<string, number | null>;
        break;
      default:
        spec.onFrame?.(f);
        return;
    }
    rerender();
    spec.onFrame?.(f);
  };
  const feed = new LiveFeed({
    layers: ["positions", "cameras", "incidents", "dispatch", "kpi"],
    onFrame,
    onState: (s) => { conn = s; rerender(); },
  });
  feed.start();
  // Test and support hook: the page state, read-only in spirit.
  (window as unknown as { sharpeyes: unknown }).sharpeyes = { store, map, feed };
  return { store, map, feed, rerender };
}

export function placeholderPanel(title: Key, body?: HTMLElement): HTMLElement {
  return h("section", { class: "panel" }, h("h2", {}, t(title)),
    body ?? h("div", { class: "panel-pending" }, t("panel.pending")));
}
