// Missing person search (走失人员查找) in the dispatch console: from a last-seen point (picked on the map, or
// the selected incident's spot) and time, the streets a person on foot could have reached, and the cameras
// that could have seen them, earliest possible arrival first, each with its recordings in its window (a
// click plays there, as in the evidence list) and the person/face records its device uploaded. The search
// asks devices and is audited with its reason, so it runs only when the dispatcher asks.
import type { Layer } from "@deck.gl/core";
import { PathLayer, ScatterplotLayer } from "@deck.gl/layers";
import { api, authFetch, ok, type Schemas } from "../../api/client";
import { h } from "../../dom";
import { errorText } from "../../errors";
import { t } from "../../i18n";
import { fmtDist, fmtTime } from "../../ui/dx";
import { RecordingsPlayer, type Range } from "../../ui/recordings";
import { recordingsDetail } from "./evidence";

type Out = Schemas["MissingPersonOut"];
type Cam = Schemas["MissingPersonCamera"];
type Rec = Schemas["PersonRecord"];

const pad = (n: number) => String(n).padStart(2, "0");
function localInput(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export class MissingPersonPanel {
  readonly el = h("div", { class: "mp-panel", "data-testid": "missing-person" });
  point: [number, number] | null = null;
  picking = false;
  private data: Out | null = null;
  private state: "idle" | "loading" | "ready" | "failed" = "idle";
  private error = "";
  private incident: number | null = null;
  private readonly seenIn = h("input", { type: "datetime-local", name: "mp-last-seen", "data-testid": "mp-last-seen",
    value: localInput(new Date(Date.now() - 30 * 60_000)) }) as HTMLInputElement;
  private readonly reasonIn = h("input", { name: "mp-reason", "data-testid": "mp-reason" }) as HTMLInputElement;
  readonly player = new RecordingsPlayer({ reason: () => this.reasonIn.value.trim() || t("mp.title"),
    incidentId: () => this.incident });

  constructor(private readonly changed: () => void) {}

  /** The selected incident: its spot is the default last-seen point. */
  setIncident(id: number | null, lon?: number, lat?: number): void {
    this.incident = id;
    if (id !== null && lon !== undefined && lat !== undefined && !this.point) this.point = [lon, lat];
    this.draw();
  }

  /** A map click while picking: the last-seen point. */
  pick(lon: number, lat: number): void {
    this.point = [lon, lat];
    this.picking = false;
    this.draw();
    this.changed();
  }

  async run(): Promise<void> {
    if (!this.point) { this.fail(t("mp.no_point")); return; }
    const seen = new Date(this.seenIn.value);
    if (Number.isNaN(seen.getTime())) { this.fail(t("mp.no_time")); return; }
    this.state = "loading";
    this.draw();
    try {
      this.data = await ok(api.POST("/api/v1/missing-person/search", { body: {
        lon: this.point[0], lat: this.point[1], last_seen: seen.toISOString(), reason: this.reasonIn.value,
        incident_id: this.incident } }));
      this.state = "ready";
    } catch (e) {
      this.fail(errorText(e));
      return;
    }
    this.draw();
    this.changed();
  }

  private fail(msg: string): void {
    this.error = msg;
    this.state = "failed";
    this.draw();
  }

  layers(): Layer[] {
    const out: Layer[] = [];
    const lines = (this.data?.area?.coordinates ?? []) as number[][][];
    if (lines.length) {
      out.push(new PathLayer<number[][]>({ id: "mp-area", data: lines, getPath: (l) => l as [number, number][],
        getColor: [255, 170, 40, 170], getWidth: 4, widthUnits: "pixels" }));
    }
    if (this.data) {
      out.push(new ScatterplotLayer<Cam>({ id: "mp-cams", data: this.data.cameras, getPosition: (c) => [c.lon, c.lat],
        getRadius: 6, radiusUnits: "pixels", getFillColor: [255, 120, 40, 230] }));
    }
    if (this.point) {
      out.push(new ScatterplotLayer({ id: "mp-point", data: [this.point], getPosition: (d: [number, number]) => d,
        getRadius: 9, radiusUnits: "pixels", getFillColor: [255, 80, 40, 160], stroked: true,
        getLineColor: [255, 255, 255, 255], lineWidthMinPixels: 2 }));
    }
    return out;
  }

  draw(): void {
    const where = this.point ? `${this.point[0].toFixed(5)}, ${this.point[1].toFixed(5)}` : t("mp.no_point");
    this.reasonIn.placeholder = t("mp.reason_hint");
    const form = h("div", { class: "mp-form" },
      h("div", { class: "mp-where" }, h("span", { "data-testid": "mp-point" }, where),
        h("button", { class: "btn", type: "button", "data-testid": "mp-pick", "aria-pressed": String(this.picking),
          onclick: () => { this.picking = !this.picking; this.draw(); } }, t(this.picking ? "mp.picking" : "mp.pick"))),
      h("label", {}, t("mp.last_seen"), this.seenIn),
      h("label", {}, t("mp.reason"), this.reasonIn),
      h("button", { class: "btn primary", type: "button", "data-testid": "mp-run", disabled: this.state === "loading",
        onclick: () => void this.run() }, t("mp.run")));
    const body: HTMLElement[] = [form];
    if (this.state === "idle") body.push(h("div", { class: "hint" }, t("mp.hint")));
    if (this.state === "loading") body.push(h("div", { class: "muted", role: "status" }, t("mp.loading")));
    if (this.state === "failed") body.push(h("div", { class: "dx-msg", role: "status" }, `${t("dx.failed")} · ${this.error}`));
    this.player.draw();
    body.push(this.player.el);
    const d = this.data;
    if (this.state === "ready" && d) {
      body.push(h("div", { class: "muted", "data-testid": "mp-summary" },
        `${t("mp.reach")} ${fmtDist(d.reach_m)} · ${fmtTime(d.last_seen, true)} – ${fmtTime(d.until, true)}`));
      body.push(d.cameras.length
        ? h("ol", { class: "rec-ev-list mp-list", "data-testid": "mp-list" }, ...d.cameras.map((c) => this.row(c)))
        : h("div", { class: "muted" }, t("mp.none")));
    }
    this.el.replaceChildren(...body);
  }

  private row(c: Cam): HTMLElement {
    const win: Range = { start: new Date(c.start), end: new Date(c.end) };
    const detail = recordingsDetail(c, win, this.player);
    return h("li", { class: `rec-ev-cam ${c.state}`, "data-camera": c.camera_id, "data-state": c.state },
      h("div", { class: "rec-ev-main" }, h("b", {}, c.name),
        h("span", { class: "muted", "data-testid": "mp-arrival" }, `${fmtDist(c.arrival_m)} · ${t("mp.from")} ${fmtTime(c.start, true)}`),
        h("span", { class: `pill ev-${c.state}` }, t(`rec.ev.${c.state}`))),
      detail,
      c.records.length ? h("div", { class: "mp-records", "data-testid": "mp-records" }, ...c.records.map((r) => record(r))) : null);
  }
}

function record(r: Rec): HTMLElement {
  const img = h("img", { class: "mp-thumb", alt: t(r.kind === "face" ? "mp.face" : "mp.person"), width: 48, height: 48 }) as HTMLImageElement;
  const sha = (r.images[0] as { sha256?: string } | undefined)?.sha256;
  if (sha) {
    void authFetch(`/api/v1/viid/images/${sha}`).then(async (x) => { if (x.ok) img.src = URL.createObjectURL(await x.blob()); })
      .catch(() => {});
  }
  return h("figure", { class: "mp-record", "data-record": r.record_id }, img,
    h("figcaption", { class: "muted" }, `${t(r.kind === "face" ? "mp.face" : "mp.person")} ${fmtTime(r.shot_time, true)}`));
}
