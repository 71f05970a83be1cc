// The video wall: 1 / 4 / 9 tiles opened by a call-up (signed same-origin URLs, audited with a reason).
// MJPEG plays in <img>; HLS, HTTP-FLV, MPEG-TS and WebRTC (WHEP) in <video> (ui/media.ts).
import { api, ok } from "../api/client";
import { h } from "../dom";
import { t } from "../i18n";
import { fmtTime } from "./dx";
import { mediaFor, type Stream } from "./media";
import type { Stop } from "./players";

export type { Stream } from "./media";

export class VideoWall {
  readonly el: HTMLElement;
  private grid: HTMLElement;
  private title: HTMLElement;
  private layoutBtns: HTMLElement[] = [];
  streams: Stream[] = [];
  layout = 4;
  private stops = new Map<string, Stop>(); // url → stops a tile's stream (MJPEG request, hls.js, mpegts.js, WebRTC)

  constructor(opts: { closable?: boolean; onClose?: () => void } = {}) {
    this.grid = h("div", { class: "vw-grid" });
    this.title = h("span", { class: "vw-title" }, t("dx.wall"));
    this.layoutBtns = [1, 4, 9].map((n) => h("button", { class: "vw-layout", "data-layout": n, type: "button",
      onclick: () => this.setLayout(n) }, n === 1 ? "1" : n === 4 ? "2×2" : "3×3"));
    this.el = h("section", { class: "video-wall", "data-testid": "video-wall", "data-layout": this.layout },
      h("header", {}, this.title, h("span", { class: "vw-spacer" }), ...this.layoutBtns,
        opts.closable ? h("button", { class: "vw-close", type: "button", title: t("dx.close_wall"),
          onclick: () => { this.clear(); opts.onClose?.(); } }, "×") : null),
      this.grid);
    this.draw();
  }

  setTitle(text: string): void {
    this.title.textContent = text;
  }

  setLayout(n: number): void {
    this.layout = n;
    this.el.dataset.layout = String(n);
    this.draw();
  }

  /** Call up the cameras (audited with the reason) and show them. */
  async open(cameraIds: number[], reason: string, incidentId?: number): Promise<Stream[]> {
    const r = await ok(api.POST("/api/v1/callup", {
      body: { camera_ids: cameraIds.slice(0, 16), reason, incident_id: incidentId ?? null } }));
    this.streams = r.streams;
    if (this.streams.length > this.layout) this.setLayout(this.streams.length > 4 ? 9 : 4); else this.draw();
    return this.streams;
  }

  clear(): void {
    this.streams = [];
    this.draw();
  }

  private draw(): void {
    this.layoutBtns.forEach((b) => b.classList.toggle("on", Number(b.dataset.layout) === this.layout));
    // Keep the tiles that still show the same stream (a player re-created would reconnect).
    const keep = new Map([...this.grid.querySelectorAll<HTMLElement>(".vw-tile[data-url]")].map((el) => [el.dataset.url!, el]));
    const shown = new Set(this.streams.slice(0, this.layout).map((s) => s.url));
    for (const [url, stop] of this.stops) if (!shown.has(url)) { stop(); this.stops.delete(url); }
    const tiles: HTMLElement[] = [];
    for (let i = 0; i < this.layout; i++) {
      const s = this.streams[i];
      tiles.push(s ? keep.get(s.url) ?? this.tile(s)
        : h("div", { class: "vw-tile vw-empty" }, i === 0 && !this.streams.length ? t("dx.wall_empty") : ""));
    }
    this.grid.replaceChildren(...tiles);
    this.grid.style.setProperty("--n", String(Math.sqrt(this.layout)));
  }

  private tile(s: Stream): HTMLElement {
    const { el: media, stop } = mediaFor(s);
    this.stops.set(s.url, stop);
    return h("div", { class: "vw-tile", "data-testid": "video-tile", "data-camera": s.camera_id, "data-url": s.url },
      h("div", { class: "vw-screen" }, media),
      h("div", { class: "vw-label" }, h("span", { class: "vw-name" }, s.name),
        h("span", { class: "vw-fmt" }, s.format.toUpperCase()),
        h("span", { class: "vw-exp", title: t("dx.expires") }, `${t("dx.expires")} ${fmtTime(s.expires)}`)));
  }
}
