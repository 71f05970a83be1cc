// Track replay (several targets on one shared clock: slider, play/pause, 1–60×, follow) and the
// prediction cone drawn ahead of a target (+30/60/120 s with uncertainty radius, two methods).
import type { Layer } from "@deck.gl/core";
import { PathLayer, PolygonLayer, ScatterplotLayer, TextLayer } from "@deck.gl/layers";
import { api, ok } from "../api/client";
import { h } from "../dom";
import { t } from "../i18n";
import type { MapView } from "../map/mapview";
import { fmtTime, offset, tf } from "./dx";

export interface PredPoint { horizon_s: number; lon: number; lat: number; radius_m: number }
export interface Prediction { target_id: number; lon: number; lat: number; heading_deg: number | null; speed_kmh: number | null;
  methods: { cv?: PredPoint[]; road?: PredPoint[] } }

interface Track { target_id: number; t: number[]; lon: number[]; lat: number[]; course_deg?: number[] }
interface TargetRow { id: number; name: string | null; callsign: string | null; kind: string; stale: boolean; external_id: string }

const COLORS: [number, number, number][] = [[90, 200, 250], [255, 149, 0], [191, 90, 242], [52, 199, 89], [255, 214, 10], [255, 90, 95]];
const FONT = '"Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", system-ui, sans-serif';

/** The cone: convex hull of the target's position and each horizon's uncertainty circle (never self-crossing,
 *  also where the road turns). */
function cone(origin: [number, number], pts: PredPoint[]): [number, number][] {
  const cloud: [number, number][] = [origin];
  for (const p of pts) for (let k = 0; k < 24; k++) {
    const a = (k / 24) * 2 * Math.PI;
    cloud.push(offset(p.lon, p.lat, Math.cos(a) * p.radius_m, Math.sin(a) * p.radius_m));
  }
  cloud.sort((u, v) => u[0] - v[0] || u[1] - v[1]);
  const cross = (o: number[], u: number[], v: number[]) => (u[0] - o[0]) * (v[1] - o[1]) - (u[1] - o[1]) * (v[0] - o[0]);
  const half = (list: [number, number][]) => {
    const out: [number, number][] = [];
    for (const q of list) {
      while (out.length >= 2 && cross(out[out.length - 2], out[out.length - 1], q) <= 0) out.pop();
      out.push(q);
    }
    out.pop();
    return out;
  };
  return [...half(cloud), ...half([...cloud].reverse())];
}

export function predictionLayers(p: Prediction): Layer[] {
  const o: [number, number] = [p.lon, p.lat];
  const layers: Layer[] = [];
  const methods: Array<["road" | "cv", [number, number, number]]> = [["cv", [255, 214, 10]], ["road", [255, 90, 95]]];
  for (const [m, c] of methods) {
    const pts = p.methods[m];
    if (!pts?.length) continue;
    // A light fill: at +120 s the cone can span kilometres, and the map under it must stay legible.
    layers.push(new PolygonLayer({ id: `pred-cone-${m}`, data: [cone(o, pts)], getPolygon: (d: [number, number][]) => d,
      getFillColor: [...c, m === "road" ? 26 : 14], getLineColor: [...c, 200], lineWidthMinPixels: 1.5, stroked: true, filled: true }));
    layers.push(new PathLayer({ id: `pred-path-${m}`, data: [[o, ...pts.map((q) => [q.lon, q.lat] as [number, number])]],
      getPath: (d: [number, number][]) => d, getColor: [...c, 230], getWidth: 2, widthUnits: "pixels" }));
    layers.push(new ScatterplotLayer<PredPoint>({ id: `pred-ring-${m}`, data: pts, getPosition: (d) => [d.lon, d.lat],
      getRadius: (d) => d.radius_m, radiusUnits: "meters", filled: false, stroked: true, getLineColor: [...c, 110], lineWidthMinPixels: 1 }));
    layers.push(new ScatterplotLayer<PredPoint>({ id: `pred-pts-${m}`, data: pts, getPosition: (d) => [d.lon, d.lat],
      getRadius: 5, radiusUnits: "pixels", getFillColor: [...c, 255], getLineColor: [0, 0, 0, 200], stroked: true, lineWidthMinPixels: 1 }));
    layers.push(new TextLayer<PredPoint>({ id: `pred-lbl-${m}`, data: pts, getPosition: (d) => [d.lon, d.lat], getText: (d) => `+${d.horizon_s}s`,
      getSize: 13, getColor: [...c, 255], getPixelOffset: [0, -14], fontFamily: FONT, outlineWidth: 3, outlineColor: [7, 13, 24, 230],
      fontSettings: { sdf: true } }));
  }
  return layers;
}

export class ReplayPanel {
  readonly el: HTMLElement;
  private targets: TargetRow[] = [];
  private chosen = new Set<number>();
  private tracks: Track[] = [];
  private start = 0;
  private end = 0;
  clock = 0; // the shared clock (epoch seconds)
  playing = false;
  speed = 10;
  follow = true;
  private last = 0;
  private timer: number | undefined;
  private body: HTMLElement;
  private slider = h("input", { type: "range", min: 0, max: 1000, value: 0, "data-testid": "replay-slider", class: "rp-slider" }) as HTMLInputElement;
  private clockEl = h("span", { class: "rp-clock", "data-testid": "replay-clock" }, "—");
  private minutes = 10;
  open = false;

  constructor(private readonly map: MapView, private readonly onPredict: (targetId: number) => void) {
    this.body = h("div", { class: "rp-body" });
    this.el = h("section", { class: "replay panel", "data-testid": "replay" });
    this.slider.addEventListener("input", () => {
      this.clock = this.start + (Number(this.slider.value) / 1000) * (this.end - this.start);
      this.tick(false);
    });
    this.draw();
  }

  draw(): void {
    const toggle = h("button", { class: "rp-toggle", type: "button", "data-testid": "replay-toggle", onclick: () => {
      this.open = !this.open;
      if (this.open && !this.targets.length) void this.loadTargets();
      this.draw();
    } }, `${t("dx.replay")} ${this.open ? "▾" : "▴"}`);
    if (!this.open) { this.el.classList.remove("open"); this.el.replaceChildren(toggle); return; }
    this.el.classList.add("open");
    const tlist = h("div", { class: "rp-targets", "data-testid": "replay-targets" }, ...this.targets.map((tg, i) => h("label", { class: "rp-t" },
      h("input", { type: "checkbox", value: tg.id, checked: this.chosen.has(tg.id), onchange: (ev: Event) => {
        if ((ev.target as HTMLInputElement).checked) this.chosen.add(tg.id); else this.chosen.delete(tg.id);
      } }),
      h("i", { class: "sw", style: `background:rgb(${COLORS[i % COLORS.length].join(",")})` }),
      tg.callsign ?? tg.name ?? tg.external_id,
      h("button", { class: "btn xs", type: "button", title: t("dx.predict"), onclick: (ev: Event) => { ev.preventDefault(); this.onPredict(tg.id); } }, t("dx.predict")))));
    const win = h("select", { "data-testid": "replay-window", onchange: (ev: Event) => { this.minutes = Number((ev.target as HTMLSelectElement).value); } },
      ...[5, 10, 30, 60].map((n) => h("option", { value: n, selected: n === this.minutes }, tf("dx.last_min", { n }))));
    const speed = h("select", { "data-testid": "replay-speed", onchange: (ev: Event) => { this.speed = Number((ev.target as HTMLSelectElement).value); } },
      ...[1, 2, 5, 10, 30, 60].map((n) => h("option", { value: n, selected: n === this.speed }, `${n}×`)));
    const play = h("button", { class: "btn primary", type: "button", "data-testid": "replay-play", disabled: !this.tracks.length,
      onclick: () => { this.playing ? this.pause() : this.play(); this.draw(); } }, this.playing ? `❚❚ ${t("dx.pause")}` : `▶ ${t("dx.play")}`);
    const follow = h("label", { class: "rp-follow" }, h("input", { type: "checkbox", checked: this.follow, "data-testid": "replay-follow",
      onchange: (ev: Event) => { this.follow = (ev.target as HTMLInputElement).checked; } }), t("dx.follow"));
    this.body.replaceChildren(
      h("div", { class: "rp-row" }, h("span", { class: "muted" }, t("dx.targets")), tlist),
      h("div", { class: "rp-row" }, h("span", { class: "muted" }, t("dx.window")), win,
        h("button", { class: "btn", type: "button", "data-testid": "replay-load", onclick: () => void this.load() }, t("dx.load")),
        play, h("span", { class: "muted" }, t("dx.speed")), speed, follow, this.clockEl),
      h("div", { class: "rp-row" }, this.slider));
    this.el.replaceChildren(toggle, this.body);
  }

  async loadTargets(): Promise<void> {
    const rows: TargetRow[] = await ok(api.GET("/api/v1/targets")).catch(() => []);
    this.targets = [...rows.filter((tg) => !tg.stale), ...rows.filter((tg) => tg.stale)]; // moving ones first
    if (!this.chosen.size) this.targets.filter((tg) => !tg.stale).slice(0, 2).forEach((tg) => this.chosen.add(tg.id));
    this.draw();
  }

  async load(): Promise<void> {
    const ids = [...this.chosen];
    if (!ids.length) return;
    const end = new Date(), start = new Date(end.getTime() - this.minutes * 60_000);
    const r = await ok(api.GET("/api/v1/replay", {
      params: { query: { ids: ids.join(","), start: start.toISOString(), end: end.toISOString() } } })).catch(() => null);
    const tracks: Track[] = r?.tracks ?? [];
    this.tracks = tracks.filter((tr) => tr.t.length > 0);
    if (!this.tracks.length) { this.clockEl.textContent = t("dx.no_track"); this.draw(); return; }
    this.start = Math.min(...this.tracks.map((tr) => tr.t[0]));
    this.end = Math.max(...this.tracks.map((tr) => tr.t[tr.t.length - 1]));
    this.clock = this.start;
    this.draw();
    this.tick(false);
  }

  play(): void {
    if (!this.tracks.length) return;
    if (this.clock >= this.end) this.clock = this.start;
    this.playing = true;
    this.last = performance.now();
    // A timer, not requestAnimationFrame: the shared clock keeps running on a busy or hidden display.
    window.clearInterval(this.timer);
    this.timer = window.setInterval(() => {
      if (!this.playing) { window.clearInterval(this.timer); return; }
      const now = performance.now();
      this.clock = Math.min(this.end, this.clock + ((now - this.last) / 1000) * this.speed);
      this.last = now;
      this.tick(true);
      if (this.clock >= this.end) { this.playing = false; window.clearInterval(this.timer); this.draw(); }
    }, 50);
  }

  pause(): void {
    this.playing = false;
  }

  /** Where each replayed target is at the shared clock (linear between fixes). */
  positions(): Array<{ id: number; i: number; lon: number; lat: number }> {
    return this.tracks.map((tr, i) => {
      const ts = tr.t;
      let k = 0;
      let lo = 0, hi = ts.length - 1;
      if (this.clock <= ts[0]) k = 0; else if (this.clock >= ts[hi]) k = hi; else {
        while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (ts[mid] <= this.clock) lo = mid; else hi = mid; }
        const f = (this.clock - ts[lo]) / ((ts[hi] - ts[lo]) || 1);
        return { id: tr.target_id, i, lon: tr.lon[lo] + (tr.lon[hi] - tr.lon[lo]) * f, lat: tr.lat[lo] + (tr.lat[hi] - tr.lat[lo]) * f };
      }
      return { id: tr.target_id, i, lon: tr.lon[k], lat: tr.lat[k] };
    });
  }

  private tick(fromPlay: boolean): void {
    if (this.end > this.start) this.slider.value = String(Math.round(((this.clock - this.start) / (this.end - this.start)) * 1000));
    this.clockEl.textContent = fmtTime(this.clock, true);
    this.el.dataset.clock = String(this.clock);
    const pos = this.positions();
    if (this.follow && fromPlay && pos.length) this.map.centerOn(pos[0].lon, pos[0].lat);
    else this.map.render();
  }

  layers(): Layer[] {
    if (!this.open || !this.tracks.length) return [];
    const color = (i: number) => COLORS[i % COLORS.length];
    const travelled = this.tracks.map((tr, i) => {
      const path: [number, number][] = [];
      for (let k = 0; k < tr.t.length && tr.t[k] <= this.clock; k++) path.push([tr.lon[k], tr.lat[k]]);
      return { i, path };
    });
    const pos = this.positions();
    const label = (id: number) => {
      const tg = this.targets.find((x) => x.id === id);
      return tg?.callsign ?? tg?.name ?? `#${id}`;
    };
    return [
      new PathLayer({ id: "rp-full", data: this.tracks.map((tr, i) => ({ i, path: tr.lon.map((x, k) => [x, tr.lat[k]]) })),
        getPath: (d: { path: [number, number][] }) => d.path, getColor: (d: { i: number }) => [...color(d.i), 70] as never,
        getWidth: 3, widthUnits: "pixels", jointRounded: true }),
      new PathLayer({ id: "rp-done", data: travelled, getPath: (d: { path: [number, number][] }) => d.path,
        getColor: (d: { i: number }) => [...color(d.i), 255] as never, getWidth: 4, widthUnits: "pixels", jointRounded: true, capRounded: true,
        updateTriggers: { getPath: this.clock } }),
      new ScatterplotLayer({ id: "rp-now", data: pos, getPosition: (d: { lon: number; lat: number }) => [d.lon, d.lat],
        getFillColor: (d: { i: number }) => [...color(d.i), 255] as never, getLineColor: [255, 255, 255, 255], stroked: true,
        lineWidthMinPixels: 2, getRadius: 9, radiusUnits: "pixels", updateTriggers: { getPosition: this.clock } }),
      new TextLayer({ id: "rp-label", data: pos, getPosition: (d: { lon: number; lat: number }) => [d.lon, d.lat],
        getText: (d: { id: number }) => label(d.id), getSize: 13, getColor: [230, 240, 255, 255], getPixelOffset: [0, -18],
        fontFamily: FONT, characterSet: "auto", outlineWidth: 3, outlineColor: [7, 13, 24, 230], fontSettings: { sdf: true },
        updateTriggers: { getPosition: this.clock } }),
    ];
  }
}
