// One called-up stream as a page element: MJPEG in an <img>, HLS / HTTP-FLV / MPEG-TS (GB/T 28181) /
// WebRTC in a <video> (ui/players.ts). Shared by the video wall and the phone page (/m).
import { h } from "../dom";
import { t } from "../i18n";
import { play, type Stop } from "./players";

/** A play URL as POST /api/v1/callup hands it out (signed, same-origin, expiring). */
export interface Stream { camera_id: number; name: string; gb_id?: string | null; url: string; format: string; expires: number; status?: string }

export const VIDEO_FORMATS = ["hls", "flv", "ts", "webrtc"];

/** The element showing ``s`` (class ``cls``) and the function that stops its stream now. A stream that
 *  cannot be played is replaced in place by a "no signal" box. */
export function mediaFor(s: Stream, cls = "vw-media"): { el: HTMLElement; stop: Stop } {
  const noSignal = (el: HTMLElement) => () => {
    if (el.isConnected) el.replaceWith(h("div", { class: `${cls} vw-nosignal`, "data-testid": "no-signal" }, t("dx.no_signal")));
  };
  if (s.format === "mjpeg") {
    const img = h("img", { class: cls, src: s.url, alt: s.name, decoding: "async" }) as HTMLImageElement;
    img.addEventListener("error", noSignal(img));
    // An MJPEG response never ends: a stream taken off the page must close it now, not when its <img> is
    // collected (until then the request holds one of the browser's 6 connections to the host).
    return { el: img, stop: () => img.removeAttribute("src") };
  }
  if (VIDEO_FORMATS.includes(s.format)) {
    const v = h("video", { class: cls, autoplay: true, muted: true, playsinline: true }) as HTMLVideoElement;
    // The player starts asynchronously (its library is loaded on demand): a stop asked for before it is
    // ready stops it as soon as it is.
    let stopped = false;
    let stopNow: Stop | null = null;
    void play(s.format, s.url, v, noSignal(v)).then((stop) => { if (stopped) stop(); else stopNow = stop; });
    return { el: v, stop: () => { stopped = true; stopNow?.(); stopNow = null; } };
  }
  return { el: h("div", { class: `${cls} vw-nosignal` }, s.format.toUpperCase()), stop: () => {} };
}
