// /watchlists: the dispatcher's watchlist (布控) desk. Set an entry (plate + reason, in one of the caller's
// divisions, for a while), see the active entries the caller may see (the server scopes them: an entry is
// the caller's when its whole area lies in their divisions), remove one, and follow the latest alarms with
// a link to their incident. Polled every 5 s; a list that did not change is not redrawn (a click on a
// row's button is never lost), and the form is built once (what was typed survives the polls).
import { api, ok, type Schemas } from "../api/client";
import { h } from "../dom";
import { currentLang, localName, t, type Key } from "../i18n";
import { errorText, field, fmtTime, input, mountDeskPage, note, select } from "../ui/desk";
import { tf, tOr } from "../ui/dx";
import { alarmImage } from "../ui/watchlist_alarm";
import "./watchlists.css";

type Entry = Schemas["WatchlistEntry"];
type AlarmItem = Schemas["WatchlistAlarmItem"];
interface Div { code: string; name: string; name_en: string | null }

const POLL_MS = 5000;
const present = (...xs: Array<HTMLElement | null>): HTMLElement[] => xs.filter((x): x is HTMLElement => x !== null);
const VALIDITY_H = [24, 72, 168, 720];
const COLOURS = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "Z"]; // GA/T 1400 VehicleColor (GA 24.8)
const colourName = (c: string | null): string => (c ? tOr(`wl.color.${c}`, c) : t("wl.color.any"));
const priorityName = (p: number): string => tOr(`incident.p${p}`, String(p));
interface Draft { plate: string; reason: string; area: string[]; hours: number; priority: number; colour: string }

/** Prefix shared by a division and its descendants (app/domain/division_code.subtree_prefix). */
function subtree(code: string): string {
  if (code.length > 6) return code;
  if (code === "000000") return "";
  if (code.endsWith("0000")) return code.slice(0, 2);
  return code.endsWith("00") ? code.slice(0, 4) : code;
}

export function mount(root: HTMLElement): void {
  let entries: Entry[] = [];
  let total = 0;
  let alarms: AlarmItem[] = [];
  let divisions: Div[] = [];
  let mine: string[] = []; // the caller's grant divisions
  let entriesError = "", alarmsError = "";
  let loaded = false;
  let flash: { text: () => string; kind: "ok" | "error" } | null = null;
  const parts = { form: h("div"), entries: h("div"), alarms: h("div", { "data-testid": "wl-alarm-list" }) };
  let sigEntries = "", sigAlarms = "";

  const divName = (code: string) => {
    const d = divisions.find((x) => x.code === code);
    return d ? `${localName(d.name, d.name_en)} (${code})` : code;
  };

  // --- loading ------------------------------------------------------------------------------------
  async function loadEntries(): Promise<void> {
    try {
      const r = await ok(api.GET("/api/v1/watchlists", { params: { query: { limit: 200 } } }));
      entries = r.items; total = r.total; entriesError = "";
    } catch (e) { entriesError = errorText(e); }
    loaded = true;
    drawEntries();
  }

  async function loadAlarms(): Promise<void> {
    try {
      alarms = (await ok(api.GET("/api/v1/watchlists/alarms", { params: { query: { limit: 30 } } }))).items;
      alarmsError = "";
    } catch (e) { alarmsError = errorText(e); }
    parts.alarms.dataset.loaded = "true";
    drawAlarms();
  }

  async function loadDivisions(): Promise<void> {
    try {
      const me = await ok(api.GET("/api/v1/auth/me"));
      mine = (me.grants as Array<{ division: string }>).map((g) => g.division);
      const fc = await ok(api.GET("/api/v1/divisions", { params: { query: { geometry: false, limit: 1000 } } }));
      const prefixes = mine.map(subtree);
      divisions = (fc.features as Array<{ properties: Div }>).map((f) => f.properties)
        .filter((d) => prefixes.some((p) => d.code.startsWith(p))).sort((a, b) => a.code.localeCompare(b.code));
    } catch { /* the area offers the caller's own divisions only */ }
    fillArea();
    drawEntries(true);
  }

  // --- actions ------------------------------------------------------------------------------------
  function say(text: () => string, kind: "ok" | "error"): void {
    flash = { text, kind };
    drawFlash();
  }

  async function add(d: Draft): Promise<boolean> {
    if (!d.plate) { say(() => t("wl.need_plate"), "error"); return false; }
    if (!d.reason) { say(() => t("wl.need_reason"), "error"); return false; }
    if (!d.area.length) { say(() => t("wl.need_area"), "error"); return false; }
    const until = new Date(Date.now() + d.hours * 3600_000).toISOString();
    try {
      const e = await ok(api.POST("/api/v1/watchlists", { body: { plate: d.plate, reason: d.reason, area: d.area,
        valid_until: until, priority: d.priority, vehicle_color: d.colour || null } }));
      say(() => tf("wl.added", { plate: e.plate }), "ok");
      await loadEntries();
      return true;
    } catch (err) {
      say(() => errorText(err), "error");
      return false;
    }
  }

  async function remove(e: Entry): Promise<void> {
    if (!window.confirm(tf("wl.confirm_remove", { plate: e.plate }))) return;
    try {
      await ok(api.DELETE("/api/v1/watchlists/{entry_id}", { params: { path: { entry_id: e.id } } }));
      say(() => tf("wl.removed", { plate: e.plate }), "ok");
    } catch (err) { say(() => errorText(err), "error"); }
    await loadEntries();
  }

  // --- drawing ------------------------------------------------------------------------------------
  const flashEl = h("div", { class: "note", "data-testid": "wl-flash", role: "status" });
  function drawFlash(): void {
    note(flashEl, flash ? flash.text() : "", flash?.kind ?? "");
    flashEl.dataset.kind = flash?.kind ?? "";
  }

  // The area (several divisions of the caller's grants) is a multiple select; its options arrive after the
  // form is built: filled in place (what was chosen stays).
  let areaSel: HTMLSelectElement | null = null;
  const chosen = (s: HTMLSelectElement): string[] => Array.from(s.selectedOptions, (o) => o.value);
  function fillArea(): void {
    if (!areaSel) return;
    const codes = divisions.length ? divisions.map((d) => d.code) : mine;
    const kept = chosen(areaSel).filter((c) => codes.includes(c));
    const keep = new Set(kept.length ? kept : [mine.find((c) => codes.includes(c)) || codes[0] || ""]);
    areaSel.replaceChildren(...codes.map((c) => h("option", { value: c, selected: keep.has(c) }, divName(c))));
    for (const o of Array.from(areaSel.options)) o.selected = keep.has(o.value);
    areaSel.dataset.ready = String(codes.length > 0);
  }

  let formLang = "";
  function drawForm(): void {
    formLang = currentLang();
    const plate = input("plate", { maxlength: 16, autocomplete: "off", placeholder: t("wl.plate_hint"), "data-testid": "wl-plate" });
    const reason = input("reason", { maxlength: 2000, autocomplete: "off", placeholder: t("wl.reason_hint"), "data-testid": "wl-reason" });
    const before = areaSel ? chosen(areaSel) : [];
    areaSel = select("area", []);
    const area = areaSel;
    Object.assign(area, { multiple: true, size: 5, title: t("wl.area_hint") });
    area.dataset.testid = "wl-area";
    area.replaceChildren(...before.map((c) => h("option", { value: c, selected: true }, c)));
    fillArea();
    const priority = select("priority", [1, 2, 3, 4].map((n): [string, string] => [String(n), priorityName(n)]), "2");
    const colour = select("vehicle_color", [["", t("wl.color.any")], ...COLOURS.map((c): [string, string] =>
      [c, `${colourName(c)} (${c})`])], "");
    const hours = select("hours", VALIDITY_H.map((n): [string, string] =>
      [String(n), n < 72 ? tf("wl.valid_h", { n }) : tf("wl.valid_d", { n: n / 24 })]), "24");
    const form = h("form", { class: "wl-form", "data-testid": "wl-form" },
      field("wl.plate", plate), field("wl.reason", reason), field("wl.color", colour), field("wl.priority", priority),
      field("wl.area", area), field("wl.valid", hours),
      h("div", { class: "form-actions" }, h("button", { class: "primary", type: "submit", "data-testid": "wl-add" }, t("wl.submit"))));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void add({ plate: plate.value.trim(), reason: reason.value.trim(), area: chosen(area), hours: Number(hours.value),
        priority: Number(priority.value), colour: colour.value }).then((done) => {
        if (done) { plate.value = ""; reason.value = ""; }
      });
    });
    parts.form.replaceChildren(form);
  }

  function drawEntries(force = false): void {
    const sig = JSON.stringify([entries, total, entriesError, loaded]);
    if (sig === sigEntries && !force) return;
    sigEntries = sig;
    const cols: Key[] = ["wl.col.plate", "wl.col.priority", "wl.col.color", "wl.col.reason", "wl.col.area", "wl.col.created", "wl.col.until", "wl.col.owner"];
    parts.entries.replaceChildren(...present(
      h("h2", {}, t("wl.entries"), h("span", { class: "count", "data-testid": "wl-total", "data-total": total },
        tf("wl.count", { n: total }))),
      entriesError ? h("div", { class: "note note-error" }, `${t("wl.load_failed")}: ${entriesError}`) : null,
      entries.length ? h("table", { class: "grid", "data-testid": "wl-entries", "data-loaded": String(loaded) },
        h("thead", {}, h("tr", {}, ...cols.map((k) => h("th", {}, t(k))), h("th", {}))),
        h("tbody", {}, ...entries.map((e) => h("tr", { "data-testid": "wl-entry", "data-id": e.id, "data-plate": e.plate },
          h("td", { class: "wl-plate" }, e.plate),
          h("td", { "data-testid": "wl-priority", "data-priority": e.priority }, h("span", { class: `wl-prio wl-p${e.priority}` },
            priorityName(e.priority))),
          h("td", { "data-testid": "wl-color", "data-color": e.vehicle_color ?? "" }, e.vehicle_color ? colourName(e.vehicle_color) : "—"),
          h("td", {}, e.reason),
          h("td", { "data-testid": "wl-area-names" }, e.area.map(divName).join(", ")),
          h("td", { class: "mono" }, fmtTime(e.created_at)),
          h("td", { class: "mono" }, fmtTime(e.valid_until)),
          h("td", {}, e.owner_name ?? "—"),
          h("td", {}, h("button", { class: "ghost danger", type: "button", "data-testid": "wl-remove",
            onclick: () => void remove(e) }, t("wl.remove")))))))
        : h("div", { class: "panel-empty", "data-testid": "wl-entries", "data-loaded": String(loaded) }, t("wl.none"))));
  }

  function drawAlarms(): void {
    const sig = JSON.stringify([alarms, alarmsError, currentLang()]);
    if (sig === sigAlarms) return;
    sigAlarms = sig;
    const cols: Key[] = ["wl.col.time", "wl.col.plate", "wl.col.checkpoint", "wl.col.direction", "wl.col.status", "wl.col.image"];
    parts.alarms.replaceChildren(...present(
      h("h2", {}, t("wl.alarms")),
      alarmsError ? h("div", { class: "note note-error" }, `${t("wl.alarms_failed")}: ${alarmsError}`) : null,
      alarms.length ? h("table", { class: "grid", "data-testid": "wl-alarms" },
        h("thead", {}, h("tr", {}, ...cols.map((k) => h("th", {}, t(k))), h("th", {}))),
        h("tbody", {}, ...alarms.map((a) => h("tr", { "data-testid": "wl-alarm", "data-incident": a.incident_id,
          "data-plate": a.plate_no ?? "" },
          h("td", { class: "mono" }, fmtTime(a.pass_time ?? a.created_at)),
          h("td", { class: "wl-plate" }, a.plate_no ?? "—"),
          h("td", {}, a.tollgate_name ?? a.tollgate_id ?? "—"),
          h("td", {}, a.direction ?? "—"),
          h("td", {}, tOr(`status.${a.incident_status}`, a.incident_status)),
          h("td", {}, alarmImage(a.image_sha256, "wl-thumb")),
          h("td", {}, h("a", { href: `/dispatch?incident=${a.incident_id}`, "data-testid": "wl-incident-link" },
            tf("wl.open_incident", { id: a.incident_id })))))))
        : h("div", { class: "panel-empty", "data-testid": "wl-alarms-none" }, t("wl.alarms_none"))));
  }

  mountDeskPage(root, "page.watchlists", "watchlists", (main) => {
    if (formLang && formLang !== currentLang()) drawForm(); // the labels follow the language
    drawFlash();
    drawEntries(true);
    sigAlarms = "";
    drawAlarms();
    main.replaceChildren(
      h("div", { class: "wl-left" },
        h("section", { class: "card" }, h("h2", {}, t("wl.add")), parts.form, flashEl),
        h("section", { class: "card" }, parts.entries)),
      h("section", { class: "card wl-right" }, parts.alarms));
  });
  drawForm();
  void loadDivisions();
  void loadEntries();
  void loadAlarms();
  window.setInterval(() => { void loadEntries(); void loadAlarms(); }, POLL_MS);
}
