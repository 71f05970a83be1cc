// A watchlist (布控) alarm as the wall shows it: the plate, the checkpoint, the direction, the pass's image, the
// next checkpoints to intercept at (by driving time, those traffic from here goes to first) and the free units
// that reach each before the vehicle;
// and the checkpoint image as an <img> (the image API wants the bearer header, which an <img> cannot send:
// fetched with it and shown through a blob URL, a few kept per page).
import { api, authFetch, ok, type Schemas } from "../api/client";
import { h } from "../dom";
import { t } from "../i18n";
import { fmtEta, fmtTime, tf } from "./dx";
import "./watchlist_alarm.css";

export type Alarm = Schemas["WatchlistAlarmDetail"];

const KEPT = 40;
const urls = new Map<string, Promise<string | null>>();

function imageUrl(sha: string): Promise<string | null> {
  let u = urls.get(sha);
  if (!u) {
    u = authFetch(`/api/v1/viid/images/${sha}`).then(async (r) => (r.ok ? URL.createObjectURL(await r.blob()) : null))
      .catch(() => null);
    urls.set(sha, u);
    if (urls.size > KEPT) { // the oldest goes (a Map keeps insertion order)
      const [old, p] = urls.entries().next().value as [string, Promise<string | null>];
      urls.delete(old);
      void p.then((x) => x && URL.revokeObjectURL(x));
    }
  }
  return u;
}

/** The pass's image, filled in when it arrives (nothing shown when the caller may not see it). */
export function alarmImage(sha: string | null | undefined, cls = "wla-img"): HTMLElement | null {
  if (!sha) return null;
  const img = h("img", { class: cls, alt: "", "data-testid": "alarm-image" }) as HTMLImageElement;
  img.hidden = true;
  void imageUrl(sha).then((u) => { if (u) { img.src = u; img.hidden = false; } });
  return img;
}

/** The wall's card for the latest alarm; replaced by the next one, closed by hand. */
export class WallAlarmCard {
  readonly el = h("div", { class: "wla-box" });
  private latest = 0;

  async show(incidentId: number): Promise<void> {
    this.latest = incidentId;
    let a: Alarm;
    try {
      a = await ok(api.GET("/api/v1/watchlists/alarms/{incident_id}", { params: { path: { incident_id: incidentId } } }));
    } catch { return; } // not this caller's to see: the incident panel alone
    if (this.latest !== incidentId) return;
    this.draw(a);
  }

  private draw(a: Alarm): void {
    const row = (k: Parameters<typeof t>[0], v: string | null | undefined) =>
      h("div", { class: "wla-row" }, h("span", { class: "wla-k" }, t(k)), h("span", { class: "wla-v" }, v || "—"));
    this.el.replaceChildren(h("section", { class: "wla-card", "data-testid": "wall-alarm", "data-incident": a.incident_id,
      "data-plate": a.plate_no ?? "" },
      h("header", {}, h("span", { class: "wla-title" }, t("wl.alarm_title")),
        h("span", { class: "wla-plate" }, a.plate_no ?? "—"),
        h("button", { class: "ip-close", type: "button", "aria-label": t("incident.close"),
          onclick: () => this.el.replaceChildren() }, "×")),
      alarmImage(a.image_sha256),
      row("wl.col.checkpoint", a.tollgate_name ?? a.tollgate_id),
      row("wl.col.direction", a.direction),
      row("wl.col.time", fmtTime(a.pass_time, true)),
      nextCheckpoints(a),
      h("a", { class: "wla-link", href: `/dispatch?incident=${a.incident_id}` }, tf("wl.open_incident", { id: a.incident_id }))));
  }
}

/** The checkpoints to intercept at, with the driving time from the hit and the units that get there first. */
function nextCheckpoints(a: Alarm): HTMLElement | null {
  if (!a.next_checkpoints.length) return null;
  return h("div", { class: "wla-next", "data-testid": "alarm-next" },
    h("span", { class: "wla-k" }, t("wl.next_checkpoints")),
    h("ol", {}, ...a.next_checkpoints.map((c) => h("li", { "data-tollgate": c.tollgate_id },
      `${c.name ?? c.tollgate_id} · ${fmtEta(c.eta_s)}`,
      h("div", { class: "wla-units", "data-testid": "alarm-interceptors" }, c.units.length
        ? `${t("wl.intercept")}${c.units.map((u) => `${u.callsign} (${fmtEta(u.eta_s)})`).join(", ")}`
        : t("wl.no_interceptor"))))));
}
