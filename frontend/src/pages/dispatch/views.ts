// The dispatch console's views: each owns its element and redraws it from the state (state.ts); clicks call
// the state's actions, and a failed action is reported through ``fail``.
import { h } from "../../dom";
import { t, type Key } from "../../i18n";
import { css, PRIORITY } from "../../map/colors";
import type { MapStore } from "../../map/store";
import { dispatchStatus, fmtDist, fmtEta, fmtTime, tOr, typeName } from "../../ui/dx";
import type { Rec, SeeCam } from "./model";
import type { DispatchState } from "./state";

type Fail = (e: unknown) => void;
const LIFE = ["new", "dispatched", "on_scene", "resolved", "closed"];
const STEPS = ["assigned", "en_route", "on_scene", "cleared"];
const present = (xs: Array<HTMLElement | null>) => xs.filter((x): x is HTMLElement => x !== null);

/** The incident list, most urgent first. Items are kept and only the changed ones rebuilt: dispatch frames
 *  arrive several times a second, and an item replaced under the pointer loses the click being made. */
export function listView(s: DispatchState, store: MapStore, select: (id: number) => void): { el: HTMLElement; draw: () => void } {
  const el = h("ul", { class: "dx-list", "data-testid": "incident-list" });
  const items = new Map<number, { sig: string; el: HTMLElement }>();
  const draw = () => {
    const list = [...store.incidents.values()].sort((a, b) => a.priority - b.priority || b.id - a.id);
    if (!list.length) { items.clear(); el.replaceChildren(h("li", { class: "muted" }, t("dx.no_incidents"))); return; }
    const next = list.map((i) => {
      const name = typeName(i, s.types);
      const selected = s.selected?.id === i.id;
      const sig = [i.status, i.priority, selected, name, i.address, i.created_at, t(`status.${i.status}` as Key)].join("|");
      const had = items.get(i.id);
      if (had && had.sig === sig) return had;
      const item = { sig, el: h("li", {
        class: `dx-inc ${selected ? "sel" : ""}`, "data-incident": i.id, "data-status": i.status,
        style: `--c:${css(PRIORITY[i.priority - 1] ?? PRIORITY[3])}`, onclick: () => select(i.id) },
        h("span", { class: "badge" }, t(`incident.p${i.priority}` as Key)),
        h("span", { class: "dx-inc-main" }, h("b", {}, `#${i.id} ${name}`),
          h("span", { class: "muted" }, `${i.address || ""} ${fmtTime(i.created_at)}`)),
        h("span", { class: `pill st-${i.status}` }, t(`status.${i.status}` as Key))) };
      items.set(i.id, item);
      return item;
    });
    const keep = new Set(list.map((i) => i.id));
    for (const id of [...items.keys()]) if (!keep.has(id)) items.delete(id);
    // Move only what is out of place: a node taken out and put back is "detached" to a click in progress.
    next.forEach((it, k) => { if (el.children[k] !== it.el) el.insertBefore(it.el, el.children[k] ?? null); });
    while (el.children.length > next.length) el.lastElementChild!.remove();
  };
  return { el, draw };
}

/** The selected incident: its life steps and buttons, facts and dispatches with their own buttons. */
export function detailView(s: DispatchState, fail: Fail): { el: HTMLElement; draw: () => void } {
  const el = h("div", { class: "dx-detail", "data-testid": "incident-detail" });
  const act = (fn: () => Promise<void>) => async () => { try { await fn(); } catch (e) { fail(e); } };
  const draw = () => {
    const sel = s.selected;
    if (!sel) { el.replaceChildren(h("div", { class: "muted" }, t("dx.select_hint"))); return; }
    const p = sel.props;
    const idx = LIFE.indexOf(p.status);
    const life = (status: "on_scene" | "resolved" | "closed", key: Key, enabled: boolean) => h("button", {
      class: "btn", type: "button", disabled: !enabled, "data-testid": `to-${status}`, onclick: act(() => s.setStatus(status)) }, t(key));
    const row = (k: Key, v: unknown) => h("div", { class: "kv" }, h("span", { class: "k" }, t(k)), h("span", { class: "v" }, v ? String(v) : "—"));
    const steps = LIFE.map((st, i) => h("span", { class: `step ${i < idx ? "done" : ""} ${i === idx ? "cur" : ""}` }, t(`status.${st}` as Key)));
    const active = s.activeDispatches();
    const dispatchRow = (d: (typeof p.dispatches)[number]) => h("div", { class: "dx-drow", "data-dispatch": d.id, "data-status": d.status, "data-unit": d.callsign },
      h("b", {}, d.callsign),
      h("span", { class: `pill ds-${d.status}` }, dispatchStatus(d.status)),
      h("span", { class: "eta", "data-testid": "dispatch-eta" }, ["assigned", "en_route"].includes(d.status) ? `${t("dx.eta")} ${fmtEta(d.eta_s)}` : ""),
      h("span", { class: "dx-dbtns" }, ...(["en_route", "on_scene", "cleared", "cancelled"] as const)
        .filter((st) => active.includes(d) && (st === "cancelled" || STEPS.indexOf(st) > STEPS.indexOf(d.status)))
        .map((st) => h("button", { class: "btn sm", type: "button", onclick: act(() => s.setDispatchStatus(d.id, st)) },
          st === "cancelled" ? t("dx.cancel") : dispatchStatus(st)))));
    el.replaceChildren(...present([
      h("div", { class: "dx-head", style: `--c:${css(PRIORITY[p.priority - 1] ?? PRIORITY[3])}` },
        h("span", { class: "badge" }, t(`incident.p${p.priority}` as Key)),
        h("b", {}, `#${sel.id} ${typeName(p, s.types)}`),
        h("span", { class: `pill st-${p.status}`, "data-testid": "incident-status", "data-status": p.status }, t(`status.${p.status}` as Key))),
      h("div", { class: "steps" }, ...steps),
      row("incident.address", p.address), row("incident.time", fmtTime(p.created_at as string, true)),
      row("incident.description", p.description), row("dx.reporter", p.reporter),
      row("dx.lon", `${sel.lon.toFixed(6)}, ${sel.lat.toFixed(6)}`),
      h("div", { class: "btns" }, life("on_scene", "dx.to_on_scene", idx >= 1 && idx < 2),
        life("resolved", "dx.to_resolved", idx >= 1 && idx < 3), life("closed", "dx.to_closed", idx === 3)),
      p.dispatches.length ? h("div", { class: "dx-disp", "data-testid": "dispatches" }, h("h3", {}, t("dx.dispatches")),
        ...p.dispatches.map(dispatchRow)) : null]));
  };
  return { el, draw };
}

/** The cameras that see the spot (tick to put on the wall; aim a PTZ one), then those not available, and
 *  the call-up with its reason. */
export function camerasView(s: DispatchState, reasonIn: HTMLInputElement, on: { openWall: () => void; aim: (c: SeeCam) => void }):
  { el: HTMLElement; draw: () => void } {
  const el = h("div", { class: "dx-cams", "data-testid": "cameras" });
  const camRow = (c: SeeCam, usable: boolean) => h("li", { class: `dx-cam ${usable ? "" : "off"}`, "data-camera": c.id },
    usable ? h("input", { type: "checkbox", checked: s.chosenCams.has(c.id),
      onchange: (ev: Event) => s.toggle("cams", c.id, (ev.target as HTMLInputElement).checked) }) : h("span", { class: "dot off" }),
    h("span", { class: "dx-cam-main" }, h("b", {}, c.name),
      h("span", { class: "muted" }, `${c.kind === "ptz" ? "PTZ" : c.kind === "dome" ? "Dome" : t("dx.kind_fixed")} · ${fmtDist(c.distance_m)}`
        + (c.off_axis_deg !== null && c.off_axis_deg !== undefined ? ` · ${t("dx.off_axis")} ${Math.round(c.off_axis_deg)}°` : "")
        + (usable ? "" : ` · ${tOr(`legend.${c.status}`, c.status)}`))),
    c.pan_bearing_deg !== null && c.pan_bearing_deg !== undefined
      ? h("button", { class: "btn sm", type: "button", title: `${t("dx.pan_to")} ${Math.round(c.pan_bearing_deg)}°`, disabled: !usable,
        onclick: () => on.aim(c) }, `${t("dx.aim")} ${Math.round(c.pan_bearing_deg)}°`)
      : h("span", { class: "score", title: "score" }, c.score.toFixed(2)));
  const draw = () => {
    const cams = s.cams;
    if (!s.selected || !cams) { el.replaceChildren(); return; }
    el.replaceChildren(...present([
      cams.cameras.length ? h("ol", { class: "dx-camlist", "data-testid": "camera-list" }, ...cams.cameras.map((c) => camRow(c, true)))
        : h("div", { class: "muted" }, t("dx.no_cameras")),
      cams.unavailable.length ? h("div", { class: "dx-unavail", "data-testid": "cameras-unavailable" },
        h("h3", {}, `${t("dx.unavailable")} (${cams.unavailable.length})`),
        h("ul", { class: "dx-camlist" }, ...cams.unavailable.map((c) => camRow(c, false)))) : null,
      cams.cameras.length ? h("div", { class: "dx-callup" }, h("label", {}, t("dx.reason"), reasonIn),
        h("button", { class: "btn primary", type: "button", "data-testid": "open-wall", onclick: on.openWall }, t("dx.open_wall"))) : null]));
  };
  return { el, draw };
}

/** The units to send, fastest by road first (the fastest preselected), the stale ones apart. */
export function unitsView(s: DispatchState, fail: Fail): { el: HTMLElement; draw: () => void } {
  const el = h("div", { class: "dx-units", "data-testid": "units" });
  const unitRow = (r: Rec, stale: boolean) => h("li", { class: `dx-unit ${stale ? "stale" : ""}`, "data-unit": r.unit_id, "data-callsign": r.callsign },
    stale ? h("span", { class: "dot off" }) : h("input", { type: "checkbox", checked: s.chosenUnits.has(r.unit_id),
      onchange: (ev: Event) => s.toggle("units", r.unit_id, (ev.target as HTMLInputElement).checked) }),
    h("b", {}, r.callsign),
    h("span", { class: "muted" }, fmtDist(r.distance_m)),
    stale ? h("span", { class: "pill warn" }, t("dx.stale"))
      : h("span", { class: `eta ${r.eta_s === null ? "unknown" : ""}`, "data-eta": r.eta_s === null ? "unknown" : String(r.eta_s),
        title: r.eta_s === null ? t("dx.unreachable") : "" }, `${t("dx.eta")} ${fmtEta(r.eta_s)}`));
  const draw = () => {
    if (!s.selected || !s.recs) { el.replaceChildren(); return; }
    const list = s.sendable();
    if (!s.chosenUnits.size && list.length && list[0].eta_s !== null) s.chosenUnits.add(list[0].unit_id);
    el.replaceChildren(...present([
      list.length ? h("ol", { class: "dx-unitlist", "data-testid": "unit-list" }, ...list.map((r) => unitRow(r, false)))
        : h("div", { class: "muted" }, t("dx.no_units")),
      s.recs.stale.length ? h("ul", { class: "dx-unitlist", "data-testid": "units-stale" }, ...s.recs.stale.map((r) => unitRow(r, true))) : null,
      list.length ? h("button", { class: "btn primary", type: "button", "data-testid": "dispatch-units",
        onclick: async () => { try { await s.dispatchChosen(); } catch (e) { fail(e); } } }, t("dx.dispatch")) : null]));
  };
  return { el, draw };
}

