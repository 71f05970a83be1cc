// /admin: users and their grants (create, activate/deactivate, add a scoped and time-boxed grant, revoke),
// the pending access requests (approve / deny), and the patrol units (register with their tracker and
// officer, on/off duty, remove). Every change is audited by the server.
import { h } from "../dom";
import { localName, t, type Key } from "../i18n";
import { api, ok, type Schemas } from "../api/client";
import { errorText, tr, field, fmtTime, input, isoToLocal, localToIso, modal, mountDeskPage, note, roleLabel,
  ROLE_NAMES, select } from "../ui/desk";
import "./admin.css";

interface Grant { id: number; user_id: number; role_name: string; division_code: string; valid_from: string | null;
  valid_until: string | null; max_secrecy: number; kind: string; status: string; reason: string | null;
  requested_by: number | null; approved_by: number | null; created_at: string }
interface User { id: number; username: string; display_name: string | null; is_active: boolean; locked_until: string | null; grants: Grant[] }
interface Div { code: string; name: string; name_en: string | null; level: number }
interface Unit { id: number; callsign: string; kind: string; status: string; division_code: string | null;
  tracker_protocol: string | null; tracker_id: string | null; officer: string | null; stale: boolean }
const UNIT_KINDS = ["patrol_car", "officer", "drone", "vehicle"];
const TRACKER_PROTOCOLS = ["jt808", "osmand", "gb28181", "api"];

export function mount(root: HTMLElement): void {
  let users: User[] = [];
  let requests: Grant[] = [];
  let units: Unit[] = [];
  let divisions: Div[] = [];
  let error = "";
  let flash = "";

  const divName = (code: string) => {
    const d = divisions.find((x) => x.code === code);
    return d ? `${localName(d.name, d.name_en)} (${code})` : code;
  };
  const userName = (id: number | null) => users.find((u) => u.id === id)?.username ?? (id === null ? "—" : `#${id}`);
  const divisionOptions = (): Array<[string, string]> =>
    divisions.map((d) => [d.code, `${"　".repeat(Math.max(0, d.level - 1))}${localName(d.name, d.name_en)} · ${d.code}`]);

  async function load(): Promise<void> {
    try {
      [users, requests, units] = await Promise.all([ok(api.GET("/api/v1/users")), ok(api.GET("/api/v1/access-requests")),
        ok(api.GET("/api/v1/units"))]);
      error = "";
    } catch (e) { error = errorText(e); }
    desk.rerender();
  }

  async function act(fn: () => Promise<unknown>, ok?: string): Promise<void> {
    try { await fn(); flash = ok ?? ""; error = ""; } catch (e) { error = errorText(e); flash = ""; }
    await load();
  }

  const grantStatus = (g: Grant): string => {
    if (g.status === "active" && g.valid_until && new Date(g.valid_until) < new Date()) return "expired";
    return g.status;
  };

  function grantChip(g: Grant): HTMLElement {
    const st = grantStatus(g);
    const live = st === "active";
    const span = g.valid_from || g.valid_until ? ` · ${fmtTime(g.valid_from)} → ${g.valid_until ? fmtTime(g.valid_until) : t("adm.forever")}` : "";
    return h("div", { class: `grant ${live ? "" : "dim"}`, "data-testid": "grant", "data-grant": g.id, "data-role": g.role_name,
      "data-division": g.division_code, "data-status": st },
      h("span", { class: `badge ${live ? "ok" : st === "requested" ? "warn" : "off"}` }, tr(`adm.gs.${st}`, st)),
      h("span", {}, `${roleLabel(g.role_name)} @ ${divName(g.division_code)}`),
      h("small", { class: "muted" }, `${tr(`adm.kind.${g.kind}`, g.kind)}${g.max_secrecy ? ` · S${g.max_secrecy}` : ""}${span}`),
      live ? h("button", { class: "x", type: "button", title: t("adm.revoke"), "data-testid": "revoke",
        onclick: () => void act(() => ok(api.DELETE("/api/v1/users/grants/{grant_id}", { params: { path: { grant_id: g.id } } }))) }, `✕ ${t("adm.revoke")}`) : null);
  }

  function usersCard(): HTMLElement {
    return h("section", { class: "card users-card", "data-testid": "users" },
      h("h2", {}, t("adm.users"), h("span", { class: "count" }, String(users.length))),
      h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, ...(["adm.username", "adm.display_name", "adm.status", "adm.grants", "adm.actions"] as Key[])
          .map((k) => h("th", {}, t(k))))),
        h("tbody", {}, ...users.map((u) => {
          const locked = u.locked_until && new Date(u.locked_until) > new Date();
          return h("tr", { "data-testid": "user-row", "data-user": u.username, "data-id": u.id },
            h("td", {}, h("b", {}, u.username), h("div", { class: "mono muted" }, `#${u.id}`)),
            h("td", {}, u.display_name ?? ""),
            h("td", {}, h("span", { class: `badge ${u.is_active ? "ok" : "off"}`, "data-testid": "user-status" },
              u.is_active ? t("adm.active") : t("adm.inactive")), locked ? h("span", { class: "badge bad" }, t("adm.locked")) : null),
            h("td", {}, ...u.grants.map(grantChip)),
            h("td", {}, h("div", { class: "row-actions" },
              h("button", { class: "ghost", type: "button", "data-testid": "add-grant", onclick: () => grantForm(u) }, t("adm.add_grant")),
              u.is_active
                ? h("button", { class: "ghost danger", type: "button", "data-testid": "deactivate",
                  onclick: () => void act(() => ok(api.PUT("/api/v1/users/{user_id}/active", { params: { path: { user_id: u.id } }, body: { is_active: false } }))) }, t("adm.deactivate"))
                : h("button", { class: "ghost ok", type: "button", "data-testid": "activate",
                  onclick: () => void act(() => ok(api.PUT("/api/v1/users/{user_id}/active", { params: { path: { user_id: u.id } }, body: { is_active: true } }))) }, t("adm.activate")))));
        }))));
  }

  function unitsCard(): HTMLElement {
    return h("section", { class: "card", "data-testid": "units" },
      h("h2", {}, t("adm.units"), h("span", { class: "count" }, String(units.length))),
      units.length ? h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, ...(["adm.callsign", "adm.division", "adm.tracker", "adm.officer", "adm.status", "adm.actions"] as Key[])
          .map((k) => h("th", {}, t(k))))),
        h("tbody", {}, ...units.map((u) => {
          const idle = u.status === "available" || u.status === "off_duty";
          return h("tr", { "data-testid": "unit-row", "data-unit": u.callsign, "data-id": u.id, "data-status": u.status },
            h("td", {}, h("b", {}, u.callsign), h("div", { class: "muted" }, tr(`adm.ukind.${u.kind}`, u.kind))),
            h("td", {}, u.division_code ? divName(u.division_code) : "—"),
            h("td", { class: "mono" }, u.tracker_id ? `${u.tracker_protocol} · ${u.tracker_id}` : t("adm.no_tracker")),
            h("td", {}, u.officer ?? "—"),
            h("td", {}, h("span", { class: `badge ${u.status === "available" ? "ok" : u.status === "off_duty" ? "off" : "warn"}` },
              tr(`unit.${u.status}`, u.status))),
            h("td", {}, idle ? h("div", { class: "row-actions" },
              u.status === "off_duty"
                ? h("button", { class: "ghost ok", type: "button", "data-testid": "on-duty",
                  onclick: () => void act(() => ok(api.PATCH("/api/v1/units/{unit_id}", { params: { path: { unit_id: u.id } }, body: { status: "available" } }))) }, t("adm.on_duty"))
                : h("button", { class: "ghost", type: "button", "data-testid": "off-duty",
                  onclick: () => void act(() => ok(api.PATCH("/api/v1/units/{unit_id}", { params: { path: { unit_id: u.id } }, body: { status: "off_duty" } }))) }, t("adm.off_duty")),
              h("button", { class: "ghost danger", type: "button", "data-testid": "remove-unit",
                onclick: () => void act(() => ok(api.DELETE("/api/v1/units/{unit_id}", { params: { path: { unit_id: u.id } } }))) }, t("adm.remove"))) : null));
        }))) : h("div", { class: "panel-empty" }, t("adm.no_units")));
  }

  function unitForm(): HTMLElement {
    const callsign = input("callsign", { required: true, maxlength: 40, autocomplete: "off" });
    const kind = select("kind", UNIT_KINDS.map((k) => [k, tr(`adm.ukind.${k}`, k)]), "patrol_car");
    const division = select("division_code", divisionOptions(), divisions.find((d) => d.level === 4)?.code);
    const protocol = select("tracker_protocol", TRACKER_PROTOCOLS.map((p) => [p, p.toUpperCase()]), "jt808");
    const device = input("tracker_id", { pattern: "[A-Za-z0-9._:\\-]{1,64}", maxlength: 64, autocomplete: "off",
      placeholder: t("adm.tracker_hint") });
    const officer = select("officer", [["", "—"], ...users.map((u): [string, string] => [u.username, u.username])], "");
    const msg = h("div", { class: "note", "data-testid": "unit-msg" });
    const form = h("form", { class: "form", "data-testid": "create-unit" },
      h("div", { class: "form-grid" }, field("adm.callsign", callsign), field("adm.unit_kind", kind)),
      field("adm.division", division),
      h("div", { class: "form-grid" }, field("adm.tracker_protocol", protocol), field("adm.tracker_id", device)),
      field("adm.officer", officer),
      h("div", { class: "form-actions" }, h("button", { class: "primary", type: "submit" }, t("adm.create"))), msg) as HTMLFormElement;
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const id = device.value.trim();
        const r = await ok(api.POST("/api/v1/units", { body: { callsign: callsign.value.trim(),
          kind: kind.value as Schemas["UnitCreate"]["kind"], division_code: division.value,
          tracker: id ? { protocol: protocol.value as Schemas["TrackerIn"]["protocol"], external_id: id } : null,
          officer: officer.value || null } }));
        flash = `${t("adm.created")}: ${callsign.value.trim()} (#${r.id})`;
        await load();
      } catch (e) { note(msg, errorText(e), "error"); }
    });
    return h("section", { class: "card" }, h("h2", {}, t("adm.new_unit")), form);
  }

  function createCard(): HTMLElement {
    const username = input("username", { required: true, pattern: "[A-Za-z0-9_.\\-]{2,64}", autocomplete: "off" });
    const password = input("password", { type: "password", required: true, minlength: 8, autocomplete: "new-password" });
    const display = input("display_name", { maxlength: 200 });
    const role = select("role", ROLE_NAMES.map((r) => [r, roleLabel(r)]), "officer");
    const division = select("division_code", divisionOptions(), divisions.find((d) => d.level === 4)?.code);
    const msg = h("div", { class: "note", "data-testid": "create-msg" });
    const form = h("form", { class: "form", "data-testid": "create-user" },
      h("div", { class: "form-grid" }, field("adm.username", username), field("adm.password", password),
        field("adm.display_name", display), field("adm.role", role)),
      field("adm.division", division),
      h("div", { class: "form-actions" }, h("button", { class: "primary", type: "submit" }, t("adm.create"))), msg) as HTMLFormElement;
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const r = await ok(api.POST("/api/v1/users", { body: { username: username.value.trim(), password: password.value,
          role: role.value, division_code: division.value, display_name: display.value.trim() || undefined } }));
        flash = `${t("adm.created")}: ${username.value.trim()} (#${r.id})`;
        await load();
      } catch (e) { note(msg, errorText(e), "error"); }
    });
    return h("section", { class: "card" }, h("h2", {}, t("adm.new_user")), form);
  }

  function grantForm(u: User): void {
    const role = select("role_name", ROLE_NAMES.map((r) => [r, roleLabel(r)]), "commander");
    const division = select("division_code", divisionOptions(), u.grants[0]?.division_code);
    const now = new Date();
    const from = input("valid_from", { type: "datetime-local", value: isoToLocal(now) });
    const until = input("valid_until", { type: "datetime-local", value: isoToLocal(new Date(now.getTime() + 8 * 3600_000)) });
    const secrecy = input("max_secrecy", { type: "number", min: 0, max: 9, step: 1, value: 0 });
    const reason = h("textarea", { name: "reason", rows: 2, maxlength: 2000 }) as HTMLTextAreaElement;
    const msg = h("div", { class: "note" });
    const form = h("form", { class: "form", "data-testid": "grant-form" },
      h("div", { class: "form-grid" }, field("adm.role", role), field("adm.max_secrecy", secrecy)),
      field("adm.division", division),
      h("div", { class: "form-grid" }, field("adm.valid_from", from), field("adm.valid_until", until)),
      field("adm.reason", reason),
      h("div", { class: "form-actions" }, h("button", { class: "primary", type: "submit" }, t("adm.save"))), msg) as HTMLFormElement;
    const dlg = modal(`${t("adm.grant_for")} ${u.username}`, form, "grant-modal");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await ok(api.POST("/api/v1/users/{user_id}/grants", { params: { path: { user_id: u.id } }, body: { role_name: role.value,
          division_code: division.value, valid_from: localToIso(from.value), valid_until: localToIso(until.value),
          max_secrecy: Number(secrecy.value || 0), reason: reason.value.trim() || null } }));
        dlg.close();
        await load();
      } catch (e) { note(msg, errorText(e), "error"); }
    });
  }

  function requestsCard(): HTMLElement {
    return h("section", { class: "card", "data-testid": "requests" },
      h("h2", {}, t("adm.requests"), h("span", { class: "count" }, String(requests.length))),
      requests.length ? h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, ...(["adm.requester", "adm.role", "adm.division", "adm.period", "adm.reason", "adm.actions"] as Key[])
          .map((k) => h("th", {}, t(k))))),
        h("tbody", {}, ...requests.map((g) => {
          const hours = g.valid_from && g.valid_until ? (new Date(g.valid_until).getTime() - new Date(g.valid_from).getTime()) / 3600_000 : null;
          return h("tr", { "data-testid": "request-row", "data-request": g.id, "data-user": userName(g.user_id) },
            h("td", {}, h("b", {}, userName(g.user_id)), h("div", { class: "muted" }, fmtTime(g.created_at))),
            h("td", {}, roleLabel(g.role_name)),
            h("td", {}, divName(g.division_code)),
            h("td", {}, hours === null ? "—" : `${+hours.toFixed(1)} ${t("adm.hours")}`),
            h("td", { class: "reason" }, g.reason ?? ""),
            h("td", {}, h("div", { class: "row-actions" },
              h("button", { class: "ghost ok", type: "button", "data-testid": "approve",
                onclick: () => void act(() => ok(api.POST("/api/v1/access-requests/{grant_id}/decision", { params: { path: { grant_id: g.id } }, body: { approve: true } }))) }, t("adm.approve")),
              h("button", { class: "ghost danger", type: "button", "data-testid": "deny",
                onclick: () => void act(() => ok(api.POST("/api/v1/access-requests/{grant_id}/decision", { params: { path: { grant_id: g.id } }, body: { approve: false } }))) }, t("adm.deny")))));
        }))) : h("div", { class: "panel-empty" }, t("adm.no_requests")));
  }

  const desk = mountDeskPage(root, "page.admin", "admin", (main) => {
    main.replaceChildren(
      h("div", { class: "adm-left" },
        error ? h("div", { class: "note note-error", "data-testid": "admin-error" }, error) : null,
        flash ? h("div", { class: "note note-ok", "data-testid": "admin-flash" }, flash) : null,
        usersCard(), unitsCard()),
      h("div", { class: "adm-right" }, requestsCard(), createCard(), unitForm()));
  });
  void (async () => {
    try {
      const fc = await ok(api.GET("/api/v1/divisions", { params: { query: { geometry: false, limit: 1000 } } }));
      divisions = (fc.features as Array<{ properties: Div }>).map((f) => f.properties).sort((a, b) => a.code.localeCompare(b.code));
    } catch { /* an administrator without view_map: codes only */ }
    await load();
  })();
}
