// "Request access" from the top bar of every page: any signed-in user asks for a role on a division
// for some hours with a reason; an administrator approves or denies it on /admin.
import { h } from "../dom";
import { localName, t } from "../i18n";
import { api, ok, type Schemas } from "../api/client";
import { errorText } from "../errors";
import { field, input, modal, note, select } from "./form";

type Div = { properties: { code: string; name: string; name_en: string | null; level: number } };

export function accessRequestButton(): HTMLElement {
  return h("button", { class: "lang acc-btn", type: "button", "data-testid": "request-access", onclick: () => void openForm() },
    t("acc.request"));
}

async function openForm(): Promise<void> {
  const division = input("division_code", { required: true, pattern: "[0-9]{6}([0-9]{3}){0,2}", list: "acc-divisions",
    placeholder: "990101", autocomplete: "off" });
  const list = h("datalist", { id: "acc-divisions" });
  const hours = input("hours", { type: "number", min: 1, max: 720, step: 1, value: 8, required: true });
  const role = select("role", (["commander", "dispatcher", "planner"] as const).map((r) => [r, t(`role.${r}`)]));
  const reason = h("textarea", { name: "reason", rows: 3, required: true, minlength: 4, maxlength: 2000 }) as HTMLTextAreaElement;
  const msg = h("div", { class: "note", role: "status" });
  const submit = h("button", { type: "submit", class: "primary" }, t("acc.submit")) as HTMLButtonElement;
  const form = h("form", { class: "form", "data-testid": "access-form" },
    field("acc.division", division), list, field("acc.role", role), field("acc.hours", hours), field("acc.reason", reason),
    h("div", { class: "form-actions" }, submit), msg) as HTMLFormElement;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    try {
      const r = await ok(api.POST("/api/v1/access-requests", { body: {
        division_code: division.value.trim(), hours: Number(hours.value), reason: reason.value.trim(), role: role.value as Schemas["AccessRequestIn"]["role"] } }));
      note(msg, `${t("acc.sent")} (#${r.id})`, "ok");
      msg.dataset.requestId = String(r.id);
    } catch (e) {
      note(msg, errorText(e), "error");
      submit.disabled = false;
    }
  });
  modal(t("acc.title"), form, "access-modal");
  // Division names to pick from, where the user may list divisions (an auditor may not: plain code entry).
  try {
    const fc = await ok(api.GET("/api/v1/divisions", { params: { query: { geometry: false, limit: 1000 } } }));
    for (const f of fc.features as Div[]) {
      const p = f.properties;
      list.append(h("option", { value: p.code }, `${"· ".repeat(Math.max(0, p.level - 3))}${localName(p.name, p.name_en)}`));
    }
  } catch { /* no view_map: type the code */ }
}
