// The video wall: 1 / 4 / 9 tiles opened by a call-up (signed same-origin URLs, audited with a reason).
// MJPEG plays in <img>; HLS, HTTP-FLV and WebRTC (WHEP) in <video> (ui/players.ts).
import { api } from "../auth";
import { h } from "../dom";
import { t } from "../i18n";
import { fmtTime } from "./dx";
import { play, type Stop } from "./players";

export interface Stream { camera_id: number; name: string; gb_id?: string; url: string; format: string; expires: number; status?: string }

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
    const r = await api<{ streams: Stream[] }>("/api/v1/callup", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ camera_ids: cameraIds.slice(0, 16), reason, incident_id: incidentId ?? null }) });
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
    let media: HTMLElement;
    if (s.format === "mjpeg") {
      const img = h("img", { class: "vw-media", src: s.url, alt: s.name, decoding: "async" }) as HTMLImageElement;
      media = img;
      img.addEventListener("error", () => { if (img.isConnected) img.replaceWith(h("div", { class: "vw-media vw-nosignal" }, t("dx.no_signal"))); });
      // An MJPEG response never ends: a tile taken off the wall must close it now, not when its <img> is
      // collected (until then the request holds one of the browser's 6 connections to the host).
      this.stops.set(s.url, () => img.removeAttribute("src"));
    } else if (["hls", "flv", "webrtc"].includes(s.format)) {
      const v = h("video", { class: "vw-media", autoplay: true, muted: true, playsinline: true }) as HTMLVideoElement;
      media = v;
      const noSignal = () => { if (v.isConnected) v.replaceWith(h("div", { class: "vw-media vw-nosignal" }, t("dx.no_signal"))); };
      void play(s.format, s.url, v, noSignal).then((stop) => this.stops.set(s.url, stop));
    } else {
      media = h("div", { class: "vw-media vw-nosignal" }, s.format.toUpperCase());
    }
    return h("div", { class: "vw-tile", "data-testid": "video-tile", "data-camera": s.camera_id, "data-url": s.url },
      h("div", { class: "vw-screen" }, media),
      h("div", { class: "vw-label" }, h("span", { class: "vw-name" }, s.name),
        h("span", { class: "vw-fmt" }, s.format.toUpperCase()),
        h("span", { class: "vw-exp", title: t("dx.expires") }, `${t("dx.expires")} ${fmtTime(s.expires)}`)));
  }
}
