// /m: the field officer's phone — my assignment on the map with route and ETA, big status buttons,
// my position shared from the browser's geolocation while the page is open, the cameras that see the
// scene (or me) and one live video of them.
import type { Layer } from "@deck.gl/core";
import { PathLayer, ScatterplotLayer } from "@deck.gl/layers";
import "../dispatch.css";
import "./mobile_video.css";
import { api, authFetch, ok } from "../api/client";
import { apiError } from "../errors";
import { errorText } from "../errors";
import { h } from "../dom";
import { currentLang, onLangChange, t, type Key } from "../i18n";
import { css, PRIORITY } from "../map/colors";
import { tm } from "../i18n_mobile";
import { dispatchStatus, fmtDist, fmtEta, fmtTime, typeName, type TypeMap } from "../ui/dx";
import { mediaFor, type Stream } from "../ui/media";
import type { Stop } from "../ui/players";
import { mountMapPage } from "./shell";

interface Assignment {
  unit: { id: number; callsign: string; status: string; target_id: number | null } | null;
  dispatch: { id: number; status: string; eta_s: number | null; incident_id: number; type: string; priority: number;
    description: string | null; address: string | null; lon: number; lat: number;
    route: { type: "LineString"; coordinates: [number, number][] } | null } | null;
}
interface SeeingCam { id: number; name: string; status: string; kind: string; distance_m: number; pan_bearing_deg: number | null }
/** The cameras seeing a spot: the assigned incident's, or else mine. */
interface Seeing { lon: number; lat: number; incident: number | null; at: number; cameras: SeeingCam[]; unavailable: SeeingCam[] }

const ORDER = ["assigned", "en_route", "on_scene", "cleared"];
const SHARE_KEY = "se.m.share";

export function mount(root: HTMLElement): void {
  document.documentElement.style.fontSize = "17px"; // outdoors: large text whatever the phone's width
  const page = mountMapPage(root, { page: "page.m", className: "mobile mobile-page", kpi: false, followIncidents: false,
    panels: () => [], onFrame: (f) => onFrame(f) });
  const { map } = page;

  let me: { username: string } | null = null;
  let asg: Assignment | null = null;
  let types: TypeMap = {};
  let myPos: { lon: number; lat: number; acc: number } | null = null;
  let lastSent = 0;
  let lastFixTime = 0; // ms: time of the last fix sent
  let lastSentAt: number | null = null;
  let sharing = localStorage.getItem(SHARE_KEY) !== "0";
  let geoError = false;
  let actionError = ""; // why the last status change was refused (e.g. the dispatch was cancelled meanwhile)
  let errorTimer: number | undefined;
  let seeing: Seeing | null = null;
  let fittedFor: number | null = null;
  let framedWithMe = false; // the assignment was framed knowing this officer's position
  let busy = false;

  // Only what changed is redrawn: the assignment card (its buttons) when the assignment does, its ETA in
  // place, the sharing line at every shared fix, the camera list when it changes. A tap landing on a button
  // replaced meanwhile would be lost (the phone shares a fix every few seconds).
  const cardBox = h("div", {});
  const shareBox = h("div", {});
  const main = h("div", {}, cardBox, shareBox);
  const cams = h("div", { "data-testid": "m-cams-box" });
  const sheet = h("div", { class: "m-sheet", "data-testid": "m-sheet" }, main, cams);
  root.append(h("div", { class: "m-ui" }, sheet));
  const video = new PhoneVideo(root, () => drawCams());
  let cardSig = "";
  let etaEl: HTMLElement | null = null;

  function drawCard(): void {
    const d = asg?.dispatch ?? null;
    const sig = JSON.stringify([asg?.unit?.callsign ?? null, d && [d.id, d.status, d.priority, d.type, d.incident_id,
      d.address, d.description], busy, actionError, Object.keys(types).length, currentLang()]);
    if (sig !== cardSig) {
      cardSig = sig;
      etaEl = null;
      const parts: HTMLElement[] = [h("h2", {}, t("m.assignment"))];
      if (!asg?.unit) parts.push(h("div", { class: "m-empty" }, t("m.no_unit")));
      else if (!d) parts.push(h("div", { class: "m-empty", "data-testid": "m-none" }, `${asg.unit.callsign} · ${t("m.no_assignment")}`));
      else {
        const idx = ORDER.indexOf(d.status);
        const btn = (status: string, key: Key, enabled: boolean, next: boolean) => h("button", {
          class: `m-btn ${next ? "next" : ""}`, type: "button", disabled: !enabled || busy, "data-testid": `m-${status}`,
          onclick: () => void setStatus(d.id, status) }, t(key));
        if (["assigned", "en_route"].includes(d.status)) etaEl = h("div", { class: "m-eta", "data-testid": "m-eta" });
        parts.push(h("div", { class: "m-card", "data-testid": "m-assignment", "data-dispatch": d.id, "data-status": d.status,
          style: `--c:${css(PRIORITY[d.priority - 1] ?? PRIORITY[3])}` },
          h("div", { class: "m-title" }, h("span", { class: "badge", style: `--c:${css(PRIORITY[d.priority - 1] ?? PRIORITY[3])}` },
            t(`incident.p${d.priority}` as Key)), `#${d.incident_id} ${typeName({ type: d.type }, types)}`),
          d.address ? h("div", { class: "m-line" }, d.address) : null,
          d.description ? h("div", { class: "m-line muted" }, d.description) : null,
          h("div", { class: "m-line" }, h("span", { class: "m-status" }, `${t("m.status")}: `),
            h("b", { "data-testid": "m-status" }, dispatchStatus(d.status))),
          etaEl),
          h("div", { class: "m-buttons" },
            btn("accepted", "m.accept", idx === 0, idx === 0),
            btn("en_route", "m.en_route", idx === 0, false),
            btn("on_scene", "m.on_scene", idx === 1, idx === 1),
            btn("cleared", "m.cleared", idx === 2, idx === 2)));
      }
      // Kept even when the card is gone: "cancelled meanwhile" is exactly when the officer needs to read it.
      if (actionError) parts.push(h("div", { class: "m-msg", role: "alert", "data-testid": "m-error" }, actionError));
      cardBox.replaceChildren(...parts);
    }
    if (etaEl && d) etaEl.textContent = `${t("dx.eta")} ${fmtEta(d.eta_s)}`;
  }

  function draw(): void {
    drawCard();
    const share = h("input", { type: "checkbox", checked: sharing, "data-testid": "m-share", onchange: (ev: Event) => {
      sharing = (ev.target as HTMLInputElement).checked;
      localStorage.setItem(SHARE_KEY, sharing ? "1" : "0");
      if (sharing) startGeo(); else stopGeo();
      draw();
    } });
    const parts: HTMLElement[] = [h("label", { class: `m-share ${sharing ? "on" : ""}` }, share,
      // Sharing wanted but no fix to share: say so rather than claim it shares.
      h("span", { "data-testid": "m-share-state" }, !sharing ? t("m.sharing_off") : geoError ? t("m.sharing_failed") : t("m.sharing")),
      h("span", { class: "m-fix", "data-testid": "m-fix" }, lastSentAt ? `${t("m.last_fix")} ${fmtTime(lastSentAt / 1000)}` : ""))];
    if (geoError && sharing) parts.push(h("div", { class: "m-msg" }, t("m.geo_denied")));
    shareBox.replaceChildren(...parts);
  }

  function drawCams(): void {
    cams.replaceChildren(...cameraList());
  }

  function cameraList(): HTMLElement[] {
    const s = seeing;
    const title = h("h2", { "data-testid": "m-cams-title" }, s?.incident ? tm("m.cams_scene", { id: s.incident }) : tm("m.cams_here"));
    if (!s) return [title, h("div", { class: "m-empty" }, tm("m.cams_no_pos"))];
    const row = (c: SeeingCam) => h("li", {}, h("button", {
      class: `m-cam ${video.cameraId === c.id ? "on" : ""}`, type: "button", "data-testid": "m-cam", "data-camera": c.id,
      "aria-label": `${tm("m.cam_play")} ${c.name}`, onclick: () => void play(c) },
    h("span", { class: "m-cam-play", "aria-hidden": "true" }, "▶"),
    h("span", { class: "m-cam-name" }, c.name),
    h("span", { class: "m-cam-meta" }, [fmtDist(c.distance_m), c.pan_bearing_deg !== null ? tm("m.cam_ptz") : ""].filter(Boolean).join(" · "))));
    const down = s.unavailable.length
      ? h("div", { class: "m-empty", "data-testid": "m-cams-down" }, tm("m.cams_down", { n: s.unavailable.length })) : null;
    if (!s.cameras.length) return [title, h("div", { class: "m-empty", "data-testid": "m-cams-none" }, tm("m.cams_none")), ...(down ? [down] : [])];
    return [title, h("ul", { class: "m-cams", "data-testid": "m-cams" }, ...s.cameras.slice(0, 5).map(row)), ...(down ? [down] : [])];
  }

  /** Open ``c`` (audited: the reason names the incident whose scene it sees), closing the video before. */
  function play(c: SeeingCam): Promise<void> {
    const incident = seeing?.incident ?? null;
    const reason = incident ? tm("m.reason_scene", { id: incident }) : tm("m.reason_here");
    return video.open(c.id, c.name, reason, incident);
  }

  /** The incident and this officer in the part of the map the sheet leaves visible (above it). */
  function frame(d: { lon: number; lat: number }): void {
    framedWithMe = myPos !== null;
    const lons = [d.lon, ...(myPos ? [myPos.lon] : [])], lats = [d.lat, ...(myPos ? [myPos.lat] : [])];
    const m = 0.002; // ~200 m around: never a zero-size box (its fit would ignore the padding)
    const height = window.innerHeight, pad = 32, top = 72;
    const bottom = Math.min(sheet.getBoundingClientRect().height + pad, height - top - 120);
    map.fitTo([[Math.min(...lons) - m, Math.min(...lats) - m], [Math.max(...lons) + m, Math.max(...lats) + m]], 16.5,
      { top, bottom: Math.max(pad, bottom), left: pad, right: pad });
  }

  async function load(): Promise<void> {
    let got: Assignment;
    try { got = await ok(api.GET("/api/v1/me/assignment")); } catch { return; }
    asg = got;
    const d = got.dispatch;
    draw(); // first: the sheet's height decides what part of the map is visible
    if (d && fittedFor !== d.id) { // a new assignment: show it
      fittedFor = d.id;
      frame(d);
    }
    map.render();
    void loadSeeing();
  }

  async function setStatus(id: number, status: string): Promise<void> {
    busy = true; draw();
    try {
      await ok(api.POST("/api/v1/me/dispatches/{dispatch_id}/status", { params: { path: { dispatch_id: id } }, body: { status } }));
      actionError = "";
    } catch (e) {
      actionError = `${t("dx.failed")} · ${errorText(e)}`;
      window.clearTimeout(errorTimer);
      errorTimer = window.setTimeout(() => { actionError = ""; draw(); }, 15_000);
    }
    busy = false;
    await load();
  }

  // ---- position sharing ----------------------------------------------------------------------------
  let watchId: number | null = null;
  let beat: number | undefined;
  const onPos = (p: GeolocationPosition) => {
    if (geoError) { geoError = false; draw(); }
    myPos = { lon: p.coords.longitude, lat: p.coords.latitude, acc: p.coords.accuracy ?? 0 };
    const d = asg?.dispatch;
    if (d && fittedFor === d.id && !framedWithMe) frame(d); // once: now the way there fits too
    map.render();
    void send(p);
    void loadSeeing();
  };
  const onErr = () => { geoError = true; draw(); };
  function startGeo(): void {
    if (!("geolocation" in navigator) || watchId !== null) return;
    watchId = navigator.geolocation.watchPosition(onPos, onErr, { enableHighAccuracy: true, maximumAge: 2000, timeout: 15000 });
    // Standing still produces no watch callbacks: report every few seconds anyway (the unit stays fresh).
    beat = window.setInterval(() => navigator.geolocation.getCurrentPosition(onPos, onErr, { enableHighAccuracy: true, maximumAge: 1000 }), 3000);
  }
  function stopGeo(): void {
    if (watchId !== null) navigator.geolocation.clearWatch(watchId);
    watchId = null;
    window.clearInterval(beat);
  }
  // At most one report per 1.5 s, but never drop the latest fix: a fix arriving inside the window is
  // sent when it ends (a phone that stops right after moving would otherwise keep its old position).
  let pending: GeolocationPosition | null = null;
  let flush: number | undefined;
  async function send(p: GeolocationPosition): Promise<void> {
    if (!sharing || !me) return;
    const wait = lastSent + 1500 - Date.now();
    if (wait > 0) {
      pending = p;
      flush ??= window.setTimeout(() => {
        flush = undefined;
        const q = pending;
        pending = null;
        if (q) void send(q);
      }, wait);
      return;
    }
    lastSent = Date.now();
    const c = p.coords;
    // The fix's own time, unless the browser repeats a cached timestamp: (target, time) is the
    // position's identity, so a repeated time would be dropped as a duplicate of the earlier fix.
    const when = p.timestamp && p.timestamp > lastFixTime ? p.timestamp : Math.max(Date.now(), lastFixTime + 1);
    lastFixTime = when;
    try {
      // The route reads its body itself (a list or {positions: [...]}): no request model to type it by.
      const r = await authFetch(new Request("/api/v1/positions", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify([{ target: `user-${me.username}`, time: new Date(when).toISOString(),
          lon: c.longitude, lat: c.latitude, speed: c.speed !== null && c.speed >= 0 ? c.speed * 3.6 : null,
          heading: c.heading !== null && Number.isFinite(c.heading) ? c.heading : null, accuracy: c.accuracy ?? null }]) }));
      if (!r.ok) throw await apiError(r);
      lastSentAt = Date.now();
      draw();
    } catch { /* the next fix tries again */ }
  }

  /** The cameras seeing the assigned incident's spot, or mine without one; asked again when the spot
   *  moves (~25 m) or every 30 s (cameras go offline and come back). */
  let seeingBusy = false;
  async function loadSeeing(): Promise<void> {
    const d = asg?.dispatch;
    const spot = d ? { lon: d.lon, lat: d.lat, incident: d.incident_id } : myPos ? { lon: myPos.lon, lat: myPos.lat, incident: null } : null;
    if (!spot) { // the assignment ended and my position is unknown: the scene's list no longer applies
      if (seeing) { seeing = null; drawCams(); }
      return;
    }
    if (seeingBusy) return;
    const moved = !seeing || seeing.incident !== spot.incident
      || Math.hypot((seeing.lon - spot.lon) * 111_320 * Math.cos((spot.lat * Math.PI) / 180), (seeing.lat - spot.lat) * 110_540) > 25;
    if (!moved && Date.now() - seeing!.at < 30_000) return;
    seeingBusy = true;
    try {
      const r = await ok(api.GET("/api/v1/callup/seeing", { params: { query: { lon: spot.lon, lat: spot.lat } } }));
      const next = { ...spot, at: Date.now(), cameras: r.cameras, unavailable: r.unavailable };
      const same = seeing && JSON.stringify([seeing.incident, seeing.cameras, seeing.unavailable])
        === JSON.stringify([next.incident, next.cameras, next.unavailable]);
      seeing = next;
      if (!same) drawCams();
    } catch { /* asked again on the next fix or refresh */ } finally { seeingBusy = false; }
  }

  function onFrame(f: { type: string; [k: string]: unknown }): void {
    const d = asg?.dispatch;
    if (f.type === "dispatch") {
      if (d && Number(f.dispatch_id) === d.id && f.op === "progress" && f.status === d.status) {
        d.eta_s = (f.eta_s as number | null) ?? null;
        if ("route" in f) { d.route = (f.route as typeof d.route) ?? null; map.render(); } // from where I am now
        draw();
      } else void load();
    }
  }

  map.extraLayers.push((): Layer[] => {
    const layers: Layer[] = [];
    const d = asg?.dispatch;
    if (d?.route) layers.push(new PathLayer({ id: "m-route", data: [d.route.coordinates], getPath: (p: [number, number][]) => p,
      getColor: [255, 149, 0, 240], getWidth: 7, widthUnits: "pixels", capRounded: true, jointRounded: true }));
    if (d) layers.push(new ScatterplotLayer({ id: "m-incident", data: [d], getPosition: (x: { lon: number; lat: number }) => [x.lon, x.lat],
      getRadius: 12, radiusUnits: "pixels", getFillColor: PRIORITY[d.priority - 1] ?? PRIORITY[3], getLineColor: [255, 255, 255, 255],
      stroked: true, lineWidthMinPixels: 3 }));
    if (myPos) {
      layers.push(new ScatterplotLayer({ id: "m-acc", data: [myPos], getPosition: (p: { lon: number; lat: number }) => [p.lon, p.lat],
        getRadius: (p: { acc: number }) => Math.max(5, p.acc), radiusUnits: "meters", getFillColor: [58, 160, 255, 40], stroked: false }));
      layers.push(new ScatterplotLayer({ id: "m-me", data: [myPos], getPosition: (p: { lon: number; lat: number }) => [p.lon, p.lat],
        getRadius: 9, radiusUnits: "pixels", getFillColor: [58, 160, 255, 255], getLineColor: [255, 255, 255, 255], stroked: true,
        lineWidthMinPixels: 3 }));
    }
    return layers;
  });

  onLangChange(() => { draw(); drawCams(); });
  draw();
  drawCams();
  void ok(api.GET("/api/v1/auth/me")).then((u) => { me = u; if (sharing) startGeo(); }).catch(() => {});
  void ok(api.GET("/api/v1/incidents/types")).then((tm) => { types = tm; draw(); }).catch(() => {});
  void load();
  window.setInterval(() => void load(), 10_000); // the feed is the fast path; this is the safety net
}

/** The one live video of /m: full width under the top bar, with a close button; closing stops the stream
 *  (the platform then ends the camera's session, e.g. a GB/T 28181 device gets its BYE). */
class PhoneVideo {
  cameraId: number | null = null;
  private el: HTMLElement | null = null;
  private stop: Stop = () => {};
  private seq = 0;

  constructor(private root: HTMLElement, private changed: () => void) {
    onLangChange(() => { const close = this.el?.querySelector<HTMLElement>(".m-video-close"); if (close) close.title = tm("m.video_close"); });
    window.addEventListener("pagehide", () => this.close());
  }

  async open(cameraId: number, name: string, reason: string, incidentId: number | null): Promise<void> {
    this.close();
    const mine = ++this.seq; // a later tap wins over this one's pending call-up
    this.cameraId = cameraId;
    const screen = h("div", { class: "m-screen" }, h("div", { class: "m-video-msg" }, tm("m.video_opening")));
    const fmt = h("span", { class: "m-video-fmt", "data-testid": "m-video-fmt" });
    this.el = h("section", { class: "m-video", "data-testid": "m-video", "data-camera": cameraId },
      h("header", {}, h("span", { class: "m-video-name" }, name), fmt,
        h("button", { class: "m-video-close", type: "button", title: tm("m.video_close"), "aria-label": tm("m.video_close"),
          "data-testid": "m-video-close", onclick: () => this.close() }, "×")),
      screen);
    this.root.append(this.el);
    this.changed();
    let stream: Stream | undefined;
    try {
      const r = await ok(api.POST("/api/v1/callup", { body: { camera_ids: [cameraId], reason, incident_id: incidentId } }));
      stream = r.streams[0];
      if (!stream) throw new Error(tm("m.video_failed"));
    } catch (e) {
      if (mine === this.seq) screen.replaceChildren(h("div", { class: "m-video-msg", role: "alert", "data-testid": "m-video-error" },
        `${tm("m.video_failed")} · ${errorText(e)}`));
      return;
    }
    if (mine !== this.seq) return; // closed (or another opened) meanwhile: nothing was started
    const media = mediaFor(stream);
    this.stop = media.stop;
    fmt.textContent = stream.format.toUpperCase();
    screen.replaceChildren(media.el);
  }

  close(): void {
    this.seq++;
    this.stop();
    this.stop = () => {};
    this.el?.remove();
    this.el = null;
    if (this.cameraId !== null) { this.cameraId = null; this.changed(); }
  }
}
