// The incident panel the wall opens when a new incident arrives (the video call-up is issue #5).
import { h } from "../dom";
import { currentLang, t, type Key } from "../i18n";
import { css, PRIORITY } from "../map/colors";
import type { Incident } from "../map/store";
import { typeName } from "./dx";

export function incidentPanel(inc: Incident, onClose: () => void): HTMLElement {
  const row = (k: Key, v: string | null | undefined) => h("div", { class: "ip-row" }, h("span", { class: "ip-k" }, t(k)),
    h("span", { class: "ip-v" }, v || "—"));
  const when = inc.created_at ? new Date(inc.created_at).toLocaleString(currentLang() === "en" ? "en-GB" : "zh-CN", { hour12: false }) : null;
  return h("section", { class: "incident-panel", "data-testid": "incident-panel", "data-incident": inc.id },
    h("header", { style: `--c:${css(PRIORITY[inc.priority - 1] ?? PRIORITY[3])}` },
      h("span", { class: "ip-badge" }, t(`incident.p${inc.priority}` as Key)),
      h("span", { class: "ip-title" }, `${t("incident.title")} #${inc.id}`),
      h("button", { class: "ip-close", onclick: onClose, "aria-label": t("incident.close") }, "×")),
    row("incident.type", typeName(inc)), // the feed carries type_zh / type_en
    row("incident.status", t(`status.${inc.status}` as Key) || inc.status),
    row("incident.address", inc.address),
    row("incident.time", when),
    row("incident.description", inc.description));
}
