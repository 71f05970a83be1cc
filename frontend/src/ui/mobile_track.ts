// A mobile device's camera (body camera, vehicle camera, drone) replayed: where its device went over a range
// (GET /cameras/{id}/track: the track and the device's recordings of that range, one device query), drawn as
// a line whose fixes are green where the camera was recording and grey where it was not. A click on a fix
// plays the recording from that moment in the recordings player below (which gets the spans handed over,
// so the device is not asked twice); while it plays, a marker follows the playback along the track.
import "../mobile_track.css";
import { api, ok, type Schemas } from "../api/client";
import { h } from "../dom";
import { errorText } from "../errors";
import { t } from "../i18n";
import { fmtTime, tf } from "./dx";
import { fmtDuration, type Range, type RecordingsPlayer } from "./recordings";

type Track = Schemas["CameraTrack"];

const SVG = "http://www.w3.org/2000/svg";
const W = 360, H = 220, PAD = 12;
const MAX_DOTS = 400; // click targets: a day of fixes every few seconds is thinned to this many
const HOUR = 3_600_000;

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Index of the last fix at or before `at` (epoch seconds); -1 before the first. */
function fixAt(ts: readonly number[], at: number): number {
  let lo = 0, hi = ts.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (ts[mid] <= at) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return found;
}

export class MobileTrack {
  readonly el: HTMLElement;
  camera: { id: number; name: string } | null = null;
  range: Range = { start: new Date(Date.now() - 24 * HOUR), end: new Date() };
  data: Track | null = null;
  private msg: { text: () => string; bad?: boolean } | null = null;
  private loads = 0;
  private timer: number | undefined;
  private marker: SVGElement | null = null;
  private project: ((lon: number, lat: number) => [number, number]) | null = null;

  constructor(private readonly player: RecordingsPlayer) {
    this.el = h("div", { class: "mtrack", "data-testid": "mobile-track", hidden: true });
  }

  /** The track of a mobile device's camera over the last `hours` (default 24). */
  async show(camera: { id: number; name: string }, hours = 24): Promise<void> {
    this.camera = camera;
    this.el.hidden = false;
    const end = new Date();
    this.range = { start: new Date(end.getTime() - hours * HOUR), end };
    const id = ++this.loads;
    this.data = null;
    this.msg = { text: () => t("mtrack.loading") };
    this.draw();
    try {
      const r = await ok(api.GET("/api/v1/cameras/{camera_id}/track", { params: { path: { camera_id: camera.id },
        query: { start: this.range.start.toISOString(), end: this.range.end.toISOString() } } }));
      if (id !== this.loads) return;
      this.data = r;
      this.msg = null;
      // The recordings player shows the same range with the spans the device just listed.
      await this.player.show(camera, this.range, r.recordings.state === "answered"
        ? { segments: r.recordings.segments, complete: r.recordings.complete ?? true } : undefined);
    } catch (e) {
      if (id !== this.loads) return;
      const detail = errorText(e);
      this.msg = { text: () => `${t("mtrack.failed")} · ${detail}`, bad: true };
    }
    this.draw();
    window.clearInterval(this.timer);
    this.timer = window.setInterval(() => this.follow(), 500);
  }

  close(): void {
    this.loads++;
    window.clearInterval(this.timer);
    this.camera = null;
    this.data = null;
    this.el.hidden = true;
    this.el.replaceChildren();
  }

  private recordedAt(at: number): boolean {
    const ms = at * 1000;
    return (this.data?.recordings.segments ?? []).some((s) => ms >= Date.parse(s.start) && ms < Date.parse(s.end));
  }

  /** Play the camera's recording from the moment of a fix. */
  async playFix(i: number): Promise<void> {
    if (!this.data || !this.camera) return;
    await this.player.playAt(this.data.t[i] * 1000);
  }

  /** The marker at the playback's position on the track. */
  private follow(): void {
    if (!this.marker || !this.data || !this.project) return;
    const pos = this.player.camera?.id === this.camera?.id ? this.player.position() : null;
    const i = pos === null ? -1 : fixAt(this.data.t, pos / 1000);
    this.marker.setAttribute("visibility", i < 0 ? "hidden" : "visible");
    if (i < 0) return;
    const [x, y] = this.project(this.data.lon[i], this.data.lat[i]);
    this.marker.setAttribute("cx", x.toFixed(1));
    this.marker.setAttribute("cy", y.toFixed(1));
    this.el.dataset.playingFix = String(i);
  }

  private map(d: Track): SVGElement {
    const root = svg("svg", { class: "mtrack-map", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": t("mtrack.map") });
    const n = d.t.length;
    const lon0 = Math.min(...d.lon), lon1 = Math.max(...d.lon), lat0 = Math.min(...d.lat), lat1 = Math.max(...d.lat);
    const kx = Math.cos(((lat0 + lat1) / 2) * Math.PI / 180); // metres per degree east shrink with latitude
    const spanX = Math.max((lon1 - lon0) * kx, 1e-6), spanY = Math.max(lat1 - lat0, 1e-6);
    const s = Math.min((W - 2 * PAD) / spanX, (H - 2 * PAD) / spanY);
    const ox = (W - spanX * s) / 2, oy = (H - spanY * s) / 2;
    this.project = (lon, lat) => [ox + (lon - lon0) * kx * s, H - oy - (lat - lat0) * s];
    const pts = d.lon.map((lon, i) => this.project!(lon, d.lat[i]));
    root.append(svg("polyline", { class: "mtrack-line", points: pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ") }));
    const step = Math.max(1, Math.ceil(n / MAX_DOTS));
    for (let i = 0; i < n; i += step) {
      const rec = this.recordedAt(d.t[i]);
      const dot = svg("circle", { class: `mtrack-fix ${rec ? "rec" : "norec"}`, cx: pts[i][0].toFixed(1), cy: pts[i][1].toFixed(1),
        r: 4, "data-testid": "mtrack-fix", "data-i": i, "data-t": d.t[i] });
      const title = svg("title", {});
      title.textContent = `${fmtTime(d.t[i], true)} · ${rec ? t("mtrack.recorded") : t("mtrack.not_recorded")}`;
      dot.append(title);
      dot.addEventListener("click", () => void this.playFix(i));
      root.append(dot);
    }
    this.marker = svg("circle", { class: "mtrack-marker", r: 6, visibility: "hidden" });
    root.append(this.marker);
    return root;
  }

  /** Rebuild (after a load or in the other language). */
  draw(): void {
    if (!this.camera) { this.el.replaceChildren(); return; }
    const d = this.data;
    const body: Array<HTMLElement | SVGElement> = [
      h("header", { class: "rec-head" }, h("b", {}, `${t("mtrack.title")} · ${this.camera.name}`),
        h("button", { class: "vw-close", type: "button", title: t("rec.close"), onclick: () => this.close() }, "×")),
    ];
    if (d && d.t.length) {
      body.push(this.map(d));
      const rec = d.recordings;
      body.push(h("div", { class: "mtrack-legend muted", "data-testid": "mtrack-summary" },
        tf("mtrack.summary", { n: d.t.length, from: fmtTime(d.t[0], true), to: fmtTime(d.t[d.t.length - 1], true) }),
        " · ", rec.state === "answered" ? tf("mtrack.recorded_total", { rec: fmtDuration(rec.recorded_s) })
          : `${t("mtrack.no_answer")}${rec.reason ? ` (${rec.reason})` : ""}`));
      body.push(h("div", { class: "mtrack-hint muted" }, t("mtrack.hint")));
    } else if (d) {
      body.push(h("div", { class: "rec-status", "data-testid": "mtrack-empty" }, t("mtrack.empty")));
    }
    if (this.msg) body.push(h("div", { class: `rec-status ${this.msg.bad ? "bad" : ""}`, role: "status" }, this.msg.text()));
    this.el.dataset.state = d ? "ready" : this.msg?.bad ? "failed" : "loading";
    this.el.replaceChildren(...body);
    this.follow();
  }
}
