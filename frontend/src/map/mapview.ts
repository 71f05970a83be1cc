// The deck.gl map shared by every page: our tiles underneath, live overlays on top.
import { Deck, FlyToInterpolator, WebMercatorViewport, type Layer, type MapViewState, type PickingInfo } from "@deck.gl/core";
import { basemapLayers } from "./basemap";
import { overlayLayers } from "./overlays";
import type { MapStore } from "./store";

export class MapView {
  readonly deck: Deck;
  private viewState: MapViewState = { longitude: 24.944, latitude: 60.171, zoom: 14.5, pitch: 0, bearing: 0 };
  tileVersion: Record<string, number> = {};
  private fitted = false;
  private animating = false;
  /** Page-specific layers drawn above the live overlays (routes, cones, replay). */
  extraLayers: Array<() => Layer[]> = [];
  /** A click on the map (object or empty ground); pages set it. */
  onClick: ((info: PickingInfo) => void) | null = null;
  /** Page-specific layers drawn between the base map and the live overlays (planning). */
  underLayers: () => Layer[] = () => [];
  /** Page-specific tooltip, asked first. */
  extraTooltip: ((info: PickingInfo) => { text?: string; html?: string } | null) | null = null;

  constructor(parent: HTMLElement, private readonly store: MapStore) {
    this.deck = new Deck({
      parent: parent as HTMLDivElement, initialViewState: this.viewState, controller: true,
      onViewStateChange: ({ viewState }) => { this.viewState = viewState as MapViewState; this.render(); return viewState; },
      style: { position: "absolute", inset: "0" },
      getTooltip: (info) => {
        const own = this.extraTooltip?.(info);
        if (own) return own;
        const { layer, index, object } = info;
        if (layer?.id === "cameras" && index >= 0) return { text: `#${this.store.cameras.ids[index]}` };
        if (object && "callsign" in (object as object)) return { text: (object as { callsign: string }).callsign };
        return null;
      },
    });
    this.render();
    // Clicks: a native listener (a drag that ends on the map is not a click), then deck's picking.
    let down: [number, number] | null = null;
    parent.addEventListener("pointerdown", (ev) => { down = [ev.clientX, ev.clientY]; });
    parent.addEventListener("click", (ev) => {
      if (!this.onClick || !down || Math.hypot(ev.clientX - down[0], ev.clientY - down[1]) > 5) return;
      const r = parent.getBoundingClientRect();
      const x = ev.clientX - r.left, y = ev.clientY - r.top;
      const picked = this.deck.pickObject({ x, y, radius: 4 });
      const vp = this.deck.getViewports()[0];
      const coordinate = vp ? (vp.unproject([x, y]) as number[]) : undefined;
      this.onClick({ ...(picked ?? { x, y, index: -1, picked: false, layer: null, object: null }), coordinate } as PickingInfo);
    });
    // Pulses and fading tails move with time: redraw at 10 fps while there is something animated
    // (big layers keep their data, so this is cheap); an idle wall does not spend CPU on redraws.
    window.setInterval(() => {
      if (this.store.incidents.size || this.store.targets.size || this.store.version !== this.drawnVersion) this.render();
    }, 100);
  }

  private drawnVersion = -1;

  render(): void {
    this.drawnVersion = this.store.version;
    const now = Date.now() / 1000;
    const zoom = this.viewState.zoom;
    this.deck.setProps({ layers: [...basemapLayers(this.tileVersion, zoom), ...this.underLayers(),
      ...overlayLayers(this.store, zoom, now), ...this.extraLayers.flatMap((f) => f())] });
  }

  invalidateTiles(layer: string): void {
    this.tileVersion[layer] = (this.tileVersion[layer] ?? 0) + 1;
  }

  invalidateAllTiles(): void {
    for (const layer of ["roads", "divisions", "key_areas", "camera_views", "water", "green", "rail", "road_labels", "poi"]) this.invalidateTiles(layer);
    this.render();
  }

  fitOnce(bounds: [[number, number], [number, number]] | null): void {
    if (this.fitted || !bounds) return;
    this.fitted = true;
    const width = window.innerWidth, height = window.innerHeight;
    const vp = new WebMercatorViewport({ width, height });
    // Room for the top bar and KPI strip above, the legend at the left.
    const padding = { top: Math.round(height * 0.17), bottom: Math.round(height * 0.05),
      left: Math.round(width * 0.12), right: Math.round(width * 0.12) };
    const { longitude, latitude, zoom } = vp.fitBounds(bounds, { padding });
    this.setView({ longitude, latitude, zoom: Math.min(zoom, 17.5) });
  }

  /** Frame a bounding box (planning: the selected division). */
  fitTo(bounds: [[number, number], [number, number]], maxZoom = 17,
        padding: number | { top: number; bottom: number; left: number; right: number } = Math.round(window.innerHeight * 0.1)): void {
    this.fitted = true;
    const vp = new WebMercatorViewport({ width: window.innerWidth, height: window.innerHeight });
    const { longitude, latitude, zoom } = vp.fitBounds(bounds, { padding });
    this.setView({ longitude, latitude, zoom: Math.min(zoom, maxZoom), transitionDuration: 600 } as Partial<MapViewState>);
  }

  flyTo(lon: number, lat: number, zoom = 17): void {
    this.animating = true;
    this.setView({ longitude: lon, latitude: lat, zoom, transitionDuration: 1500,
      transitionInterpolator: new FlyToInterpolator() } as Partial<MapViewState>);
    window.setTimeout(() => { this.animating = false; }, 1600);
  }

  /** Recentre without animation (a followed target in replay). */
  centerOn(lon: number, lat: number): void {
    this.setView({ longitude: lon, latitude: lat });
  }

  get view(): MapViewState {
    return this.viewState;
  }

  get busy(): boolean {
    return this.animating;
  }

  private setView(v: Partial<MapViewState>): void {
    this.viewState = { ...this.viewState, ...v };
    this.deck.setProps({ initialViewState: this.viewState });
    this.render();
  }
}
