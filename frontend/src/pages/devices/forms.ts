// Forms of the device page: admit a device, edit one, accept a pending one, and a confirmation dialog.
// Checked here with messages in the user's language (no browser bubbles in the browser's language).
import { h } from "../../dom";
import { localName, t } from "../../i18n";
import { errorText, field, input, modal, note, select } from "../../ui/desk";
import { DEVICE_KINDS, type Device, type DeviceKind, type Div } from "./api";
import { kindName } from "./format";

const GB_ID = /^\d{20}$/;

export function divisionSelect(divisions: Div[], value?: string): HTMLSelectElement {
  const options = divisions.map((d): [string, string] =>
    [d.code, `${"\u00a0\u00a0".repeat(Math.max(0, d.level - 1))}${localName(d.name, d.name_en)} · ${d.code}`]);
  if (value && !divisions.some((d) => d.code === value)) options.unshift([value, value]);
  return keepDefault(select("division_code", options, value ?? divisions.find((d) => d.level === 4)?.code));
}

const kindSelect = (value: string = "ipc") =>
  keepDefault(select("kind", DEVICE_KINDS.map((k): [string, string] => [k, kindName(k)]), value));

/** The chosen option is also the one a form reset returns to (not the list's first). */
function keepDefault(s: HTMLSelectElement): HTMLSelectElement {
  const opt = s.options[s.selectedIndex];
  if (opt) opt.defaultSelected = true;
  return s;
}

/** The password pair: null when both are empty (allowed when editing), else the password or a message. */
function checkPassword(a: HTMLInputElement, b: HTMLInputElement, required: boolean): { ok: string | null } | { error: string } {
  if (!a.value && !b.value && !required) return { ok: null };
  if (a.value.length < 8 || a.value.length > 64) return { error: t("dev.f.password_len") };
  if (a.value !== b.value) return { error: t("dev.f.mismatch") };
  return { ok: a.value };
}

/** A password shown this once, with a button to put it away. */
export function oncePanel(title: string, password: string, onDismiss: () => void): HTMLElement {
  return h("div", { class: "dev-once", "data-testid": "once-password" },
    h("div", {}, title),
    h("code", { class: "mono", "data-testid": "once-value" }, password),
    h("div", { class: "form-actions" },
      h("button", { class: "ghost", type: "button", "data-testid": "once-dismiss", onclick: onDismiss }, t("dev.dismiss"))));
}

export interface AdmitIn { gb_id: string; name: string; division_code: string; kind: DeviceKind; password: string }

export function admitForm(divisions: Div[], submit: (v: AdmitIn) => Promise<void>): HTMLElement {
  const gbId = input("gb_id", { maxlength: 20, inputmode: "numeric", autocomplete: "off", placeholder: "34020000001320000001" });
  const count = h("small", { class: "muted", "data-testid": "gb-id-count" }, "0 / 20");
  const name = input("name", { maxlength: 200, autocomplete: "off" });
  const division = divisionSelect(divisions);
  const kind = kindSelect();
  const pw = input("password", { type: "password", maxlength: 64, autocomplete: "new-password" });
  const pw2 = input("password2", { type: "password", maxlength: 64, autocomplete: "new-password" });
  const msg = h("div", { class: "note", "data-testid": "admit-msg" });
  const button = h("button", { class: "primary", type: "submit" }, t("dev.f.submit")) as HTMLButtonElement;
  gbId.addEventListener("input", () => {
    const v = gbId.value.trim();
    count.textContent = `${v.length} / 20`;
    gbId.classList.toggle("invalid", v.length > 0 && !/^\d*$/.test(v));
  });
  const form = h("form", { class: "form", "data-testid": "admit-form", novalidate: true },
    h("label", { class: "field" }, h("span", {}, t("dev.f.gb_id"), " ", count), gbId),
    h("div", { class: "form-grid" }, field("dev.f.name", name), field("dev.f.kind", kind)),
    field("dev.f.division", division),
    h("div", { class: "form-grid" }, field("dev.f.password", pw), field("dev.f.password2", pw2)),
    h("div", { class: "form-actions" }, button), msg) as HTMLFormElement;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const id = gbId.value.trim();
    if (!GB_ID.test(id)) { gbId.classList.add("invalid"); note(msg, t("dev.f.gb_id_bad"), "error"); gbId.focus(); return; }
    gbId.classList.remove("invalid");
    if (!name.value.trim()) { note(msg, t("dev.f.name_missing"), "error"); name.focus(); return; }
    const p = checkPassword(pw, pw2, true);
    if ("error" in p) { note(msg, p.error, "error"); return; }
    button.disabled = true;
    try {
      await submit({ gb_id: id, name: name.value.trim(), division_code: division.value, kind: kind.value as DeviceKind, password: p.ok! });
      form.reset();
      count.textContent = "0 / 20";
      note(msg, "");
    } catch (e) { note(msg, errorText(e), "error"); }
    button.disabled = false;
  });
  return form;
}

export interface EditIn { name: string; division_code: string; kind: DeviceKind; password: string | null }

export function editDialog(d: Device, divisions: Div[], submit: (v: EditIn) => Promise<void>): void {
  const name = input("name", { maxlength: 200, value: d.name, autocomplete: "off" });
  const division = divisionSelect(divisions, d.division_code ?? undefined);
  const kind = kindSelect(d.kind);
  const pw = input("password", { type: "password", maxlength: 64, autocomplete: "new-password" });
  const pw2 = input("password2", { type: "password", maxlength: 64, autocomplete: "new-password" });
  const msg = h("div", { class: "note", "data-testid": "edit-msg" });
  const form = h("form", { class: "form", "data-testid": "edit-form", novalidate: true },
    h("div", { class: "form-grid" }, field("dev.f.name", name), field("dev.f.kind", kind)),
    field("dev.f.division", division),
    h("div", { class: "form-grid" }, field("dev.f.new_password", pw), field("dev.f.password2", pw2)),
    h("div", { class: "form-actions" }, h("button", { class: "primary", type: "submit" }, t("dev.save"))), msg) as HTMLFormElement;
  const dlg = modal(`${t("dev.edit_title")} · ${d.gb_id}`, form, "edit-modal");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const p = checkPassword(pw, pw2, false);
    if ("error" in p) { note(msg, p.error, "error"); return; }
    if (!name.value.trim()) { note(msg, t("dev.f.name_missing"), "error"); return; }
    try {
      await submit({ name: name.value.trim(), division_code: division.value, kind: kind.value as DeviceKind, password: p.ok });
      dlg.close();
    } catch (e) { note(msg, errorText(e), "error"); }
  });
}

export interface AcceptIn { name: string | null; division_code: string; kind: DeviceKind }

export function acceptDialog(externalId: string, divisions: Div[], submit: (v: AcceptIn) => Promise<void>): void {
  const name = input("name", { maxlength: 200, autocomplete: "off", placeholder: externalId });
  const division = divisionSelect(divisions);
  const kind = kindSelect();
  const msg = h("div", { class: "note" });
  const form = h("form", { class: "form", "data-testid": "accept-form" },
    h("div", { class: "form-grid" }, field("dev.f.name", name), field("dev.f.kind", kind)),
    field("dev.f.division", division),
    h("div", { class: "form-actions" }, h("button", { class: "primary", type: "submit" }, t("dev.p.accept"))), msg) as HTMLFormElement;
  const dlg = modal(`${t("dev.p.accept_title")} · ${externalId}`, form, "accept-modal");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await submit({ name: name.value.trim() || null, division_code: division.value, kind: kind.value as DeviceKind });
      dlg.close();
    } catch (e) { note(msg, errorText(e), "error"); }
  });
}

/** A confirmation in the page's look (a native confirm() is in the browser's language and blocks the poll). */
export function confirmDialog(text: string, danger: string, onYes: () => void): void {
  const dlg = modal(t("dev.confirm_title"), h("div", { class: "form", "data-testid": "confirm" },
    h("p", { class: "dev-confirm-text" }, text),
    h("div", { class: "form-actions" },
      h("button", { class: "ghost", type: "button", "data-testid": "confirm-no", onclick: () => dlg.close() }, t("dev.cancel")),
      h("button", { class: "primary danger", type: "button", "data-testid": "confirm-yes",
        onclick: () => { dlg.close(); onYes(); } }, danger))), "confirm-modal");
}
