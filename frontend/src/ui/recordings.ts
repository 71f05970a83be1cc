// A GB/T 28181 channel's recordings: a timeline of what its device holds over a range (recorded spans as
// bars, the gaps between them left visible, hour ticks in the user's locale and time zone), playback from
// a clicked moment (signed MPEG-TS URL, played like a live channel), 1× / 2× / 4×, and the download of a
// selected range. Every playback and download is audited server-side with the reason the caller gives.
//
// The device is asked only when a range is shown without known spans: an incident's evidence list hands
// its own spans over (one device query, not two).
import "../recordings.css";
import { api, ok, type Schemas } from "../api/client";
import { h } from "../dom";
import { errorText } from "../errors";
import { currentLang, t, type Key } from "../i18n";
import { fmtTime, tf } from "./dx";
import { play, type Stop } from "./players";

export type Span = Schemas["Span"];
export interface Range { start: Date; end: Date }
interface Seg { s: number; e: number } // epoch ms

const HOUR = 3_600_000;
const PRESETS = { "1h": HOUR, "24h": 24 * HOUR, "3d": 72 * HOUR } as const;
type Preset = keyof typeof PRESETS | "custom";
const SPEEDS = [1, 2, 4];
const MIN_PLAY_MS = 5_000; // a click at a bar's very end still plays a few seconds
const DRAG_PX = 4; // a pointer that moves less than this clicked, it did not drag

const locale = () => (currentLang() === "en" ? "en-GB" : "zh-CN"); // as ui/dx.ts fmtTime

function segs(spans: readonly Span[], r: Range): Seg[] {
  const a = r.start.getTime(), b = r.end.getTime();
  return spans.map((x) => ({ s: Math.max(a, Date.parse(x.start)), e: Math.min(b, Date.parse(x.end)) }))
    .filter((x) => x.e > x.s).sort((u, v) => u.s - v.s);
}

/** Seconds recorded within the range (a device lists whole files, which may reach outside it). */
export function recordedIn(spans: readonly Span[], r: Range): number {
  return segs(spans, r).reduce((n, x) => n + (x.e - x.s) / 1000, 0);
}

/** Seconds → "3 小时 20 分" / "3 h 20 min". */
export function fmtDuration(seconds: number): string {
  const m = Math.floor(seconds / 60);
  if (m >= 60) return tf("rec.dur.h", { h: Math.floor(m / 60), m: m % 60 });
  return m ? tf("rec.dur.m", { m }) : tf("rec.dur.s", { s: Math.round(seconds) });
}

/** Hour ticks (or finer / coarser, so that about `most` labels fit), on the user's local clock. */
function ticks(r: Range, most: number): Array<{ at: number; label: string; day: boolean }> {
  const span = r.end.getTime() - r.start.getTime();
  const steps = [5, 10, 15, 30, 60, 120, 180, 360, 720, 1440].map((m) => m * 60_000);
  const step = steps.find((s) => span / s <= most) ?? steps[steps.length - 1];
  const d = new Date(r.start);
  d.setSeconds(0, 0);
  if (step >= HOUR) d.setMinutes(0); else d.setMinutes(Math.ceil(d.getMinutes() / (step / 60_000)) * (step / 60_000));
  const out: Array<{ at: number; label: string; day: boolean }> = [];
  for (; d.getTime() <= r.end.getTime(); d.setTime(d.getTime() + Math.min(step, HOUR))) {
    if (d.getTime() < r.start.getTime()) continue;
    // multi-hour steps fall on local hours divisible by the step (0, 6, 12, 18 h…), not on the range's start
    if (step > HOUR && d.getHours() % (step / HOUR) !== 0) continue;
    if (step >= HOUR && d.getMinutes() !== 0) continue;
    const day = d.getHours() === 0 && d.getMinutes() === 0;
    const label = day ? d.toLocaleDateString(locale(), { month: "2-digit", day: "2-digit" })
      : d.toLocaleTimeString(locale(), { hour12: false, hour: "2-digit", minute: "2-digit" });
    out.push({ at: d.getTime(), label, day });
  }
  return out;
}

/** A time axis with the recorded spans as bars over [range); the track's own background is the gap. */
export function timelineTrack(spans: readonly Span[], range: Range, opts: { mini?: boolean; most?: number } = {}): HTMLElement {
  const a = range.start.getTime(), len = range.end.getTime() - a;
  const pct = (x: number) => `${(((x - a) / len) * 100).toFixed(3)}%`;
  const bars = segs(spans, range).map((x) => h("div", { class: "rec-bar", "data-start": new Date(x.s).toISOString(),
    "data-end": new Date(x.e).toISOString(), title: `${fmtTime(x.s / 1000, true)} – ${fmtTime(x.e / 1000, true)}`,
    style: `left:${pct(x.s)};width:${(((x.e - x.s) / len) * 100).toFixed(3)}%` }));
  const track = h("div", { class: `rec-track ${opts.mini ? "mini" : ""}`, "data-testid": "rec-track" }, ...bars);
  if (opts.mini) return track;
  const axis = h("div", { class: "rec-axis" }, ...ticks(range, opts.most ?? 8).map((k) =>
    h("span", { class: `rec-tick ${k.day ? "day" : ""}`, style: `left:${pct(k.at)}` }, k.label)));
  return h("div", { class: "rec-timeline" }, track, axis);
}

/** The moment under a pointer on a track. */
export function timeAt(track: HTMLElement, clientX: number, range: Range): number {
  const box = track.getBoundingClientRect();
  const f = Math.min(1, Math.max(0, (clientX - box.left) / box.width));
  return range.start.getTime() + f * (range.end.getTime() - range.start.getTime());
}

function localInput(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export interface RecordingsOptions {
  /** Why the recording is opened (required by the API, audited). */
  reason: () => string;
  incidentId?: () => number | null;
}

let players = 0; // ids for the labels of each player's inputs

type Msg = { key: Key; detail?: string; bad?: boolean } | null;

/** The timeline and player of one camera's recordings. */
export class RecordingsPlayer {
  readonly el: HTMLElement;
  camera: { id: number; name: string } | null = null;
  range: Range = { start: new Date(Date.now() - PRESETS["24h"]), end: new Date() };
  preset: Preset = "24h";
  data: { segments: Span[]; complete: boolean; recorded_s: number } | null = null;
  selection: Range | null = null;
  playing: { from: number; to: number; speed: number; url: string } | null = null;
  private msg: Msg = null;
  private loading = false;
  private loads = 0; // a newer listing wins over one still under way…
  private plays = 0; // …and a newer playback over an older one
  private readonly uid = ++players;
  private stopStream: Stop | null = null;
  private timer: number | undefined;
  private readonly video = h("video", { class: "rec-video", "data-testid": "rec-video", muted: true, playsinline: true }) as HTMLVideoElement;
  private readonly playhead = h("div", { class: "rec-playhead" });

  constructor(private readonly opts: RecordingsOptions) {
    this.el = h("div", { class: "rec-player", "data-testid": "recordings", hidden: true });
    this.video.addEventListener("ended", () => { if (this.playing) { this.msg = { key: "rec.ended" }; this.draw(); } });
  }

  /** Show a camera's recordings over `range` (default: the last 24 h); `known` spans spare a device query. */
  async show(camera: { id: number; name: string }, range?: Range, known?: { segments: Span[]; complete: boolean | null }): Promise<void> {
    if (this.camera?.id !== camera.id) this.stop();
    this.camera = camera;
    this.el.hidden = false;
    this.selection = null;
    this.msg = null;
    if (range) { this.range = range; this.preset = "custom"; } else {
      this.preset = this.preset === "custom" ? "24h" : this.preset; // a preset counts back from now
      this.range = { start: new Date(Date.now() - PRESETS[this.preset]), end: new Date() };
    }
    if (known) {
      this.loads++;
      this.loading = false;
      this.data = { segments: known.segments, complete: known.complete ?? true, recorded_s: recordedIn(known.segments, this.range) };
      this.draw();
      return;
    }
    await this.load();
  }

  async setPreset(p: keyof typeof PRESETS): Promise<void> {
    const end = new Date();
    this.preset = p;
    this.range = { start: new Date(end.getTime() - PRESETS[p]), end };
    this.selection = null;
    await this.load();
  }

  private async load(): Promise<void> {
    if (!this.camera) return;
    const id = ++this.loads, cam = this.camera.id;
    this.loading = true;
    this.data = null;
    this.msg = { key: "rec.loading" };
    this.draw();
    try {
      const r = await ok(api.GET("/api/v1/cameras/{camera_id}/recordings", { params: { path: { camera_id: cam },
        query: { start: this.range.start.toISOString(), end: this.range.end.toISOString() } } }));
      if (id !== this.loads) return;
      this.data = { segments: r.segments, complete: r.complete, recorded_s: recordedIn(r.segments, this.range) };
      this.msg = null;
    } catch (e) {
      if (id !== this.loads) return;
      this.msg = { key: "rec.failed", detail: errorText(e), bad: true };
    }
    this.loading = false;
    this.draw();
  }

  /** Play from `at` (epoch ms) to the end of the recorded span it falls in. */
  async playAt(at: number, speed = 1): Promise<void> {
    const seg = this.data ? segs(this.data.segments, this.range).find((x) => at >= x.s && at < x.e) : undefined;
    if (!seg) { this.msg = { key: "rec.no_recording_here" }; this.draw(); return; }
    const to = Math.min(seg.e, Date.now());
    const from = Math.max(seg.s, Math.min(at, to - MIN_PLAY_MS));
    if (!this.selection) this.selection = { start: new Date(from), end: new Date(to) };
    await this.open(from, to, speed);
  }

  /** The same playback at another speed, from where it has got to. */
  async setSpeed(speed: number): Promise<void> {
    if (!this.playing) return;
    await this.open(Math.min(this.position() ?? this.playing.from, this.playing.to - MIN_PLAY_MS), this.playing.to, speed);
  }

  private async open(from: number, to: number, speed: number): Promise<void> {
    if (!this.camera) return;
    const id = ++this.plays;
    this.stopPlayer();
    this.msg = { key: "rec.opening" };
    this.draw();
    try {
      const r = await ok(api.POST("/api/v1/callup/playback", { body: { camera_id: this.camera.id,
        start: new Date(from).toISOString(), end: new Date(to).toISOString(), speed, download: false,
        reason: this.opts.reason(), incident_id: this.opts.incidentId?.() ?? null } }));
      if (id !== this.plays) return;
      this.playing = { from, to, speed, url: r.url };
      this.msg = null;
      this.video.hidden = false;
      this.draw();
      const stop = await play(r.format, r.url, this.video, () => {
        if (this.playing?.url !== r.url) return;
        // the stream closing at the span's end is its end, not a failure
        const pos = this.position();
        this.msg = pos !== null && pos >= to - 10_000 * speed ? { key: "rec.ended" }
          : { key: "rec.play_failed", detail: t("rec.stream_failed"), bad: true };
        this.draw();
      });
      if (this.playing?.url !== r.url) { stop(); return; }
      this.stopStream = stop;
      this.timer = window.setInterval(() => this.movePlayhead(), 500);
    } catch (e) {
      if (id !== this.plays) return;
      this.playing = null;
      this.msg = { key: "rec.play_failed", detail: errorText(e), bad: true };
    }
    this.draw();
  }

  /** Where the playback has got to in the recording (the stream's clock runs at the asked speed). */
  position(): number | null {
    if (!this.playing) return null;
    return Math.min(this.playing.to, this.playing.from + this.video.currentTime * 1000 * this.playing.speed);
  }

  /** Download the selected range: a signed URL the browser saves as a file (Content-Disposition). */
  async download(): Promise<void> {
    if (!this.camera || !this.selection) return;
    try {
      const r = await ok(api.POST("/api/v1/callup/playback", { body: { camera_id: this.camera.id,
        start: this.selection.start.toISOString(), end: new Date(Math.min(this.selection.end.getTime(), Date.now())).toISOString(),
        speed: 1, download: true, reason: this.opts.reason(), incident_id: this.opts.incidentId?.() ?? null } }));
      const a = h("a", { href: r.url, download: "", style: "display:none" });
      document.body.append(a);
      a.click();
      a.remove();
      this.msg = { key: "rec.download_started" };
    } catch (e) {
      this.msg = { key: "rec.download_failed", detail: errorText(e), bad: true };
    }
    this.draw();
  }

  private stopPlayer(): void {
    window.clearInterval(this.timer);
    this.stopStream?.();
    this.stopStream = null;
    this.playing = null;
    this.video.removeAttribute("src");
    this.video.load();
    this.video.hidden = true;
  }

  /** Stop the playback (the platform then ends the device's session). */
  stop(): void {
    this.plays++;
    this.stopPlayer();
  }

  close(): void {
    this.stop();
    this.loads++;
    this.loading = false;
    this.camera = null;
    this.data = null;
    this.el.hidden = true;
  }

  private movePlayhead(): void {
    const pos = this.position();
    const a = this.range.start.getTime(), len = this.range.end.getTime() - a;
    this.playhead.hidden = pos === null || pos < a || pos > a + len;
    if (pos !== null) this.playhead.style.left = `${(((pos - a) / len) * 100).toFixed(3)}%`;
  }

  /** Rebuild the chrome (after a change or in the other language); the <video> itself is kept playing. */
  draw(): void {
    if (!this.camera) { this.el.replaceChildren(); return; }
    const presetBtn = (p: keyof typeof PRESETS) => h("button", { class: `btn sm ${this.preset === p ? "on" : ""}`, type: "button",
      "data-testid": "rec-preset", "data-preset": p, onclick: () => void this.setPreset(p) }, t(`rec.preset.${p}`));
    const fromIn = h("input", { type: "datetime-local", id: `rec-from-${this.uid}`, "data-testid": "rec-from", value: localInput(this.range.start) }) as HTMLInputElement;
    const toIn = h("input", { type: "datetime-local", id: `rec-to-${this.uid}`, "data-testid": "rec-to", value: localInput(this.range.end) }) as HTMLInputElement;
    const apply = () => {
      const start = new Date(fromIn.value), end = new Date(toIn.value);
      if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end <= start) {
        this.msg = { key: "rec.bad_range", bad: true }; this.draw(); return;
      }
      this.preset = "custom";
      this.range = { start, end };
      this.selection = null;
      void this.load();
    };
    const body: Array<HTMLElement | null> = [
      h("header", { class: "rec-head" }, h("b", {}, `${t("rec.title")} · ${this.camera.name}`),
        h("button", { class: "vw-close", type: "button", title: t("rec.close"), onclick: () => this.close() }, "×")),
      h("div", { class: "rec-range" }, ...(["1h", "24h", "3d"] as const).map(presetBtn), h("span", { class: "rec-spacer" }),
        h("button", { class: "btn sm", type: "button", "data-testid": "rec-apply", onclick: apply }, t("rec.apply"))),
      h("div", { class: "rec-custom" }, h("label", { for: `rec-from-${this.uid}` }, t("rec.from")), fromIn,
        h("label", { for: `rec-to-${this.uid}` }, t("rec.to")), toIn),
    ];
    if (this.data) body.push(this.timeline());
    const m = this.msg ?? (this.data ? this.summary() : null);
    body.push(h("div", { class: `rec-status ${m?.bad ? "bad" : ""}`, "data-testid": "rec-status", role: "status" },
      m ? (m.detail ? `${t(m.key)} · ${m.detail}` : t(m.key)) : ""));
    if (this.data?.segments.length) body.push(h("div", { class: "rec-sel" },
      h("span", { class: "muted" }, this.selection ? `${t("rec.selection")} ${fmtTime(this.selection.start.getTime() / 1000, true)} – ${fmtTime(this.selection.end.getTime() / 1000, true)}`
        : t("rec.hint")),
      h("button", { class: "btn sm", type: "button", "data-testid": "rec-download", disabled: !this.selection,
        onclick: () => void this.download() }, t("rec.download"))));
    body.push(h("div", { class: "rec-screen", hidden: !this.playing }, this.video));
    if (this.playing) {
      const p = this.playing;
      body.push(h("div", { class: "rec-controls" },
        h("span", { class: "muted", "data-testid": "rec-playing" }, tf("rec.playing", { from: fmtTime(p.from / 1000, true), speed: `${p.speed}×` })),
        h("span", { class: "rec-speeds", title: t("rec.speed") }, ...SPEEDS.map((s) => h("button", { class: `btn sm ${p.speed === s ? "on" : ""}`,
          type: "button", "data-testid": "rec-speed", "data-speed": s, onclick: () => void this.setSpeed(s) }, `${s}×`))),
        h("button", { class: "btn sm", type: "button", "data-testid": "rec-stop", onclick: () => { this.stop(); this.draw(); } }, t("rec.stop"))));
    }
    this.el.dataset.state = this.loading ? "loading" : this.playing ? "playing" : this.data ? "ready" : "idle";
    this.el.replaceChildren(...body.filter((x): x is HTMLElement => x !== null));
    this.movePlayhead();
  }

  private summary(): Msg {
    if (!this.data) return null;
    if (!this.data.segments.length) return { key: "rec.none" };
    if (!this.data.complete) return { key: "rec.incomplete", bad: true };
    return null;
  }

  private timeline(): HTMLElement {
    const data = this.data!;
    const tl = timelineTrack(data.segments, this.range);
    const track = tl.querySelector<HTMLElement>(".rec-track")!;
    const shade = h("div", { class: "rec-selbox", hidden: true });
    track.append(shade, this.playhead);
    const showSel = (r: Range | null) => {
      shade.hidden = !r;
      if (!r) return;
      const a = this.range.start.getTime(), len = this.range.end.getTime() - a;
      shade.style.left = `${((r.start.getTime() - a) / len) * 100}%`;
      shade.style.width = `${((r.end.getTime() - r.start.getTime()) / len) * 100}%`;
    };
    showSel(this.selection);
    // A click plays from that moment; a drag selects a range to download.
    track.addEventListener("pointerdown", (ev) => {
      const x0 = ev.clientX, t0 = timeAt(track, x0, this.range);
      let dragged = false;
      track.setPointerCapture(ev.pointerId);
      const move = (e: PointerEvent) => {
        if (Math.abs(e.clientX - x0) < DRAG_PX && !dragged) return;
        dragged = true;
        const t1 = timeAt(track, e.clientX, this.range);
        showSel({ start: new Date(Math.min(t0, t1)), end: new Date(Math.max(t0, t1)) });
      };
      const up = (e: PointerEvent) => {
        track.removeEventListener("pointermove", move);
        track.removeEventListener("pointerup", up);
        if (!dragged) { void this.playAt(t0); return; }
        const t1 = timeAt(track, e.clientX, this.range);
        this.selection = { start: new Date(Math.min(t0, t1)), end: new Date(Math.max(t0, t1)) };
        this.draw();
      };
      track.addEventListener("pointermove", move);
      track.addEventListener("pointerup", up);
    });
    const recorded = h("div", { class: "rec-legend muted" },
      tf("rec.summary", { rec: fmtDuration(data.recorded_s), gaps: this.gapCount() }));
    return h("div", { class: "rec-tl" }, tl, recorded);
  }

  /** Holes of over a minute in the range (a device's files rarely meet to the second). */
  private gapCount(): number {
    const s = segs(this.data?.segments ?? [], this.range);
    const edges = [this.range.start.getTime(), ...s.flatMap((x) => [x.s, x.e]), this.range.end.getTime()];
    let n = 0;
    for (let i = 0; i < edges.length; i += 2) if (edges[i + 1] - edges[i] > 60_000) n++;
    return n;
  }
}
