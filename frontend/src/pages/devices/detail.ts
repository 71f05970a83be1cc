// The detail panel of one device: its state, the actions the platform can send it (each answered with the
// device's result or the reason it was not done), its channels, and edit / delete.
import { h } from "../../dom";
import { t, type Key } from "../../i18n";
import { ACTIONS, type Action, type DeviceDetail } from "./api";
import { tOr } from "../../ui/dx";
import { actionName, ago, editionName, kindName, refusal, shortTime } from "./format";

/** The last action sent from the panel; its words are made at drawing time (a language switch redraws). */
export interface ActionState { action: Action; state: "running" | "done" | "refused"; error?: unknown; result?: unknown }

function actionLine(a: ActionState): { text: string; detail: string } {
  if (a.state === "running") return { text: t("dev.act.running"), detail: "" };
  if (a.state === "done") return { text: t("dev.act.done"), detail: "" };
  const why = refusal(a.error);
  return { text: `${t("dev.act.refused")}: ${why.text}`, detail: why.detail };
}

export interface DetailProps {
  device: DeviceDetail | null;
  loading: boolean;
  divName: (code: string | null) => string;
  action: ActionState | null;
  onAction: (a: Action) => void;
  onEdit: () => void;
  onDelete: () => void;
  onClose: () => void;
  onRecordings: (camera: { id: number; name: string }) => void;
}

/** A device's answer as a list of fields; nested values as compact JSON. */
function resultView(result: unknown): HTMLElement | null {
  if (result === null || result === undefined || result === "") return null;
  if (typeof result !== "object") return h("div", { class: "dev-result-text" }, String(result));
  const entries = Object.entries(result as Record<string, unknown>);
  if (!entries.length) return null;
  return h("dl", { class: "dev-kv" }, ...entries.flatMap(([k, v]) => [h("dt", {}, k),
    h("dd", { class: "mono" }, v !== null && typeof v === "object" ? JSON.stringify(v) : String(v ?? "—"))]));
}

export function detailCard(p: DetailProps): HTMLElement {
  const d = p.device;
  if (!d) {
    return h("section", { class: "card dev-detail", "data-testid": "device-detail" }, h("h2", {}, t("dev.detail")),
      h("div", { class: "panel-empty" }, p.loading ? t("dev.act.running") : t("dev.select")));
  }
  const row = (k: Key, v: string | null | undefined, cls = "") => [h("dt", {}, t(k)), h("dd", { class: cls }, v || "—")];
  const a = p.action;
  const line = a ? actionLine(a) : null;
  const busy = a?.state === "running";
  return h("section", { class: "card dev-detail", "data-testid": "device-detail", "data-id": d.id, "data-gb-id": d.gb_id },
    h("h2", {}, t("dev.detail"),
      h("span", { class: `dev-dot ${d.online ? "on" : "off"}` }),
      h("span", { class: "dev-title" }, d.name),
      h("button", { class: "modal-x spacer", type: "button", "aria-label": "close", onclick: p.onClose }, "×")),
    h("dl", { class: "dev-kv" },
      ...row("dev.d.status", `${d.online ? t("dev.online") : t("dev.offline")} · ${t("dev.since")} ${shortTime(d.status_since)}`),
      ...row("dev.d.gb_id", d.gb_id, "mono"),
      ...row("dev.col.kind", kindName(d.kind)),
      ...row("dev.col.edition", editionName(d.edition)),
      ...row("dev.col.division", p.divName(d.division_code)),
      ...row("dev.col.address", d.address ? `${d.transport ?? ""} ${d.address}`.trim() : null, "mono"),
      ...row("dev.col.maker", [d.manufacturer, d.model].filter(Boolean).join(" / ")),
      ...row("dev.d.firmware", d.firmware),
      ...row("dev.d.registered", shortTime(d.registered_at)),
      h("dt", {}, t("dev.d.keepalive")),
      h("dd", { "data-ago": d.last_keepalive_at ?? "", title: shortTime(d.last_keepalive_at) }, ago(d.last_keepalive_at)),
      ...row("dev.d.created", shortTime(d.created_at))),
    h("h3", {}, t("dev.actions")),
    h("div", { class: "dev-actions" }, ...ACTIONS.map((x) =>
      h("button", { class: `ghost ${x === "reboot" ? "danger" : ""}`, type: "button", "data-testid": `action-${x}`,
        disabled: busy, onclick: () => p.onAction(x) }, actionName(x)))),
    a ? h("div", { class: `dev-result ${a.state}`, "data-testid": "action-result", "data-action": a.action, "data-state": a.state,
      title: line!.detail },
      h("div", { class: "dev-result-head" }, `${actionName(a.action)} · ${line!.text}`),
      a.state === "done" ? resultView(a.result) : null) : null,
    h("h3", {}, t("dev.channels"), h("span", { class: "count" }, `${d.channels.length} / ${d.catalog_sum ?? "—"}`)),
    d.channels.length ? h("table", { class: "grid dev-channels", "data-testid": "channels" },
      h("thead", {}, h("tr", {}, ...(["dev.ch.name", "dev.ch.status", "dev.ch.camera", "dev.ch.position"] as Key[]).map((k) => h("th", {}, t(k))))),
      h("tbody", {}, ...d.channels.map((c) => {
        // The camera's status (online / offline / fault), or the catalog's ON / OFF.
        const st = ({ on: "online", off: "offline" } as Record<string, string>)[(c.status ?? "").toLowerCase()] ?? (c.status ?? "").toLowerCase();
        return h("tr", { "data-testid": "channel-row", "data-gb-id": c.gb_id },
          h("td", {}, h("div", {}, c.name ?? "—"), h("div", { class: "mono muted" }, c.gb_id)),
          h("td", {}, st ? h("span", { class: `badge ${st === "online" ? "ok" : st === "fault" ? "bad" : "off"}` },
            tOr(`dev.ch.${st}`, st)) : "—"),
          h("td", { class: "mono" }, c.camera_id === null ? "—" : `#${c.camera_id}`,
            c.camera_id === null ? null : h("button", { class: "ghost small", type: "button", "data-testid": "channel-recordings",
              onclick: () => p.onRecordings({ id: c.camera_id!, name: c.name ?? c.gb_id }) }, t("dev.ch.recordings"))),
          h("td", { class: "mono" }, c.lon !== null && c.lat !== null ? `${c.lon.toFixed(6)}, ${c.lat.toFixed(6)}` : t("dev.ch.no_position")));
      }))) : h("div", { class: "panel-empty" }, t("dev.no_channels")),
    h("div", { class: "form-actions dev-manage" },
      h("button", { class: "ghost", type: "button", "data-testid": "edit-device", onclick: p.onEdit }, t("dev.edit")),
      h("button", { class: "ghost danger", type: "button", "data-testid": "delete-device", onclick: p.onDelete }, t("dev.delete"))));
}
