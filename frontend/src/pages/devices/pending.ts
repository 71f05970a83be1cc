// The "pending" tab: GB/T 28181 devices that tried to register without being admitted (admission rule
// "pending"); accept one (division, kind, name) or reject it.
import { h } from "../../dom";
import { t, type Key } from "../../i18n";
import type { Pending } from "./api";
import { shortTime } from "./format";

/** Where the device registered from, as the server noted it (address or ip:port). */
function from(p: Pending): string {
  const d = p.detail ?? {};
  const v = d.address ?? d.remote ?? d.source ?? (d.ip ? `${d.ip}${d.port ? `:${d.port}` : ""}` : null);
  return v ? String(v) : "—";
}

export function pendingCard(items: Pending[], error: string, onAccept: (p: Pending) => void,
                            onReject: (p: Pending) => void): HTMLElement {
  return h("section", { class: "card", "data-testid": "pending" },
    h("h2", {}, t("dev.pending"), h("span", { class: "count" }, String(items.length))),
    error ? h("div", { class: "note note-error" }, error) : null,
    items.length ? h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ...(["dev.p.device", "dev.p.from", "dev.p.first_seen", "dev.p.last_seen", "dev.p.attempts", "adm.actions"] as Key[])
        .map((k) => h("th", {}, t(k))))),
      h("tbody", {}, ...items.map((p) => h("tr", { "data-testid": "pending-row", "data-id": p.id, "data-gb-id": p.external_id },
        h("td", { class: "mono" }, p.external_id),
        h("td", { class: "mono" }, from(p)),
        h("td", {}, shortTime(p.first_seen_at)),
        h("td", {}, shortTime(p.last_seen_at)),
        h("td", {}, String(p.attempts)),
        h("td", {}, h("div", { class: "row-actions" },
          h("button", { class: "ghost ok", type: "button", "data-testid": "accept", onclick: () => onAccept(p) }, t("dev.p.accept")),
          h("button", { class: "ghost danger", type: "button", "data-testid": "reject", onclick: () => onReject(p) }, t("dev.p.reject")))))))) 
      : h("div", { class: "panel-empty" }, t("dev.p.none")));
}
