// /devices: the GB/T 28181 cameras, NVRs and encoders the platform admits. A live table (polled every 5 s,
// unchanged rows kept), text and online filters, the admission form (the password is shown once), a detail
// panel with the device's channels and the actions the platform can send it, edit and delete, and the
// pending tab (devices that tried to register unadmitted: accept or reject). Every change is audited by
// the server.
import { h } from "../dom";
import { localName, t } from "../i18n";
import { errorText, mountDeskPage, select } from "../ui/desk";
import { tf } from "../ui/dx";
import * as dev from "./devices/api";
import { detailCard, type ActionState } from "./devices/detail";
import { ago } from "./devices/format";
import { acceptDialog, admitForm, confirmDialog, editDialog, oncePanel } from "./devices/forms";
import { pendingCard } from "./devices/pending";
import { PlatformsTab } from "./devices/platforms";
import { tp } from "../i18n_platforms";
import { DeviceTable } from "./devices/table";
import { MobileTrack } from "../ui/mobile_track";
import { RecordingsPlayer } from "../ui/recordings";
import "./devices.css";

const POLL_MS = 5000;

export function mount(root: HTMLElement): void {
  const f = { q: "", online: "" as "" | "true" | "false" };
  let tab: "devices" | "pending" | "platforms" = "devices";
  let devices: dev.Device[] = [];
  let loaded = false;
  let pending: dev.Pending[] = [];
  let pendingSig = "";
  let divisions: dev.Div[] = [];
  // The admit form is built once the divisions are known: built before, it would be rebuilt when they
  // arrive and lose what the administrator had already typed.
  let divisionsKnown = false;
  let selected: number | null = null;
  let detail: dev.DeviceDetail | null = null;
  // A channel's recordings on its device (timeline, playback, download), kept across the detail's redraws.
  const recordings = new RecordingsPlayer({ reason: () => t("rec.reason_device") });
  const track = new MobileTrack(recordings); // a mobile device's channel: its track above its recordings
  let detailSig = "";
  let action: ActionState | null = null;
  // Messages are kept as functions: a language switch redraws them in the new language.
  let secret: { title: () => string; password: string } | null = null;
  let flash: { text: () => string; kind: "ok" | "error" } | null = null;
  let listError = "";
  let pendingError = "";
  // The upper platforms this one registers to (GB/T 28181 cascade), in their own tab.
  const platforms = new PlatformsTab(() => divisions, (text, kind) => say(text, kind));

  const divName = (code: string | null) => {
    if (!code) return "—";
    const d = divisions.find((x) => x.code === code);
    return d ? `${localName(d.name, d.name_en)} (${code})` : code;
  };

  // Parts of the page, replaced one by one (a poll never rebuilds what did not change).
  let table = new DeviceTable(divName, (d) => void pick(d.id));
  const parts = { flash: h("div"), count: h("span"), list: h("div"), tabs: h("div"), left: h("div"), detail: h("div"),
    once: h("div"), pending: h("div") };

  // --- loading -------------------------------------------------------------------------------------
  let seq = 0;
  async function loadDevices(): Promise<void> {
    const mine = ++seq; // only the latest query's answer is shown (typing fires several)
    try {
      const got = await dev.listDevices(f.q, f.online);
      if (mine !== seq) return;
      devices = got; loaded = true; listError = "";
    } catch (e) {
      if (mine !== seq) return;
      listError = `${t("dev.load_failed")}: ${errorText(e)}`;
    }
    drawList();
    const mineNow = devices.find((d) => d.id === selected);
    if (mineNow && sigOf(mineNow) !== detailSig) void loadDetail();
    else if (mineNow && detail) { // a keepalive: the detail's time only
      detail.last_keepalive_at = mineNow.last_keepalive_at;
      parts.detail.querySelector<HTMLElement>("[data-ago]")?.setAttribute("data-ago", mineNow.last_keepalive_at ?? "");
    }
  }

  async function loadPending(): Promise<void> {
    try { pending = await dev.listPending(); pendingError = ""; } catch (e) { pendingError = errorText(e); }
    const sig = JSON.stringify([pending, pendingError]);
    if (sig === pendingSig) return; // the same list: its buttons stay under the pointer
    pendingSig = sig;
    drawTabs();
    drawPending();
  }

  // What the detail shows apart from the keepalive time (the ticker updates that in place).
  const sigOf = (d: dev.Device) => JSON.stringify({ ...d, last_keepalive_at: null });

  async function loadDetail(): Promise<void> {
    const id = selected;
    if (id === null) return;
    try {
      const got = await dev.getDevice(id);
      if (id !== selected) return;
      detail = got; detailSig = sigOf(got);
    } catch (e) {
      if (id !== selected) return;
      detail = null; selected = null; detailSig = "";
      say(() => errorText(e), "error");
    }
    drawDetail();
  }

  async function pick(id: number): Promise<void> {
    if (id !== selected) { action = null; detail = null; detailSig = ""; }
    selected = id;
    table.update(shown(), selected);
    drawDetail();
    await loadDetail();
  }

  // --- actions ------------------------------------------------------------------------------------
  async function runAction(a: dev.Action): Promise<void> {
    const d = detail;
    if (!d) return;
    const go = async () => {
      action = { action: a, state: "running" };
      drawDetail();
      try {
        const r = await dev.runAction(d.id, a);
        if (selected !== d.id) return;
        action = { action: a, state: "done", result: r.result };
        if (a === "catalog") void loadDetail();
      } catch (e) {
        if (selected !== d.id) return;
        action = { action: a, state: "refused", error: e };
      }
      drawDetail();
    };
    if (a === "reboot") confirmDialog(tf("dev.confirm_reboot", { name: d.name }), t("dev.act.reboot"), () => void go());
    else await go();
  }

  function say(text: () => string, kind: "ok" | "error" = "ok"): void {
    flash = { text, kind };
    drawFlash();
  }

  async function admit(v: dev.DeviceIn): Promise<void> {
    const created = await dev.createDevice(v);
    secret = { title: () => tf("dev.admitted", { name: created.name }), password: v.password };
    drawOnce();
    flash = null; drawFlash();
    await loadDevices();
    void pick(created.id);
  }

  function edit(): void {
    const d = detail;
    if (!d) return;
    editDialog(d, divisions, async (v) => {
      const body: dev.DevicePatch = { name: v.name, division_code: v.division_code, kind: v.kind };
      if (v.password) body.password = v.password;
      await dev.updateDevice(d.id, body);
      if (v.password) { secret = { title: () => t("dev.password_reset"), password: v.password }; drawOnce(); }
      say(() => t("dev.saved"));
      detailSig = "";
      await loadDevices();
    });
  }

  function remove(): void {
    const d = detail;
    if (!d) return;
    confirmDialog(tf("dev.confirm_delete", { name: d.name, id: d.gb_id }), t("dev.delete"), async () => {
      try {
        await dev.deleteDevice(d.id);
        if (selected === d.id) { selected = null; detail = null; action = null; detailSig = ""; }
        say(() => tf("dev.deleted", { name: d.name }));
        drawDetail();
      } catch (e) { say(() => errorText(e), "error"); }
      await loadDevices();
    });
  }

  function accept(p: dev.Pending): void {
    acceptDialog(p.external_id, divisions, async (v) => {
      await dev.acceptPending(p.id, v.division_code, v.kind, v.name);
      say(() => tf("dev.p.accepted", { id: p.external_id }));
      await Promise.all([loadPending(), loadDevices()]);
    });
  }

  async function reject(p: dev.Pending): Promise<void> {
    try {
      await dev.rejectPending(p.id);
      say(() => tf("dev.p.rejected", { id: p.external_id }));
    } catch (e) { say(() => errorText(e), "error"); }
    await loadPending();
  }

  // --- drawing ------------------------------------------------------------------------------------
  // The list as filtered by the server; shown in the server's order.
  const shown = () => devices;

  function drawFlash(): void {
    parts.flash.replaceChildren(...(flash ? [h("div", { class: `note note-${flash.kind}`, "data-testid": "devices-flash" },
      flash.text())] : []));
  }

  function drawList(): void {
    parts.count.textContent = tf(devices.length === 1 ? "dev.count_one" : "dev.count", { n: devices.length });
    table.update(shown(), selected);
    const empty = loaded && !devices.length ? (f.q || f.online ? t("dev.no_match") : t("dev.empty")) : "";
    parts.list.replaceChildren(
      ...(listError ? [h("div", { class: "note note-error", "data-testid": "devices-error" }, listError)] : []),
      ...(empty ? [h("div", { class: "panel-empty", "data-testid": "devices-empty" }, empty)] : []));
  }

  function drawDetail(): void {
    parts.detail.replaceChildren(detailCard({ device: detail, loading: selected !== null && !detail, divName, action,
      onAction: (a) => void runAction(a), onEdit: edit, onDelete: remove,
      onRecordings: (cam) => {
        if (detail?.kind === "mobile") void track.show(cam); else { track.close(); void recordings.show(cam); }
        (detail?.kind === "mobile" ? track : recordings).el.scrollIntoView({ block: "nearest" });
      },
      onClose: () => { selected = null; detail = null; action = null; detailSig = ""; table.update(shown(), null); drawDetail(); } }));
  }

  function drawOnce(): void {
    parts.once.replaceChildren(...(secret ? [oncePanel(secret.title(), secret.password, () => { secret = null; drawOnce(); })] : []));
  }

  function drawPending(): void {
    parts.pending.replaceChildren(pendingCard(pending, pendingError, accept, (p) => void reject(p)));
  }

  function drawTabs(): void {
    const tabButton = (name: typeof tab, label: string) => h("button", { class: `dev-tab ${tab === name ? "active" : ""}`,
      type: "button", "data-testid": `tab-${name}`, onclick: () => { tab = name; drawTabs(); drawLeft(); } }, label);
    parts.tabs.replaceChildren(h("div", { class: "dev-tabs" },
      tabButton("devices", t("dev.tab.devices")),
      tabButton("pending", pending.length ? `${t("dev.tab.pending")} (${pending.length})` : t("dev.tab.pending")),
      tabButton("platforms", tp("pl.tab"))));
  }

  function devicesCard(): HTMLElement {
    let timer = 0;
    const search = h("input", { type: "search", name: "q", value: f.q, maxlength: 100, autocomplete: "off",
      placeholder: t("dev.search"), "data-testid": "device-search" }) as HTMLInputElement;
    search.addEventListener("input", () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => { f.q = search.value.trim(); void loadDevices(); }, 250);
    });
    const online = select("online", [["", t("dev.all")], ["true", t("dev.online")], ["false", t("dev.offline")]], f.online);
    online.dataset.testid = "device-online-filter";
    online.addEventListener("change", () => { f.online = online.value as typeof f.online; void loadDevices(); });
    return h("section", { class: "card", "data-testid": "devices" },
      h("h2", {}, t("dev.tab.devices"), parts.count, h("span", { class: "spacer" })),
      h("div", { class: "dev-toolbar" }, search, online),
      h("div", { class: "dev-scroll" }, table.el),
      parts.list);
  }

  function drawLeft(): void {
    parts.left.replaceChildren(parts.flash, parts.tabs,
      tab === "devices" ? devicesCard() : tab === "pending" ? parts.pending : platforms.el);
  }

  const desk = mountDeskPage(root, "page.devices", "devices", (main) => {
    // Built again on a language switch: every text comes from the state.
    table = new DeviceTable(divName, (d) => void pick(d.id));
    parts.left = h("div", { class: "dev-left" });
    drawFlash(); drawTabs(); drawLeft(); drawList(); drawDetail(); drawOnce(); drawPending(); platforms.draw();
    if (recordings.camera) recordings.draw();
    if (track.camera) track.draw();
    main.replaceChildren(parts.left,
      h("div", { class: "dev-right" }, parts.once, parts.detail, track.el, recordings.el,
        h("section", { class: "card", "data-testid": "admit" }, h("h2", {}, t("dev.admit")),
          divisionsKnown ? admitForm(divisions, admit) : h("p", { class: "muted" }, t("dev.loading")))));
  });

  window.setInterval(() => {
    const now = Date.now();
    root.querySelectorAll<HTMLElement>("[data-ago]").forEach((el) => {
      const text = ago(el.dataset.ago || null, now);
      if (el.textContent !== text) el.textContent = text;
    });
  }, 1000);
  window.setInterval(() => { void loadDevices(); void loadPending(); if (tab === "platforms") void platforms.load(); }, POLL_MS);
  void (async () => {
    try { divisions = await dev.listDivisions(); } catch { /* an administrator without view_map: codes only */ }
    divisionsKnown = true;
    desk.rerender();
    await Promise.all([loadDevices(), loadPending(), platforms.load()]);
  })();
}
