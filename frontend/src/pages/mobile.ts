// /m: the field officer's phone — my assignment on the map with route and ETA, big status buttons,
// my position shared from the browser's geolocation while the page is open, cameras near me.
import type { Layer } from "@deck.gl/core";
import { PathLayer, ScatterplotLayer } from "@deck.gl/layers";
import "../dispatch.css";
import { api } from "../auth";
import { errorText } from "../errors";
import { h } from "../dom";
import { onLangChange, t, type Key } from "../i18n";
import { css, PRIORITY } from "../map/colors";
import { dispatchStatus, tOr, fmtDist, fmtEta, fmtTime, typeName, type TypeMap } from "../ui/dx";
import { mountMapPage } from "./shell";

interface Assignment {
  unit: { id: number; callsign: string; status: string; target_id: number | null } | null;
  dispatch: { id: number; status: string; eta_s: number | null; incident_id: number; type: string; priority: number;
    description: string | null; address: string | null; lon: number; lat: number;
    route: { type: "LineString"; coordinates: [number, number][] } | null } | null;
}
interface NearCam { id: number; name: string; status: string; kind: string; d: number }

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
  let near: NearCam[] = [];
  let nearAt: [number, number] | null = null;
  let fittedFor: number | null = null;
  let framedWithMe = false; // the assignment was framed knowing this officer's position
  let busy = false;

  const sheet = h("div", { class: "m-sheet", "data-testid": "m-sheet" });
  root.append(h("div", { class: "m-ui" }, sheet));

  function draw(): void {
    const d = asg?.dispatch ?? null;
    const parts: HTMLElement[] = [h("h2", {}, t("m.assignment"))];
    if (!asg?.unit) parts.push(h("div", { class: "m-empty" }, t("m.no_unit")));
    else if (!d) parts.push(h("div", { class: "m-empty", "data-testid": "m-none" }, `${asg.unit.callsign} · ${t("m.no_assignment")}`));
    else {
      const idx = ORDER.indexOf(d.status);
      const btn = (status: string, key: Key, enabled: boolean, next: boolean) => h("button", {
        class: `m-btn ${next ? "next" : ""}`, type: "button", disabled: !enabled || busy, "data-testid": `m-${status}`,
        onclick: () => void setStatus(d.id, status) }, t(key));
      parts.push(h("div", { class: "m-card", "data-testid": "m-assignment", "data-dispatch": d.id, "data-status": d.status,
        style: `--c:${css(PRIORITY[d.priority - 1] ?? PRIORITY[3])}` },
        h("div", { class: "m-title" }, h("span", { class: "badge", style: `--c:${css(PRIORITY[d.priority - 1] ?? PRIORITY[3])}` },
          t(`incident.p${d.priority}` as Key)), `#${d.incident_id} ${typeName({ type: d.type }, types)}`),
        d.address ? h("div", { class: "m-line" }, d.address) : null,
        d.description ? h("div", { class: "m-line muted" }, d.description) : null,
        h("div", { class: "m-line" }, h("span", { class: "m-status" }, `${t("m.status")}: `),
          h("b", { "data-testid": "m-status" }, dispatchStatus(d.status))),
        ["assigned", "en_route"].includes(d.status)
          ? h("div", { class: "m-eta", "data-testid": "m-eta" }, `${t("dx.eta")} ${fmtEta(d.eta_s)}`) : null),
        h("div", { class: "m-buttons" },
          btn("accepted", "m.accept", idx === 0, idx === 0),
          btn("en_route", "m.en_route", idx === 0, false),
          btn("on_scene", "m.on_scene", idx === 1, idx === 1),
          btn("cleared", "m.cleared", idx === 2, idx === 2)));
    }
    // Kept even when the card is gone: "cancelled meanwhile" is exactly when the officer needs to read it.
    if (actionError) parts.push(h("div", { class: "m-msg", role: "alert", "data-testid": "m-error" }, actionError));
    const share = h("input", { type: "checkbox", checked: sharing, "data-testid": "m-share", onchange: (ev: Event) => {
      sharing = (ev.target as HTMLInputElement).checked;
      localStorage.setItem(SHARE_KEY, sharing ? "1" : "0");
      if (sharing) startGeo(); else stopGeo();
      draw();
    } });
    parts.push(h("label", { class: `m-share ${sharing ? "on" : ""}` }, share, sharing ? t("m.sharing") : t("m.sharing_off"),
      h("span", { class: "m-fix", "data-testid": "m-fix" }, lastSentAt ? `${t("m.last_fix")} ${fmtTime(lastSentAt / 1000)}` : "")));
    if (geoError && sharing) parts.push(h("div", { class: "m-msg" }, t("m.geo_denied")));
    parts.push(h("h2", {}, t("m.nearby")));
    parts.push(near.length ? h("ul", { class: "m-cams", "data-testid": "m-cams" }, ...near.slice(0, 6).map((c) => h("li", {},
      h("span", {}, c.name), h("span", {}, `${fmtDist(c.d)} · ${tOr(`legend.${c.status}`, c.status)}`))))
      : h("div", { class: "m-empty" }, t("m.no_nearby")));
    sheet.replaceChildren(...parts);
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
    try { asg = await api<Assignment>("/api/v1/me/assignment"); } catch { return; }
    const d = asg.dispatch;
    draw(); // first: the sheet's height decides what part of the map is visible
    if (d && fittedFor !== d.id) { // a new assignment: show it
      fittedFor = d.id;
      frame(d);
    }
    map.render();
  }

  async function setStatus(id: number, status: string): Promise<void> {
    busy = true; draw();
    try {
      await api(`/api/v1/me/dispatches/${id}/status`, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ status }) });
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
    geoError = false;
    myPos = { lon: p.coords.longitude, lat: p.coords.latitude, acc: p.coords.accuracy ?? 0 };
    const d = asg?.dispatch;
    if (d && fittedFor === d.id && !framedWithMe) frame(d); // once: now the way there fits too
    map.render();
    void send(p);
    void loadNear();
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
      await api("/api/v1/positions", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify([{ target: `user-${me.username}`, time: new Date(when).toISOString(),
          lon: c.longitude, lat: c.latitude, speed: c.speed !== null && c.speed >= 0 ? c.speed * 3.6 : null,
          heading: c.heading !== null && Number.isFinite(c.heading) ? c.heading : null, accuracy: c.accuracy ?? null }]) });
      lastSentAt = Date.now();
      draw();
    } catch { /* the next fix tries again */ }
  }

  async function loadNear(): Promise<void> {
    if (!myPos) return;
    if (nearAt && Math.abs(nearAt[0] - myPos.lon) < 0.0005 && Math.abs(nearAt[1] - myPos.lat) < 0.0003) return;
    nearAt = [myPos.lon, myPos.lat];
    const dLon = 400 / (111_320 * Math.cos((myPos.lat * Math.PI) / 180)), dLat = 400 / 110_540;
    const bbox = [myPos.lon - dLon, myPos.lat - dLat, myPos.lon + dLon, myPos.lat + dLat].map((v) => v.toFixed(6)).join(",");
    const fc = await api<{ features: Array<{ id: number; geometry: { coordinates: [number, number] }; properties: { name: string; status: string; kind: string } }> }>(
      `/api/v1/cameras?bbox=${bbox}&limit=200`).catch(() => null);
    if (!fc || !myPos) return;
    const here = myPos;
    near = fc.features.map((f) => {
      const [x, y] = f.geometry.coordinates;
      const d = Math.hypot((x - here.lon) * 111_320 * Math.cos((here.lat * Math.PI) / 180), (y - here.lat) * 110_540);
      return { id: f.id, name: f.properties.name, status: f.properties.status, kind: f.properties.kind, d };
    }).sort((a, b) => a.d - b.d);
    draw();
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

  onLangChange(draw);
  draw();
  void api<{ username: string }>("/api/v1/auth/me").then((u) => { me = u; if (sharing) startGeo(); }).catch(() => {});
  void api<TypeMap>("/api/v1/incidents/types").then((tm) => { types = tm; draw(); }).catch(() => {});
  void load();
  window.setInterval(() => void load(), 10_000); // the feed is the fast path; this is the safety net
}
