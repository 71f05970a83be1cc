// The dispatch console's new-incident form: type and priority, a place-name search, coordinates (typed or
// picked on the map, the draft marker), address, description, reporter. Creating selects the new incident.
import { api, ok } from "../../api/client";
import { h } from "../../dom";
import { t, type Key } from "../../i18n";
import type { MapView } from "../../map/mapview";
import type { Incident, MapStore } from "../../map/store";
import { typeName, type TypeMap } from "../../ui/dx";
import type { Place } from "./model";

export interface IncidentForm {
  el: HTMLFormElement;
  /** The spot of the incident being created, drawn on the map until it is created. */
  readonly draft: [number, number] | null;
  setDraft(lon: number, lat: number, label?: string): void;
  fillTypes(types: TypeMap): void;
  relabel(): void;
}

export function incidentForm(map: MapView, store: MapStore, created: (id: number) => Promise<void>): IncidentForm {
  let draft: [number, number] | null = null;
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
  let placeSeq = 0; // only the latest query's answer is shown: an older, slower answer is dropped
  placeIn.addEventListener("input", () => {
    window.clearTimeout(placeTimer);
    const seq = ++placeSeq;
    placeTimer = window.setTimeout(async () => {
      const q = placeIn.value.trim();
      if (!q) { placeList.replaceChildren(); return; }
      const rows: Place[] = await ok(api.GET("/api/v1/incidents/places", { params: { query: { q } } })).catch(() => []);
      if (seq !== placeSeq || placeIn.value.trim() !== q) return;
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
  // Label texts carry their key so a language switch relabels them in place (what is typed stays).
  const txt = (key: Key) => h("span", { "data-i18n": key }, t(key));
  const form = h("form", { class: "dx-form" },
    h("div", { class: "row2" }, h("label", {}, txt("dx.type"), typeSel), h("label", {}, txt("dx.priority"), prioSel)),
    h("label", { class: "dx-placebox" }, txt("dx.place"), placeIn, placeList),
    h("div", { class: "row2" }, h("label", {}, txt("dx.lon"), lonIn), h("label", {}, txt("dx.lat"), latIn)),
    h("div", { class: "hint" }, txt("dx.pick_hint")),
    h("label", {}, txt("dx.address"), addrIn),
    h("label", {}, txt("dx.description"), descIn),
    h("label", {}, txt("dx.reporter"), reporterIn),
    createBtn, formMsg) as HTMLFormElement;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    readDraft();
    formMsg.textContent = "";
    if (!draft) { formMsg.textContent = t("dx.pick_hint"); return; }
    try {
      const feat = await ok(api.POST("/api/v1/incidents", { body: { type: typeSel.value, priority: Number(prioSel.value),
        lon: draft[0], lat: draft[1], description: descIn.value || null, reporter: reporterIn.value || null,
        address: addrIn.value || null } }));
      draft = null;
      descIn.value = ""; addrIn.value = ""; placeIn.value = "";
      const props = (feat as { properties: Incident & { lon?: number } }).properties;
      const [lon, lat] = (feat as { geometry: { coordinates: [number, number] } }).geometry.coordinates;
      store.applyIncident({ op: "created", incident: { ...props, lon, lat } as Incident });
      await created(Number((feat as { id: number }).id));
    } catch {
      formMsg.textContent = t("dx.create_failed");
    }
  });
  return {
    el: form,
    get draft() { return draft; },
    setDraft,
    fillTypes(types: TypeMap): void {
      const cur = typeSel.value;
      typeSel.replaceChildren(...Object.keys(types).map((k) => h("option", { value: k, selected: k === cur }, typeName({ type: k }, types))));
    },
    relabel(): void { // on a language change: the form is kept (what is typed stays), its labels follow
      placeIn.placeholder = t("dx.place_hint");
      addrIn.placeholder = t("dx.address_hint");
      createBtn.textContent = t("dx.create");
      form.querySelectorAll<HTMLElement>("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n as Key); });
      if (formMsg.textContent) formMsg.textContent = "";
      [...prioSel.options].forEach((o) => { o.textContent = t(`incident.p${o.value}` as Key); });
    },
  };
}
