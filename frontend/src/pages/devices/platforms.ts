// The 上级平台 / Upper platforms tab of /devices (GB/T 28181 cascade, this platform as the lower one): the
// configured upper platforms with their link state (registered / registering / offline / disabled, since,
// last keepalive, the last error), add, edit and delete in a dialog. The password is sent, never shown.
import { api, ok, type Schemas } from "../../api/client";
import { h } from "../../dom";
import { localName } from "../../i18n";
import { tp, type PlatformKey } from "../../i18n_platforms";
import { errorText, input, modal, note, select } from "../../ui/desk";
import type { Div } from "./api";
import { ago, shortTime } from "./format";
import { confirmDialog } from "./forms";
import "./platforms.css";

export type Platform = Schemas["Platform"];
type PlatformIn = Schemas["PlatformCreate"];
type PlatformPatch = Schemas["PlatformUpdate"];
const KINDS = ["fixed", "ptz", "dome"] as const;

const listPlatforms = async (): Promise<Platform[]> => (await ok(api.GET("/api/v1/platforms"))).platforms;
const at = (id: number) => ({ params: { path: { platform_id: id } } });

const label = (key: PlatformKey, el: HTMLElement) => h("label", { class: "field" }, h("span", {}, tp(key)), el);
const check = (name: string, on: boolean) => input(name, { type: "checkbox", ...(on ? { checked: true } : {}) });

export class PlatformsTab {
  readonly el = h("section", { class: "card", "data-testid": "platforms" });
  private items: Platform[] = [];
  private error = "";
  private sig = "";

  constructor(private divisions: () => Div[], private say: (text: () => string, kind?: "ok" | "error") => void) {}

  async load(): Promise<void> {
    try { this.items = await listPlatforms(); this.error = ""; } catch (e) { this.error = `${tp("pl.load_failed")}: ${errorText(e)}`; }
    const sig = JSON.stringify([this.items, this.error]);
    if (sig !== this.sig) { this.sig = sig; this.draw(); }
  }

  private divName(code: string): string {
    const d = this.divisions().find((x) => x.code === code);
    return d ? localName(d.name, d.name_en) : code;
  }

  draw(): void {
    const rows = this.items.map((p) => h("tr", { "data-testid": `platform-${p.sip_id}` },
      h("td", { class: "dev-status" },
        h("span", { class: `pl-badge pl-${p.link_state}`, "data-testid": "platform-state" }, tp(`pl.state.${p.link_state}` as PlatformKey)),
        h("div", { class: "muted small" }, shortTime(p.link_since)),
        ...(p.last_error ? [h("div", { class: "note-error small", "data-testid": "platform-error" }, p.last_error)] : [])),
      h("td", {}, p.name),
      h("td", { class: "mono" }, p.sip_id, h("div", { class: "muted small" }, p.domain)),
      h("td", { class: "mono" }, `${p.transport.toUpperCase()} ${p.host}:${p.port}`),
      h("td", {}, p.share_divisions.length
        ? tp("pl.share", { divs: p.share_divisions.map((c) => this.divName(c)).join("、"), sec: p.share_max_secrecy })
        : tp("pl.nothing")),
      h("td", { "data-ago": p.last_keepalive_at ?? "" }, ago(p.last_keepalive_at)),
      h("td", { class: "nowrap" },
        h("button", { class: "ghost", type: "button", "data-testid": "platform-edit", onclick: () => this.form(p) }, tp("pl.edit")),
        h("button", { class: "ghost danger", type: "button", "data-testid": "platform-delete", onclick: () => this.remove(p) },
          tp("pl.delete")))));
    this.el.replaceChildren(
      h("h2", {}, tp("pl.title"), h("span", { class: "spacer" }),
        h("button", { class: "primary", type: "button", "data-testid": "platform-add", onclick: () => this.form(null) }, tp("pl.add"))),
      h("p", { class: "muted small" }, tp("pl.intro")),
      ...(this.error ? [h("div", { class: "note note-error" }, this.error)] : []),
      this.items.length
        ? h("div", { class: "dev-scroll" }, h("table", { class: "grid", "data-testid": "platform-table" },
          h("thead", {}, h("tr", {}, ...(["state", "name", "sip", "address", "share", "keepalive"] as const)
            .map((c) => h("th", {}, tp(`pl.col.${c}`))), h("th", {}))),
          h("tbody", {}, ...rows)))
        : h("div", { class: "panel-empty", "data-testid": "platforms-empty" }, tp("pl.empty")));
  }

  private remove(p: Platform): void {
    confirmDialog(tp("pl.confirm_delete", { name: p.name }), tp("pl.delete"), async () => {
      try {
        await ok(api.DELETE("/api/v1/platforms/{platform_id}", at(p.id)));
        this.say(() => tp("pl.deleted", { name: p.name }));
      } catch (e) { this.say(() => errorText(e), "error"); }
      await this.load();
    });
  }

  /** Add (``p`` null) or edit: every field of the configuration and the sharing rule. */
  private form(p: Platform | null): void {
    const name = input("name", { maxlength: 200, value: p?.name ?? "" });
    const sipId = input("sip_id", { maxlength: 20, inputmode: "numeric", value: p?.sip_id ?? "", placeholder: "44010000002000000001" });
    const domain = input("domain", { maxlength: 20, value: p?.domain ?? "", placeholder: "4401000000" });
    const host = input("host", { maxlength: 255, value: p?.host ?? "" });
    const port = input("port", { type: "number", min: 1, max: 65535, value: p?.port ?? 5060 });
    const transport = select("transport", [["udp", "UDP"], ["tcp", "TCP"]], p?.transport ?? "udp");
    const password = input("password", { type: "password", maxlength: 64, autocomplete: "new-password" });
    const localId = input("local_id", { maxlength: 20, inputmode: "numeric", value: p?.local_id ?? "" });
    const expires = input("register_expires_s", { type: "number", min: 60, max: 86400, value: p?.register_expires_s ?? 3600 });
    const keepalive = input("keepalive_s", { type: "number", min: 1, max: 3600, value: p?.keepalive_s ?? 60 });
    const misses = input("keepalive_misses", { type: "number", min: 1, max: 10, value: p?.keepalive_misses ?? 3 });
    const charset = select("charset", [["GB2312", "GB2312"], ["UTF-8", "UTF-8"]], p?.charset ?? "GB2312");
    const enabled = check("enabled", p?.enabled ?? true);
    const divs = h("select", { name: "share_divisions", multiple: true, size: 8 }) as HTMLSelectElement;
    for (const d of this.divisions()) {
      divs.append(h("option", { value: d.code, ...(p?.share_divisions.includes(d.code) ? { selected: true } : {}) },
        `${"\u00a0\u00a0".repeat(Math.max(0, d.level - 1))}${localName(d.name, d.name_en)} · ${d.code}`));
    }
    const secrecy = input("share_max_secrecy", { type: "number", min: 0, max: 9, value: p?.share_max_secrecy ?? 0 });
    const kinds = KINDS.map((k) => [k, check(`kind_${k}`, p?.share_kinds?.includes(k) ?? false)] as const);
    const classes = [1, 2, 3].map((c) => [c, check(`class_${c}`, p?.share_classes?.includes(c as 1 | 2 | 3) ?? false)] as const);
    const positions = check("relay_positions", p?.relay_positions ?? false);
    const alarms = check("relay_alarms", p?.relay_alarms ?? false);
    const msg = h("div", { class: "note", "data-testid": "platform-msg" });
    const inline = (el: HTMLElement, text: string) => h("label", { class: "inline" }, el, " ", text);
    const form = h("form", { class: "form", novalidate: true, "data-testid": "platform-form" },
      h("div", { class: "form-grid" }, label("pl.f.name", name), label("pl.f.sip_id", sipId)),
      h("div", { class: "form-grid" }, label("pl.f.domain", domain), label("pl.f.host", host)),
      h("div", { class: "form-grid" }, label("pl.f.port", port), label("pl.f.transport", transport)),
      h("div", { class: "form-grid" }, label(p ? "pl.f.password_keep" : "pl.f.password", password), label("pl.f.local_id", localId)),
      h("div", { class: "form-grid" }, label("pl.f.expires", expires), label("pl.f.keepalive", keepalive)),
      h("div", { class: "form-grid" }, label("pl.f.misses", misses), label("pl.f.charset", charset)),
      label("pl.f.divisions", divs),
      h("div", { class: "form-grid" }, label("pl.f.secrecy", secrecy),
        label("pl.f.kinds", h("div", {}, ...kinds.map(([k, el]) => inline(el, tp(`pl.kind.${k}`)))))),
      label("pl.f.classes", h("div", {}, ...classes.map(([c, el]) => inline(el, tp("pl.class", { n: c }))))),
      h("div", {}, inline(enabled, tp("pl.f.enabled")), inline(positions, tp("pl.f.positions")), inline(alarms, tp("pl.f.alarms"))),
      h("div", { class: "form-actions" }, h("button", { class: "primary", type: "submit" }, tp("pl.f.submit"))), msg) as HTMLFormElement;
    const dlg = modal(p ? `${tp("pl.edit")} · ${p.name}` : tp("pl.add"), form, "platform-dialog");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const id = sipId.value.trim();
      if (!/^\d{20}$/.test(id) || (localId.value.trim() && !/^\d{20}$/.test(localId.value.trim()))) {
        note(msg, tp("pl.f.bad_id"), "error"); return;
      }
      if (!name.value.trim() || !host.value.trim() || (!p && !password.value)) { note(msg, tp("pl.f.missing"), "error"); return; }
      const picked = <T>(list: ReadonlyArray<readonly [T, HTMLInputElement]>) => {
        const on = list.filter(([, el]) => el.checked).map(([v]) => v);
        return on.length ? on : null;
      };
      const body = {
        name: name.value.trim(), sip_id: id, domain: domain.value.trim() || id.slice(0, 10), host: host.value.trim(),
        port: Number(port.value), transport: transport.value as "udp" | "tcp", local_id: localId.value.trim() || null,
        register_expires_s: Number(expires.value), keepalive_s: Number(keepalive.value), keepalive_misses: Number(misses.value),
        charset: charset.value as "GB2312" | "UTF-8", enabled: enabled.checked,
        share_divisions: [...divs.selectedOptions].map((o) => o.value), share_max_secrecy: Number(secrecy.value),
        share_kinds: picked(kinds), share_classes: picked(classes) as Array<1 | 2 | 3> | null,
        relay_positions: positions.checked, relay_alarms: alarms.checked,
      };
      try {
        if (p) {
          const patch: PlatformPatch = { ...body, ...(password.value ? { password: password.value } : {}) };
          await ok(api.PATCH("/api/v1/platforms/{platform_id}", { ...at(p.id), body: patch }));
        } else {
          const { local_id, share_kinds, share_classes, ...rest } = body;
          const create: PlatformIn = { ...rest, password: password.value, ...(local_id ? { local_id } : {}),
            ...(share_kinds ? { share_kinds } : {}), ...(share_classes ? { share_classes } : {}) };
          await ok(api.POST("/api/v1/platforms", { body: create }));
        }
        dlg.close();
        this.say(() => tp("pl.saved"));
        await this.load();
      } catch (e) { note(msg, errorText(e), "error"); }
    });
  }
}
