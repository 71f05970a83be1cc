// /audit: the auditor's page. Filter the hash-chained audit trail (action, actor, object type, time range),
// page through it, open an event (JSON detail, hashes) and verify the whole chain.
import { h } from "../dom";
import { currentLang, t, type Key } from "../i18n";
import { api, ok } from "../api/client";
import { errorText, field, fmtTime, input, localToIso, mountDeskPage, select } from "../ui/desk";
import { tOr } from "../ui/dx";
import "./audit.css";

interface Event { id: number; at: string; actor_id: number | null; actor_name: string | null; action: string;
  object_type: string | null; object_id: string | null; detail: unknown; reason: string | null; client_ip: string | null;
  prev_hash: string | null; hash: string }

const ACTIONS = ["login", "login_failed", "logout", "video_callup", "ptz", "track_cameras", "dispatch", "dispatch_status",
  "incident_create", "incident_status", "export", "planning_accept", "camera_create", "camera_update", "camera_delete",
  "unit_create", "unit_update", "unit_delete", "key_area_create", "key_area_update", "key_area_delete", "user_create", "user_activate", "user_deactivate", "grant_add",
  "grant_revoke", "access_request", "access_approve", "access_deny", "audit_verify", "video_stop", "admission_policy",
  "device_accept", "device_reject", "device_create", "device_update", "device_delete", "device_action", "evidence_list",
  "video_playback", "video_download", "mobile_track", "platform_create", "platform_update", "platform_delete",
  "cascade_play"];
const OBJECTS = ["user", "grant", "camera", "unit", "incident", "dispatch", "key_area", "planning_table", "planning_report",
  "target", "pending_device", "gb_device", "admission_policy", "upper_platform"];
const LIMIT = 25;
// Names for people; the stored key stays visible in the detail and as the badge's tooltip.
const actionName = (a: string) => tOr(`aud.act.${a}`, a);
const objectName = (o: string) => tOr(`aud.obj.${o}`, o);

export function mount(root: HTMLElement): void {
  const f = { action: "", actor: "", object_type: "", since: "", until: "" };
  let offset = 0;
  let total = 0;
  let events: Event[] = [];
  let selected: Event | null = null;
  let error = "";
  let verifying = false;
  let verdict: { intact: boolean; problems: unknown[] } | null = null;

  let seq = 0;
  async function load(): Promise<void> {
    const mine = ++seq; // only the latest query's answer is shown
    const since = localToIso(f.since), until = localToIso(f.until);
    // Empty filters are left out of the query (undefined), not sent empty.
    const query = { limit: LIMIT, offset, action: f.action || undefined, actor: f.actor || undefined,
      object_type: f.object_type || undefined, since: since ?? undefined, until: until ?? undefined };
    try {
      const r = await ok(api.GET("/api/v1/audit", { params: { query } }));
      if (mine !== seq) return;
      total = r.total; events = r.items; error = "";
      if (selected && !events.some((e) => e.id === selected!.id)) selected = null;
    } catch (e) { error = errorText(e); }
    desk.rerender();
  }

  async function verify(): Promise<void> {
    verifying = true; verdict = null; desk.rerender();
    try { verdict = await ok(api.GET("/api/v1/audit/verify")); } catch (e) { error = errorText(e); }
    verifying = false;
    await load(); // the verification itself is an audited event
  }

  // The filter form persists across re-renders (typing is never lost); rebuilt only on a language switch.
  let filterForm: HTMLFormElement | null = null;
  let filterLang = "";
  function filters(): HTMLElement {
    if (filterForm && filterLang === currentLang()) return filterForm;
    filterLang = currentLang();
    const action = select("action", [["", t("aud.any")], ...ACTIONS.map((a): [string, string] => [a, actionName(a)])], f.action);
    const actor = input("actor", { value: f.actor, maxlength: 64, autocomplete: "off", placeholder: "admin" });
    const obj = select("object_type", [["", t("aud.any")], ...OBJECTS.map((a): [string, string] => [a, objectName(a)])], f.object_type);
    // The date pickers take the UI's language (yyyy/mm/dd in zh-CN, not the browser's mm/dd/yyyy).
    const since = input("since", { type: "datetime-local", value: f.since, lang: currentLang() });
    const until = input("until", { type: "datetime-local", value: f.until, lang: currentLang() });
    const form = h("form", { class: "aud-filters", "data-testid": "audit-filters" },
      field("aud.action", action), field("aud.actor", actor), field("aud.object", obj), field("aud.since", since),
      field("aud.until", until),
      h("div", { class: "form-actions" },
        h("button", { class: "primary", type: "submit", "data-testid": "apply-filter" }, t("aud.filter")),
        h("button", { class: "ghost", type: "button", "data-testid": "reset-filter", onclick: () => {
          Object.assign(f, { action: "", actor: "", object_type: "", since: "", until: "" });
          action.value = ""; actor.value = ""; obj.value = ""; since.value = ""; until.value = "";
          offset = 0; void load(); } },
          t("aud.reset")))) as HTMLFormElement;
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      Object.assign(f, { action: action.value, actor: actor.value.trim(), object_type: obj.value, since: since.value, until: until.value });
      offset = 0;
      void load();
    });
    filterForm = form;
    return form;
  }

  function table(): HTMLElement {
    const pages = Math.max(1, Math.ceil(total / LIMIT));
    const pageNo = Math.floor(offset / LIMIT) + 1;
    return h("section", { class: "card", "data-testid": "audit-log" },
      h("h2", {}, t("aud.title"), h("span", { class: "count", "data-testid": "audit-total", "data-total": total },
        `${t("aud.total")} ${total}`)),
      filters(),
      error ? h("div", { class: "note note-error" }, error) : null,
      events.length ? h("table", { class: "grid aud-table", style: "margin-top:0.9rem" },
        h("thead", {}, h("tr", {}, ...(["aud.time", "aud.action", "aud.actor", "aud.object_id", "aud.ip", "aud.reason"] as Key[])
          .map((k) => h("th", {}, t(k))))),
        h("tbody", {}, ...events.map((e) => h("tr", { class: selected?.id === e.id ? "sel" : "", "data-testid": "audit-row",
          "data-id": e.id, "data-action": e.action, "data-actor": e.actor_name ?? "",
          onclick: () => { selected = e; desk.rerender(); } },
          h("td", { class: "mono" }, fmtTime(e.at)),
          h("td", {}, h("span", { class: `badge ${e.action.includes("fail") || e.action.includes("deny") ? "bad" : "ok"}`, title: e.action },
            actionName(e.action))),
          h("td", {}, e.actor_name ?? "—"),
          h("td", {}, e.object_type ? `${objectName(e.object_type)}${e.object_id ? ` #${e.object_id}` : ""}` : "—"),
          h("td", { class: "mono" }, e.client_ip ?? ""),
          h("td", { class: "muted" }, e.reason ?? "")))))
        : h("div", { class: "panel-empty", style: "margin-top:0.9rem" }, t("aud.empty")),
      h("div", { class: "aud-pager" },
        h("button", { class: "ghost", type: "button", "data-testid": "prev", disabled: offset === 0,
          onclick: () => { offset = Math.max(0, offset - LIMIT); void load(); } }, `‹ ${t("aud.prev")}`),
        h("span", { "data-testid": "page" }, `${pageNo} / ${pages}`),
        h("button", { class: "ghost", type: "button", "data-testid": "next", disabled: offset + LIMIT >= total,
          onclick: () => { offset += LIMIT; void load(); } }, `${t("aud.next")} ›`)));
  }

  function detail(): HTMLElement {
    const e = selected;
    const row = (k: Key, v: string | null | undefined, cls = "") => [h("dt", {}, t(k)), h("dd", { class: cls }, v || "—")];
    return h("section", { class: "card aud-detail", "data-testid": "audit-detail" },
      h("h2", {}, t("aud.detail"), e ? h("span", { class: "count" }, `#${e.id}`) : null),
      e ? h("div", {},
        h("dl", {},
          ...row("aud.time", fmtTime(e.at)), ...row("aud.action", `${actionName(e.action)} (${e.action})`), ...row("aud.actor", e.actor_name),
          ...row("aud.object_id", e.object_type ? `${objectName(e.object_type)} ${e.object_id ?? ""}` : null), ...row("aud.ip", e.client_ip),
          ...row("aud.reason", e.reason), ...row("aud.hash", e.hash, "mono"), ...row("aud.prev_hash", e.prev_hash, "mono")),
        h("pre", { "data-testid": "audit-json" }, JSON.stringify(e.detail ?? {}, null, 2)))
        : h("div", { class: "panel-empty" }, t("aud.select")));
  }

  function verifyCard(): HTMLElement {
    return h("section", { class: "card", "data-testid": "verify" },
      h("h2", {}, t("aud.verify")),
      h("button", { class: "primary", type: "button", "data-testid": "verify-chain", disabled: verifying, onclick: () => void verify() },
        verifying ? t("aud.verifying") : t("aud.verify")),
      verdict ? h("div", { class: `aud-verify ${verdict.intact ? "ok" : "bad"}`, "data-testid": "verify-result",
        "data-intact": String(verdict.intact) },
        verdict.intact ? `✔ ${t("aud.intact")}` : `✖ ${t("aud.broken")}: ${verdict.problems.length}`,
        verdict.problems.length ? h("ul", {}, ...verdict.problems.slice(0, 50).map((p) =>
          h("li", {}, typeof p === "string" ? p : JSON.stringify(p)))) : null) : null);
  }

  const desk = mountDeskPage(root, "page.audit", "audit", (main) => {
    main.replaceChildren(table(), h("div", { class: "audit-side" }, verifyCard(), detail()));
  });
  void load();
}
