// The dispatch console's state, one object: the selected incident with its dispatches, the cameras that
// see it and the units recommended for it, what the dispatcher ticked, and the target whose prediction is
// shown. Its actions ask the server and say what changed (``changed``); the views (views.ts) only read it.
import { api, ok } from "../../api/client";
import type { Frame } from "../../live";
import type { Incident } from "../../map/store";
import type { TypeMap } from "../../ui/dx";
import type { Prediction } from "../../ui/replay";
import type { Detail, Disp, Recommendation, Seeing } from "./model";

/** What a view draws: each redraws when its part changed. */
export type Part = "list" | "detail" | "cams" | "units" | "map";

export const CLOSED = ["resolved", "closed"];
export const ENDED = ["cleared", "cancelled"];

export class DispatchState {
  types: TypeMap = {};
  selected: Detail | null = null;
  cams: Seeing | null = null;
  recs: Recommendation | null = null;
  readonly chosenCams = new Set<number>();
  readonly chosenUnits = new Set<number>();
  prediction: Prediction | null = null;
  predTarget: number | null = null;
  /** How many tiles the video wall shows: as many of the best cameras are preselected. */
  wallSize: () => number = () => 4;
  private refetch: number | undefined;

  /** ``changed(parts)``: the views to redraw; ``newSelection``: another incident was selected (``fly``: the
   *  map should go there). */
  constructor(private readonly changed: (...parts: Part[]) => void,
              private readonly newSelection: (id: number, lon: number, lat: number, fly: boolean) => void) {}

  /** Load incident ``id`` (again); a newly selected one also gets its cameras and a fresh choice. */
  async select(id: number, fly = false): Promise<void> {
    const isNew = this.selected?.id !== id;
    const feat = await ok(api.GET("/api/v1/incidents/{incident_id}", { params: { path: { incident_id: id } } }));
    const [lon, lat] = feat.geometry.coordinates;
    this.selected = { id, lon, lat, props: feat.properties };
    if (isNew) {
      this.chosenCams.clear(); this.chosenUnits.clear(); this.cams = null; this.recs = null;
      this.newSelection(id, lon, lat, fly);
      void this.loadCams();
    }
    void this.loadRecs();
    this.changed("detail", "list", "map");
  }

  /** The cameras that see the selected spot; the best ones (as many as the wall shows) preselected. */
  async loadCams(): Promise<void> {
    const sel = this.selected;
    if (!sel) return;
    const r: Seeing = await ok(api.GET("/api/v1/callup/seeing", { params: { query: { lon: sel.lon, lat: sel.lat } } }));
    if (this.selected?.id !== sel.id) return;
    this.cams = r;
    r.cameras.slice(0, this.wallSize()).forEach((c) => this.chosenCams.add(c.id));
    this.changed("cams", "map");
  }

  async loadRecs(): Promise<void> {
    const sel = this.selected;
    if (!sel) return;
    if (CLOSED.includes(sel.props.status)) { this.recs = null; this.changed("units"); return; }
    const r = await ok(api.GET("/api/v1/incidents/{incident_id}/recommend", { params: { path: { incident_id: sel.id } } }))
      .catch(() => null);
    if (this.selected?.id !== sel.id) return;
    this.recs = r;
    this.changed("units");
  }

  /** Units that may be sent: recommended and not already on an active dispatch of this incident. */
  sendable(): Recommendation["recommended"] {
    if (!this.selected || !this.recs) return [];
    const busy = new Set(this.activeDispatches().map((d) => d.unit_id));
    return this.recs.recommended.filter((r) => !busy.has(r.unit_id));
  }

  activeDispatches(): Disp[] {
    return this.selected?.props.dispatches.filter((d) => !ENDED.includes(d.status)) ?? [];
  }

  toggle(set: "cams" | "units", id: number, on: boolean): void {
    const s = set === "cams" ? this.chosenCams : this.chosenUnits;
    if (on) s.add(id); else s.delete(id);
    if (set === "cams") this.changed("map");
  }

  // ---- actions (errors go to the caller, which shows them) -----------------------------------------
  async setStatus(status: "on_scene" | "resolved" | "closed"): Promise<void> {
    const id = this.selected!.id;
    await ok(api.POST("/api/v1/incidents/{incident_id}/status", { params: { path: { incident_id: id } }, body: { status } }));
    await this.select(id);
  }

  async setDispatchStatus(dispatchId: number, status: "en_route" | "on_scene" | "cleared" | "cancelled"): Promise<void> {
    await ok(api.POST("/api/v1/dispatches/{dispatch_id}/status", { params: { path: { dispatch_id: dispatchId } }, body: { status } }));
    await this.select(this.selected!.id);
  }

  async dispatchChosen(): Promise<void> {
    const ids = this.sendable().filter((r) => this.chosenUnits.has(r.unit_id)).map((r) => r.unit_id);
    if (!ids.length || !this.selected) return;
    await ok(api.POST("/api/v1/incidents/{incident_id}/dispatch", { params: { path: { incident_id: this.selected.id } }, body: { unit_ids: ids } }));
    this.chosenUnits.clear();
    await this.select(this.selected.id);
  }

  // ---- the live feed -------------------------------------------------------------------------------
  /** A frame of the live feed: the selected incident's ETAs are patched in place, other changes of it
   *  reloaded (debounced: a dispatch sends several frames at once); the list follows every frame. */
  apply(f: Frame): void {
    const sel = this.selected;
    if (f.type === "incidents") {
      const inc = f.incident as Incident | undefined;
      if (inc && sel && inc.id === sel.id) this.reloadSoon();
    } else if (f.type === "dispatch" && sel && Number(f.incident_id) === sel.id) {
      const d = f.op === "progress" && f.status !== "on_scene" ? sel.props.dispatches.find((x) => x.id === Number(f.dispatch_id)) : undefined;
      if (d) { // ETA moved: patched, no round trip
        d.eta_s = (f.eta_s as number | null) ?? null;
        d.status = String(f.status ?? d.status);
        if ("route" in f) d.route = (f.route as Disp["route"]) ?? null; // re-routed from where it is
        this.changed("detail", "map");
      } else this.reloadSoon();
    } else if (f.type !== "snapshot" && f.type !== "dispatch") return;
    this.changed("list");
  }

  private reloadSoon(): void {
    window.clearTimeout(this.refetch);
    this.refetch = window.setTimeout(() => { if (this.selected) void this.select(this.selected.id); }, 150);
  }

  // ---- the prediction of a target ------------------------------------------------------------------
  async loadPrediction(targetId: number): Promise<void> {
    const p = await ok(api.GET("/api/v1/targets/{target_id}/prediction", { params: { path: { target_id: targetId } } }))
      .catch(() => null);
    if (this.predTarget !== targetId) return;
    this.prediction = p;
    this.changed("map");
  }
}
