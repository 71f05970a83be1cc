// /dispatch: the dispatcher's console — create incidents (map click, coordinates, place names), see the
// cameras that see the spot and open them on the video wall, send the nearest units by road and follow them
// live, replay tracks on a shared clock and draw a target's predicted position.
//
// The console's own DOM lives beside the shell's chrome and is never rebuilt wholesale by the shell (a
// form being typed in keeps its focus; a playing video tile is not reconnected).
import type { PickingInfo } from "@deck.gl/core";
import "../dispatch.css";
import { api, ok } from "../api/client";
import { errorText } from "../errors";
import { h } from "../dom";
import { onLangChange, t, type Key } from "../i18n";
import type { Incident, Target } from "../map/store";
import { typeName } from "../ui/dx";
import { ReplayPanel } from "../ui/replay";
import { VideoWall } from "../ui/videowall";
import { EvidencePanel } from "./dispatch/evidence";
import { incidentForm } from "./dispatch/form";
import { consoleLayers } from "./dispatch/layers";
import { MissingPersonPanel } from "./dispatch/missing_person";
import type { SeeCam } from "./dispatch/model";
import { DispatchState, type Part } from "./dispatch/state";
import { camerasView, detailView, listView, unitsView } from "./dispatch/views";
import { mountMapPage, type MapPage } from "./shell";

export function mount(root: HTMLElement): void {
  const page: MapPage = mountMapPage(root, { page: "page.dispatch", className: "console dispatch", kpi: true,
    followIncidents: false, panels: () => [], onFrame: (f) => s.apply(f), onNewIncident: () => list.draw() });
  const { store, map } = page;

  const reasonIn = h("input", { name: "reason", "data-testid": "callup-reason" }) as HTMLInputElement;
  // The default call-up reason follows the language until the dispatcher types their own.
  let reasonDefault = "";
  const defaultReason = (id: number) => (reasonDefault = `${t("dx.reason_default")} #${id}`);
  const evidence = new EvidencePanel(); // gathered on demand: asking the devices is audited
  const missing = new MissingPersonPanel(() => map.render()); // searched on demand: audited with its reason
  const s: DispatchState = new DispatchState((...parts: Part[]) => redraw(parts), (id, lon, lat, fly) => {
    reasonIn.value = defaultReason(id);
    evidence.setIncident(id);
    missing.setIncident(id, lon, lat);
    if (fly) map.flyTo(lon, lat, 17);
  });
  const select = (id: number, fly = false) => void s.select(id, fly).catch((e) => fail(e));

  // ---- the views ---------------------------------------------------------------------------------
  const form = incidentForm(map, store, async (id) => { list.draw(); await s.select(id, true); });
  const list = listView(s, store, (id) => select(id, true));
  const detail = detailView(s, (e) => fail(e));
  const cams = camerasView(s, reasonIn, { openWall: () => void openWall(), aim: (c) => void aim(c) });
  const units = unitsView(s, (e) => fail(e));
  const wall = new VideoWall({ closable: true, onClose: () => wallBox.classList.remove("open") });
  const wallBox = h("div", { class: "dx-wallbox" }, wall.el);
  s.wallSize = () => wall.layout;
  const views: Record<Exclude<Part, "map">, { draw: () => void }> = { list, detail, cams, units };
  function redraw(parts: Part[]): void {
    for (const part of new Set(parts)) if (part === "map") map.render(); else views[part].draw();
  }

  async function openWall(): Promise<void> {
    const sel = s.selected;
    const ids = s.cams?.cameras.filter((c) => s.chosenCams.has(c.id)).map((c) => c.id) ?? [];
    if (!sel || !ids.length) return;
    wallBox.classList.add("open");
    wall.setTitle(`${t("dx.wall")} · #${sel.id} ${typeName(sel.props, s.types)}`);
    try { await wall.open(ids, reasonIn.value.trim().length >= 2 ? reasonIn.value.trim() : t("dx.reason_default"), sel.id); }
    catch (e) { fail(e); }
  }

  async function aim(c: SeeCam): Promise<void> {
    try {
      await ok(api.POST("/api/v1/cameras/{camera_id}/ptz", { params: { path: { camera_id: c.id } },
        body: { action: "goto", bearing_deg: c.pan_bearing_deg, speed: 5, reason: reasonIn.value || t("dx.reason_default") } }));
      flash(t("dx.aimed"));
    } catch (e) { fail(e); }
  }

  // ---- the map: click to pick, incidents and targets selectable, own layers ----------------------
  map.onClick = (info: PickingInfo) => {
    if (missing.picking && info.coordinate) { missing.pick(info.coordinate[0], info.coordinate[1]); return; }
    if (info.layer?.id === "incidents" && info.object) { select((info.object as Incident).id); return; }
    if (info.layer?.id === "targets" && info.object) { void predictFor((info.object as Target).id); return; }
    if (info.coordinate) form.setDraft(info.coordinate[0], info.coordinate[1]);
  };
  map.extraLayers.push(() => consoleLayers(s, form.draft, replay));
  map.extraLayers.push(() => missing.layers());

  // ---- prediction cone of a selected target ------------------------------------------------------
  const predEl = h("div", { class: "dx-pred", "data-testid": "prediction" });
  let predTimer: number | undefined;
  async function predictFor(targetId: number | null): Promise<void> {
    window.clearInterval(predTimer);
    s.predTarget = targetId;
    s.prediction = null;
    if (targetId === null) { predEl.replaceChildren(); map.render(); return; }
    const load = async () => {
      await s.loadPrediction(targetId);
      if (s.predTarget !== targetId) return;
      const p = s.prediction;
      const unit = [...store.units.values()].find((u) => u.target_id === targetId);
      predEl.replaceChildren(h("div", { class: "dx-pred-card", "data-target": targetId },
        h("b", {}, `${t("dx.prediction")} · ${unit?.callsign ?? `#${targetId}`}`),
        p ? h("span", { class: "muted" }, (p.methods.road ?? p.methods.cv ?? []).map((x) => `+${x.horizon_s}s ±${Math.round(x.radius_m)}m`).join("  ")) : h("span", { class: "muted" }, "—"),
        h("span", { class: "legend-pair" }, h("i", { class: "sw road" }), t("dx.pred_road"), h("i", { class: "sw cv" }), t("dx.pred_cv")),
        h("button", { class: "vw-close", type: "button", onclick: () => void predictFor(null) }, "×")));
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
  function fail(e: unknown): void {
    flash(`${t("dx.failed")} · ${errorText(e)}`, 6000);
  }
  const layout = () => {
    left.replaceChildren(section("dx.new", form.el), section("dx.incidents", list.el));
    right.replaceChildren(section("dx.detail", detail.el), section("dx.cameras", cams.el), section("dx.units", units.el),
      section("rec.evidence", evidence.el), section("mp.title", missing.el));
    redraw(["list", "detail", "cams", "units"]);
    evidence.draw();
    missing.draw();
    replay.draw();
  };
  root.append(ui, flashEl);
  layout();
  onLangChange(() => {
    if (s.selected && reasonIn.value === reasonDefault) reasonIn.value = defaultReason(s.selected.id);
    form.relabel();
    form.fillTypes(s.types);
    layout();
  });

  void ok(api.GET("/api/v1/incidents/types")).then((tm) => { s.types = tm; form.fillTypes(s.types); list.draw(); }).catch(() => {});
  (window as unknown as { dispatchConsole: unknown }).dispatchConsole = {
    select: (id: number, fly = false) => s.select(id, fly), wall, replay, predictFor, get selected() { return s.selected; } };
  // A link from another page (the watchlist alarms): /dispatch?incident=<id> opens that incident.
  const linked = Number(new URLSearchParams(location.search).get("incident"));
  if (Number.isInteger(linked) && linked > 0) select(linked, true);
}
