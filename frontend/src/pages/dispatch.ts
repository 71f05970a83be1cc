// /dispatch: the dispatcher's console — create incidents (map click, coordinates, place names), see the
// cameras that see the spot and open them on the video wall, send the nearest units by road and follow them
// live, replay tracks on a shared clock and draw a target's predicted position.
//
// The console's own DOM lives beside the shell's chrome and is never rebuilt wholesale by the shell (a
// form being typed in keeps its focus; a playing video tile is not reconnected).
import type { Layer, PickingInfo } from "@deck.gl/core";
import { PathLayer, ScatterplotLayer, LineLayer } from "@deck.gl/layers";
import "../dispatch.css";
import { api } from "../auth";
import { errorText } from "../errors";
import { h } from "../dom";
import { onLangChange, t, type Key } from "../i18n";
import { css, PRIORITY } from "../map/colors";
import type { Incident, Target } from "../map/store";
import { dispatchStatus, tOr, fmtDist, fmtEta, fmtTime, typeName, type TypeMap } from "../ui/dx";
import { predictionLayers, ReplayPanel, type Prediction } from "../ui/replay";
import { VideoWall } from "../ui/videowall";
import { mountMapPage, type MapPage } from "./shell";

interface SeeCam { id: number; gb_id: string; name: string; kind: string; status: string; distance_m: number;
  off_axis_deg: number | null; pan_bearing_deg: number | null; score: number; lon: number; lat: number; hd?: boolean; cls?: number }
interface Rec { unit_id: number; callsign: string; kind?: string; eta_s: number | null; distance_m: number; lon: number; lat: number;
  last_fix_at?: string }
interface Disp { id: number; unit_id: number; callsign: string; status: string; eta_s: number | null;
  route: { type: "LineString"; coordinates: [number, number][] } | null; assigned_at?: string; on_scene_at?: string | null }
interface Detail { id: number; lon: number; lat: number; props: Record<string, unknown> & { status: string; priority: number;
  type: string; dispatches: Disp[] } }

const ROUTE_COLOR: Record<string, [number, number, number, number]> = {
  assigned: [255, 214, 10, 230], en_route: [255, 149, 0, 240], on_scene: [191, 90, 242, 230],
};
const post = (path: string, body: unknown) => api<Record<string, unknown>>(path, {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

export function mount(root: HTMLElement): void {
  const page: MapPage = mountMapPage(root, { page: "page.dispatch", className: "console dispatch", kpi: true,
    followIncidents: false, panels: () => [], onFrame: (f) => onFrame(f), onNewIncident: () => drawList() });
  const { store, map } = page;

  let types: TypeMap = {};
  let draft: [number, number] | null = null;
  let selected: Detail | null = null;
  let cams: { cameras: SeeCam[]; unavailable: SeeCam[] } | null = null;
  let recs: { recommended: Rec[]; stale: Rec[] } | null = null;
  const chosenCams = new Set<number>();
  const chosenUnits = new Set<number>();
  let prediction: Prediction | null = null;
  let predTarget: number | null = null;

  // ---- new incident form -------------------------------------------------------------------
  const typeSel = h("select", { name: "type", "data-testid": "inc-type" }) as HTMLSelectElement;
  const prioSel = h("select", { name: "priority", "data-testid": "inc-priority" },
    ...[1, 2, 3, 4].map((p) => h("option", { value: p, selected: p === 2 }, t(`incident.p${p}` as Key)))) as HTMLSelectElement;
  const lonIn = h("input", { name: "lon", inputmode: "decimal", "data-testid": "inc-lon", placeholder: "24.94" }) as HTMLInputElement;
  const latIn = h("input", { name: "lat", inputmode: "decimal", "data-testid": "inc-lat", placeholder: "60.17" }) as HTMLInputElement;
  const placeIn = h("input", { name: "place", "data-testid": "place-q", placeholder: t("dx.place_hint"), autocomplete: "off" }) as HTMLInputElement;
  const placeList = h("ul", { class: "dx-places", "data-testid": "place-results" });
  const descIn = h("textarea", { name: "description", rows: 2, "data-testid": "inc-desc" }) as HTMLTextAreaElement;
  const reporterIn = h("input", { name: "reporter", "data-testid": "inc-reporter" }) as HTMLInputElement;
  const addrIn = h("input", { name: "address", "data-testid": "inc-address", placeholder: t("dx.address_hint") }) as HTMLInputElement;
  const formMsg = h("div", { class: "dx-msg", role: "alert" });
  const setDraft = (lon: number, lat: number, label?: string) => {
    draft = [lon, lat];
    lonIn.value = lon.toFixed(6);
    latIn.value = lat.toFixed(6);
    if (label) addrIn.value = label;
    map.render();
  };
  const readDraft = () => {
    const lon = Number(lonIn.value), lat = Number(latIn.value);
    if (lonIn.value && latIn.value && Number.isFinite(lon) && Number.isFinite(lat) && Math.abs(lon) <= 180 && Math.abs(lat) <= 90) {
      draft = [lon, lat];
      map.render();
    }
  };
  lonIn.addEventListener("change", readDraft);
  latIn.addEventListener("change", readDraft);
  let placeTimer: number | undefined;
  placeIn.addEventListener("input", () => {
    window.clearTimeout(placeTimer);
    placeTimer = window.setTimeout(async () => {
      const q = placeIn.value.trim();
      if (!q) { placeList.replaceChildren(); return; }
      const rows = await api<Array<{ name: string; name_en: string | null; kind: string; lon: number; lat: number }>>(
        `/api/v1/incidents/places?q=${encodeURIComponent(q)}`).catch(() => []);
      placeList.replaceChildren(...(rows.length ? rows.slice(0, 8).map((p) => h("li", { tabindex: 0, onclick: () => {
        const label = p.name_en && p.name_en !== p.name ? `${p.name} (${p.name_en})` : p.name;
        setDraft(p.lon, p.lat, label);
        placeIn.value = label;
        placeList.replaceChildren();
        map.flyTo(p.lon, p.lat, 17);
      } }, h("span", {}, p.name), p.name_en && p.name_en !== p.name ? h("span", { class: "muted" }, p.name_en) : null))
        : [h("li", { class: "muted" }, t("dx.no_place"))]));
    }, 250);
  });
  const createBtn = h("button", { class: "btn primary", type: "submit", "data-testid": "create-incident" }, t("dx.create"));
  const form = h("form", { class: "dx-form" },
    h("div", { class: "row2" }, h("label", {}, t("dx.type"), typeSel), h("label", {}, t("dx.priority"), prioSel)),
    h("label", { class: "dx-placebox" }, t("dx.place"), placeIn, placeList),
    h("div", { class: "row2" }, h("label", {}, t("dx.lon"), lonIn), h("label", {}, t("dx.lat"), latIn)),
    h("div", { class: "hint" }, t("dx.pick_hint")),
    h("label", {}, t("dx.address"), addrIn),
    h("label", {}, t("dx.description"), descIn),
    h("label", {}, t("dx.reporter"), reporterIn),
    createBtn, formMsg) as HTMLFormElement;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    readDraft();
    formMsg.textContent = "";
    if (!draft) { formMsg.textContent = t("dx.pick_hint"); return; }
    try {
      const feat = await post("/api/v1/incidents", { type: typeSel.value, priority: Number(prioSel.value), lon: draft[0], lat: draft[1],
        description: descIn.value || null, reporter: reporterIn.value || null, address: addrIn.value || null });
      draft = null;
      descIn.value = ""; addrIn.value = ""; placeIn.value = "";
      const props = (feat as { properties: Incident & { lon?: number } }).properties;
      const [lon, lat] = (feat as { geometry: { coordinates: [number, number] } }).geometry.coordinates;
      store.applyIncident({ op: "created", incident: { ...props, lon, lat } as Incident });
      drawList();
      await select(Number((feat as { id: number }).id), true);
    } catch {
      formMsg.textContent = t("dx.create_failed");
    }
  });

  // ---- incident list ---------------------------------------------------------------------------
  const listEl = h("ul", { class: "dx-list", "data-testid": "incident-list" });
  function drawList(): void {
    const list = [...store.incidents.values()].sort((a, b) => a.priority - b.priority || b.id - a.id);
    listEl.replaceChildren(...(list.length ? list.map((i) => h("li", {
      class: `dx-inc ${selected?.id === i.id ? "sel" : ""}`, "data-incident": i.id, "data-status": i.status,
      style: `--c:${css(PRIORITY[i.priority - 1] ?? PRIORITY[3])}`, onclick: () => void select(i.id, true) },
      h("span", { class: "badge" }, t(`incident.p${i.priority}` as Key)),
      h("span", { class: "dx-inc-main" }, h("b", {}, `#${i.id} ${typeName(i as never, types)}`),
        h("span", { class: "muted" }, `${i.address || ""} ${fmtTime(i.created_at)}`)),
      h("span", { class: `pill st-${i.status}` }, t(`status.${i.status}` as Key))))
      : [h("li", { class: "muted" }, t("dx.no_incidents"))]));
  }

  // ---- incident detail -------------------------------------------------------------------------
  const detailEl = h("div", { class: "dx-detail", "data-testid": "incident-detail" });
  const camsEl = h("div", { class: "dx-cams", "data-testid": "cameras" });
  const unitsEl = h("div", { class: "dx-units", "data-testid": "units" });
  const reasonIn = h("input", { name: "reason", "data-testid": "callup-reason" }) as HTMLInputElement;
  const wall = new VideoWall({ closable: true, onClose: () => wallBox.classList.remove("open") });
  const wallBox = h("div", { class: "dx-wallbox" }, wall.el);

  async function select(id: number, fly = false): Promise<void> {
    const changed = selected?.id !== id;
    const feat = await api<{ id: number; geometry: { coordinates: [number, number] }; properties: Detail["props"] }>(`/api/v1/incidents/${id}`);
    const [lon, lat] = feat.geometry.coordinates;
    selected = { id, lon, lat, props: feat.properties };
    if (changed) {
      chosenCams.clear(); chosenUnits.clear(); cams = null; recs = null;
      reasonIn.value = `${t("dx.reason_default")} #${id}`;
      if (fly) map.flyTo(lon, lat, 17);
      void loadCams();
    }
    void loadRecs();
    drawDetail();
    drawList();
    map.render();
  }

  async function loadCams(): Promise<void> {
    if (!selected) return;
    const id = selected.id;
    const r = await api<{ cameras: SeeCam[]; unavailable: SeeCam[] }>(`/api/v1/callup/seeing?lon=${selected.lon}&lat=${selected.lat}`);
    if (selected?.id !== id) return;
    cams = r;
    r.cameras.slice(0, wall.layout).forEach((c) => chosenCams.add(c.id)); // the best ones, preselected
    drawCams();
    map.render();
  }

  async function loadRecs(): Promise<void> {
    if (!selected) return;
    const id = selected.id;
    if (["resolved", "closed"].includes(selected.props.status)) { recs = null; drawUnits(); return; }
    const r = await api<{ recommended: Rec[]; stale: Rec[] }>(`/api/v1/incidents/${id}/recommend`).catch(() => null);
    if (selected?.id !== id) return;
    recs = r;
    drawUnits();
  }

  function drawDetail(): void {
    if (!selected) { detailEl.replaceChildren(h("div", { class: "muted" }, t("dx.select_hint"))); return; }
    const p = selected.props;
    const idx = ["new", "dispatched", "on_scene", "resolved", "closed"].indexOf(p.status);
    const life = (status: string, key: Key, enabled: boolean) => h("button", { class: "btn", type: "button", disabled: !enabled,
      "data-testid": `to-${status}`, onclick: async () => {
        try { await post(`/api/v1/incidents/${selected!.id}/status`, { status }); await select(selected!.id); }
        catch (e) { flash(failed(e), 6000); }
      } }, t(key));
    const row = (k: Key, v: unknown) => h("div", { class: "kv" }, h("span", { class: "k" }, t(k)), h("span", { class: "v" }, v ? String(v) : "—"));
    const steps = ["new", "dispatched", "on_scene", "resolved", "closed"].map((s, i) => h("span", {
      class: `step ${i < idx ? "done" : ""} ${i === idx ? "cur" : ""}` }, t(`status.${s}` as Key)));
    const active = p.dispatches.filter((d) => !["cleared", "cancelled"].includes(d.status));
    detailEl.replaceChildren(...[
      h("div", { class: "dx-head", style: `--c:${css(PRIORITY[p.priority - 1] ?? PRIORITY[3])}` },
        h("span", { class: "badge" }, t(`incident.p${p.priority}` as Key)),
        h("b", {}, `#${selected.id} ${typeName(p as never, types)}`),
        h("span", { class: `pill st-${p.status}`, "data-testid": "incident-status", "data-status": p.status }, t(`status.${p.status}` as Key))),
      h("div", { class: "steps" }, ...steps),
      row("incident.address", p.address), row("incident.time", fmtTime(p.created_at as string, true)),
      row("incident.description", p.description), row("dx.reporter", p.reporter),
      row("dx.lon", `${selected.lon.toFixed(6)}, ${selected.lat.toFixed(6)}`),
      h("div", { class: "btns" }, life("on_scene", "dx.to_on_scene", idx >= 1 && idx < 2),
        life("resolved", "dx.to_resolved", idx >= 1 && idx < 3), life("closed", "dx.to_closed", idx === 3)),
      p.dispatches.length ? h("div", { class: "dx-disp", "data-testid": "dispatches" },
        h("h3", {}, t("dx.dispatches")),
        ...p.dispatches.map((d) => h("div", { class: "dx-drow", "data-dispatch": d.id, "data-status": d.status, "data-unit": d.callsign },
          h("b", {}, d.callsign),
          h("span", { class: `pill ds-${d.status}` }, dispatchStatus(d.status)),
          h("span", { class: "eta", "data-testid": "dispatch-eta" }, ["assigned", "en_route"].includes(d.status) ? `${t("dx.eta")} ${fmtEta(d.eta_s)}` : ""),
          h("span", { class: "dx-dbtns" }, ...(["en_route", "on_scene", "cleared", "cancelled"] as const)
            .filter((s) => active.includes(d) && (s === "cancelled" || ["assigned", "en_route", "on_scene", "cleared"].indexOf(s) > ["assigned", "en_route", "on_scene", "cleared"].indexOf(d.status)))
            .map((s) => h("button", { class: "btn sm", type: "button", onclick: async () => {
              try { await post(`/api/v1/dispatches/${d.id}/status`, { status: s }); await select(selected!.id); }
              catch (e) { flash(failed(e), 6000); }
            } }, s === "cancelled" ? t("dx.cancel") : dispatchStatus(s)))))))
        : null].filter((x): x is HTMLElement => x !== null));
  }

  function drawCams(): void {
    if (!selected || !cams) { camsEl.replaceChildren(); return; }
    const camRow = (c: SeeCam, ok: boolean) => h("li", { class: `dx-cam ${ok ? "" : "off"}`, "data-camera": c.id },
      ok ? h("input", { type: "checkbox", checked: chosenCams.has(c.id), onchange: (ev: Event) => {
        if ((ev.target as HTMLInputElement).checked) chosenCams.add(c.id); else chosenCams.delete(c.id);
        map.render();
      } }) : h("span", { class: "dot off" }),
      h("span", { class: "dx-cam-main" }, h("b", {}, c.name),
        h("span", { class: "muted" }, `${c.kind === "ptz" ? "PTZ" : c.kind === "dome" ? "Dome" : t("dx.kind_fixed")} · ${fmtDist(c.distance_m)}`
          + (c.off_axis_deg !== null && c.off_axis_deg !== undefined ? ` · ${t("dx.off_axis")} ${Math.round(c.off_axis_deg)}°` : "")
          + (ok ? "" : ` · ${tOr(`legend.${c.status}`, c.status)}`))),
      c.pan_bearing_deg !== null && c.pan_bearing_deg !== undefined
        ? h("button", { class: "btn sm", type: "button", title: `${t("dx.pan_to")} ${Math.round(c.pan_bearing_deg)}°`, disabled: !ok,
          onclick: async () => {
            try { await post(`/api/v1/cameras/${c.id}/ptz`, { action: "goto", bearing_deg: c.pan_bearing_deg, speed: 5, reason: reasonIn.value || t("dx.reason_default") }); flash(t("dx.aimed")); }
            catch (e) { flash(failed(e), 6000); }
          } }, `${t("dx.aim")} ${Math.round(c.pan_bearing_deg)}°`)
        : h("span", { class: "score", title: "score" }, c.score.toFixed(2)));
    camsEl.replaceChildren(...[
      cams.cameras.length ? h("ol", { class: "dx-camlist", "data-testid": "camera-list" }, ...cams.cameras.map((c) => camRow(c, true)))
        : h("div", { class: "muted" }, t("dx.no_cameras")),
      cams.unavailable.length ? h("div", { class: "dx-unavail", "data-testid": "cameras-unavailable" },
        h("h3", {}, `${t("dx.unavailable")} (${cams.unavailable.length})`),
        h("ul", { class: "dx-camlist" }, ...cams.unavailable.map((c) => camRow(c, false)))) : null,
      cams.cameras.length ? h("div", { class: "dx-callup" }, h("label", {}, t("dx.reason"), reasonIn),
        h("button", { class: "btn primary", type: "button", "data-testid": "open-wall", onclick: () => void openWall() }, t("dx.open_wall"))) : null].filter((x): x is HTMLElement => x !== null));
  }

  async function openWall(): Promise<void> {
    if (!selected) return;
    const ids = cams?.cameras.filter((c) => chosenCams.has(c.id)).map((c) => c.id) ?? [];
    if (!ids.length) return;
    wallBox.classList.add("open");
    wall.setTitle(`${t("dx.wall")} · #${selected.id} ${typeName(selected.props as never, types)}`);
    try { await wall.open(ids, reasonIn.value.trim().length >= 2 ? reasonIn.value.trim() : t("dx.reason_default"), selected.id); }
    catch (e) { flash(failed(e), 6000); }
  }

  function drawUnits(): void {
    if (!selected || !recs) { unitsEl.replaceChildren(); return; }
    const busy = new Set(selected.props.dispatches.filter((d) => !["cleared", "cancelled"].includes(d.status)).map((d) => d.unit_id));
    const list = recs.recommended.filter((r) => !busy.has(r.unit_id));
    const unitRow = (r: Rec, stale: boolean) => h("li", { class: `dx-unit ${stale ? "stale" : ""}`, "data-unit": r.unit_id, "data-callsign": r.callsign },
      stale ? h("span", { class: "dot off" }) : h("input", { type: "checkbox", checked: chosenUnits.has(r.unit_id), onchange: (ev: Event) => {
        if ((ev.target as HTMLInputElement).checked) chosenUnits.add(r.unit_id); else chosenUnits.delete(r.unit_id);
      } }),
      h("b", {}, r.callsign),
      h("span", { class: "muted" }, fmtDist(r.distance_m)),
      stale ? h("span", { class: "pill warn" }, t("dx.stale"))
        : h("span", { class: `eta ${r.eta_s === null ? "unknown" : ""}`, "data-eta": r.eta_s === null ? "unknown" : String(r.eta_s),
          title: r.eta_s === null ? t("dx.unreachable") : "" }, `${t("dx.eta")} ${fmtEta(r.eta_s)}`));
    if (!chosenUnits.size && list.length && list[0].eta_s !== null) chosenUnits.add(list[0].unit_id); // the fastest, preselected
    unitsEl.replaceChildren(...[
      list.length ? h("ol", { class: "dx-unitlist", "data-testid": "unit-list" }, ...list.map((r) => unitRow(r, false)))
        : h("div", { class: "muted" }, t("dx.no_units")),
      recs.stale.length ? h("ul", { class: "dx-unitlist", "data-testid": "units-stale" }, ...recs.stale.map((r) => unitRow(r, true))) : null,
      list.length ? h("button", { class: "btn primary", type: "button", "data-testid": "dispatch-units", onclick: async () => {
        const ids = list.filter((r) => chosenUnits.has(r.unit_id)).map((r) => r.unit_id);
        if (!ids.length || !selected) return;
        try { await post(`/api/v1/incidents/${selected.id}/dispatch`, { unit_ids: ids }); chosenUnits.clear(); await select(selected.id); }
        catch (e) { flash(failed(e), 6000); }
      } }, t("dx.dispatch")) : null].filter((x): x is HTMLElement => x !== null));
  }

  // ---- live updates ----------------------------------------------------------------------------
  let refetch: number | undefined;
  const refreshSelected = () => {
    window.clearTimeout(refetch);
    refetch = window.setTimeout(() => { if (selected) void select(selected.id); }, 150);
  };
  function onFrame(f: { type: string; [k: string]: unknown }): void {
    if (f.type === "incidents") {
      drawList();
      const inc = f.incident as Incident | undefined;
      if (inc && selected && inc.id === selected.id) refreshSelected();
    } else if (f.type === "dispatch") {
      const iid = Number(f.incident_id);
      if (selected && iid === selected.id) {
        if (f.op === "progress" && f.status !== "on_scene") { // ETA moved: patch in place, no round trip
          const d = selected.props.dispatches.find((x) => x.id === Number(f.dispatch_id));
          if (d) {
            d.eta_s = (f.eta_s as number | null) ?? null; d.status = String(f.status ?? d.status);
            if ("route" in f) { d.route = (f.route as Disp["route"]) ?? null; map.render(); } // re-routed from where it is
            drawDetail();
          }
        } else refreshSelected();
      }
      drawList();
    } else if (f.type === "snapshot") {
      drawList();
    }
  }

  // ---- the map: click to pick, incidents and targets selectable, own layers ----------------------
  map.onClick = (info: PickingInfo) => {
    if (info.layer?.id === "incidents" && info.object) { void select((info.object as Incident).id, false); return; }
    if (info.layer?.id === "targets" && info.object) { void predictFor((info.object as Target).id); return; }
    if (info.coordinate) setDraft(info.coordinate[0], info.coordinate[1]);
  };
  map.extraLayers.push((): Layer[] => {
    const layers: Layer[] = [];
    if (selected) {
      const routes = selected.props.dispatches.filter((d) => d.route && !["cleared", "cancelled"].includes(d.status));
      layers.push(new PathLayer<Disp>({ id: "dx-routes", data: routes, getPath: (d) => d.route!.coordinates,
        getColor: (d) => ROUTE_COLOR[d.status] ?? ROUTE_COLOR.assigned, getWidth: 6, widthUnits: "pixels",
        capRounded: true, jointRounded: true, updateTriggers: { getColor: routes.map((d) => d.status).join() } }));
      const seeing = cams?.cameras ?? [];
      const sel = selected;
      layers.push(new LineLayer<SeeCam>({ id: "dx-sightlines", data: seeing, getSourcePosition: (c) => [c.lon, c.lat],
        getTargetPosition: () => [sel.lon, sel.lat],
        getColor: (c) => (chosenCams.has(c.id) ? [58, 160, 255, 200] : [58, 160, 255, 70]), getWidth: 1.5, widthUnits: "pixels",
        updateTriggers: { getColor: [...chosenCams].join() } }));
      layers.push(new ScatterplotLayer({ id: "dx-selected", data: [sel], getPosition: (d: Detail) => [d.lon, d.lat],
        getRadius: 22, radiusUnits: "pixels", filled: false, stroked: true, getLineColor: [255, 255, 255, 230], lineWidthMinPixels: 2 }));
    }
    if (draft) {
      layers.push(new ScatterplotLayer({ id: "dx-draft", data: [draft], getPosition: (d: [number, number]) => d, getRadius: 10,
        radiusUnits: "pixels", getFillColor: [58, 160, 255, 120], getLineColor: [58, 160, 255, 255], stroked: true, lineWidthMinPixels: 2 }));
    }
    if (prediction) layers.push(...predictionLayers(prediction));
    layers.push(...replay.layers());
    return layers;
  });

  // ---- prediction cone of a selected target ------------------------------------------------------
  const predEl = h("div", { class: "dx-pred", "data-testid": "prediction" });
  let predTimer: number | undefined;
  async function predictFor(targetId: number | null): Promise<void> {
    window.clearInterval(predTimer);
    predTarget = targetId;
    prediction = null;
    if (targetId === null) { predEl.replaceChildren(); map.render(); return; }
    const load = async () => {
      const p = await api<Prediction>(`/api/v1/targets/${targetId}/prediction`).catch(() => null);
      if (predTarget !== targetId) return;
      prediction = p;
      const unit = [...store.units.values()].find((u) => u.target_id === targetId);
      predEl.replaceChildren(h("div", { class: "dx-pred-card", "data-target": targetId },
        h("b", {}, `${t("dx.prediction")} · ${unit?.callsign ?? `#${targetId}`}`),
        p ? h("span", { class: "muted" }, (p.methods.road ?? p.methods.cv ?? []).map((x) => `+${x.horizon_s}s ±${Math.round(x.radius_m)}m`).join("  ")) : h("span", { class: "muted" }, "—"),
        h("span", { class: "legend-pair" }, h("i", { class: "sw road" }), t("dx.pred_road"), h("i", { class: "sw cv" }), t("dx.pred_cv")),
        h("button", { class: "vw-close", type: "button", onclick: () => void predictFor(null) }, "×")));
      map.render();
    };
    await load();
    predTimer = window.setInterval(() => void load(), 3000);
  }

  const replay = new ReplayPanel(map, (id) => void predictFor(id));

  // ---- layout ---------------------------------------------------------------------------------
  const section = (title: Key, body: HTMLElement, extra?: HTMLElement) => h("section", { class: "panel dx-panel" },
    h("h2", {}, t(title), extra ?? null), body);
  const left = h("div", { class: "dx-left" });
  const right = h("div", { class: "dx-right" });
  const ui = h("div", { class: "dx-ui" }, left, right, wallBox, replay.el, predEl);
  const flashEl = h("div", { class: "dx-flash", role: "status" });
  let flashTimer: number | undefined;
  function flash(text: string, ms = 2500): void {
    flashEl.textContent = text;
    flashEl.classList.add("show");
    window.clearTimeout(flashTimer);
    flashTimer = window.setTimeout(() => flashEl.classList.remove("show"), ms);
  }

  /** Why an action failed, in the dispatcher's language (left up long enough to be read). */
  function failed(e: unknown): string {
    return `${t("dx.failed")} · ${errorText(e)}`;
  }
  const layout = () => {
    left.replaceChildren(section("dx.new", form), section("dx.incidents", listEl));
    right.replaceChildren(section("dx.detail", detailEl), section("dx.cameras", camsEl), section("dx.units", unitsEl));
    drawList(); drawDetail(); drawCams(); drawUnits();
    replay.draw();
  };
  root.append(ui, flashEl);
  layout();
  onLangChange(() => {
    placeIn.placeholder = t("dx.place_hint");
    addrIn.placeholder = t("dx.address_hint");
    createBtn.textContent = t("dx.create");
    [...prioSel.options].forEach((o) => { o.textContent = t(`incident.p${o.value}` as Key); });
    fillTypes();
    layout();
  });

  const fillTypes = () => {
    const cur = typeSel.value;
    typeSel.replaceChildren(...Object.keys(types).map((k) => h("option", { value: k, selected: k === cur }, typeName({ type: k }, types))));
  };
  void api<TypeMap>("/api/v1/incidents/types").then((tm) => { types = tm; fillTypes(); drawList(); }).catch(() => {});
  (window as unknown as { dispatchConsole: unknown }).dispatchConsole = { select, wall, replay, predictFor, get selected() { return selected; } };
}
