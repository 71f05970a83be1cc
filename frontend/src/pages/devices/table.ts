// The device table, updated in place: a poll every 5 s replaces only the rows whose device changed, so a
// click on a row is never lost to a rebuild (a row replaced between mousedown and mouseup gets no click).
// A keepalive only moves its cell's time; relative times ("12 s ago") are text updates, once a second.
import { h } from "../../dom";
import { t, type Key } from "../../i18n";
import type { Device } from "./api";
import { ago, editionName, kindName, shortTime } from "./format";

const COLUMNS: Key[] = ["dev.col.status", "dev.col.name", "dev.col.gb_id", "dev.col.kind", "dev.col.edition",
  "dev.col.division", "dev.col.transport", "dev.col.address", "dev.col.maker", "dev.col.channels", "dev.col.keepalive"];

export class DeviceTable {
  readonly el: HTMLTableElement;
  private readonly body: HTMLElement;
  private rows = new Map<number, { tr: HTMLElement; sig: string }>();

  constructor(private readonly divName: (code: string | null) => string, private readonly onPick: (d: Device) => void) {
    this.body = h("tbody", {});
    this.el = h("table", { class: "grid dev-table", "data-testid": "device-table" },
      h("thead", {}, h("tr", {}, ...COLUMNS.map((k) => h("th", {}, t(k))))), this.body) as HTMLTableElement;
  }

  /** Show these devices in this order; unchanged rows stay the same elements. */
  update(devices: Device[], selected: number | null): void {
    const keep = new Set<number>();
    const wanted: HTMLElement[] = [];
    for (const d of devices) {
      keep.add(d.id);
      const sig = JSON.stringify({ ...d, last_keepalive_at: null }); // a keepalive alone changes one cell
      let row = this.rows.get(d.id);
      if (!row || row.sig !== sig) {
        const tr = this.row(d);
        if (row) row.tr.replaceWith(tr);
        row = { tr, sig };
        this.rows.set(d.id, row);
      }
      row.tr.classList.toggle("sel", d.id === selected);
      const kept = row.tr.querySelector<HTMLElement>("[data-ago]")!;
      kept.dataset.ago = d.last_keepalive_at ?? "";
      kept.title = shortTime(d.last_keepalive_at);
      wanted.push(row.tr);
    }
    for (const [id, row] of this.rows) if (!keep.has(id)) { row.tr.remove(); this.rows.delete(id); }
    // Move rows only when the order differs (a moved node is detached for an instant).
    const now = [...this.body.children];
    if (now.length !== wanted.length || wanted.some((tr, i) => now[i] !== tr)) this.body.replaceChildren(...wanted);
    this.tick();
  }

  /** Refresh the relative times. */
  tick(): void {
    const now = Date.now();
    this.body.querySelectorAll<HTMLElement>("[data-ago]").forEach((el) => {
      const text = ago(el.dataset.ago || null, now);
      if (el.textContent !== text) el.textContent = text;
    });
  }

  private row(d: Device): HTMLElement {
    const maker = [d.manufacturer, d.model].filter(Boolean).join(" / ") || "—";
    return h("tr", { "data-testid": "device-row", "data-id": d.id, "data-gb-id": d.gb_id, "data-online": String(d.online),
      onclick: () => this.onPick(d) },
      h("td", { class: "dev-status" },
        h("span", { class: `dev-dot ${d.online ? "on" : "off"}` }),
        h("span", { class: d.online ? "dev-on" : "dev-off", "data-testid": "device-state" }, d.online ? t("dev.online") : t("dev.offline")),
        h("div", { class: "muted small" }, `${t("dev.since")} ${shortTime(d.status_since)}`)),
      h("td", {}, h("b", {}, d.name)),
      h("td", { class: "mono" }, d.gb_id),
      h("td", {}, kindName(d.kind)),
      h("td", { class: "nowrap" }, editionName(d.edition)),
      h("td", {}, this.divName(d.division_code)),
      h("td", {}, d.transport ?? "—"),
      h("td", { class: "mono", "data-testid": "device-address" }, d.address ?? "—"),
      h("td", {}, maker),
      h("td", { class: "mono", "data-testid": "device-channels" }, `${d.channel_count} / ${d.catalog_sum ?? "—"}`),
      h("td", { class: "nowrap", "data-ago": d.last_keepalive_at ?? "", title: shortTime(d.last_keepalive_at) },
        ago(d.last_keepalive_at)));
  }
}
