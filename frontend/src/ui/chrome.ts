// Page chrome shared by all pages: top bar (brand, page, clock, connection, language), legend, attribution.
import type { ConnState } from "../live";
import { h } from "../dom";
import { currentLang, setLang, t, type Key } from "../i18n";
import { logout } from "../auth";
import { CAMERA_STATUS, COVERAGE, css, DIVISION_LINE, PRIORITY, TARGET, UNIT_STATUS } from "../map/colors";
import { iconSvg } from "../map/icons";
import { GREEN, RAIL, WATER } from "../map/base_style";
import { accessRequestButton } from "./access";

export function topBar(pageKey: Key, conn: ConnState): HTMLElement {
  const clock = h("div", { class: "clock", "data-testid": "clock" }, clockText());
  return h("header", { class: "topbar" },
    h("div", { class: "brand" }, h("span", { class: "brand-mark" }), h("span", {}, t("app.name"))),
    h("div", { class: "page-title" }, t(pageKey)),
    h("div", { class: "topbar-right" },
      h("div", { class: `conn conn-${conn}`, "data-testid": "conn", "data-state": conn },
        h("span", { class: "conn-dot" }), t(`conn.${conn}` as Key)),
      clock,
      h("button", { class: "lang", "data-testid": "lang", onclick: () => setLang(currentLang() === "en" ? "zh-CN" : "en") },
        t("lang.switch")),
      accessRequestButton(),
      h("button", { class: "logout", onclick: () => logout() }, t("logout"))));
}

function clockText(): string {
  return new Date().toLocaleString(currentLang() === "en" ? "en-GB" : "zh-CN", { hour12: false,
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

// One timer for the page; the top bar is rebuilt on changes and simply picks up the element.
window.setInterval(() => document.querySelectorAll(".clock").forEach((el) => { el.textContent = clockText(); }), 1000);

function swatch(color: string, shape: "dot" | "box" | "line" = "dot"): HTMLElement {
  return h("span", { class: `sw sw-${shape}`, style: `--c:${color}` });
}

function icon(name: "cls1" | "cls2" | "cls3" | "arrow", color: string): HTMLElement {
  const el = h("span", { class: "sw-icon" });
  el.innerHTML = iconSvg(name, color);
  return el;
}

export function legend(): HTMLElement {
  const row = (mark: HTMLElement, key: Key) => h("div", { class: "lg-row" }, mark, h("span", {}, t(key)));
  return h("aside", { class: "legend", "data-testid": "legend" },
    h("div", { class: "lg-title" }, t("legend.title")),
    row(swatch(css(CAMERA_STATUS[0])), "legend.online"),
    row(swatch(css(CAMERA_STATUS[1])), "legend.offline"),
    row(swatch(css(CAMERA_STATUS[2])), "legend.fault"),
    row(icon("cls1", "#cfd8e6"), "legend.cls1"),
    row(icon("cls2", "#cfd8e6"), "legend.cls2"),
    row(icon("cls3", "#cfd8e6"), "legend.cls3"),
    row(swatch(css([...COVERAGE.unknown.slice(0, 3), 160] as never), "box"), "legend.key_area"),
    row(swatch(css(DIVISION_LINE), "line"), "legend.division"),
    row(icon("arrow", css(TARGET)), "legend.target"),
    row(swatch(css(PRIORITY[0])), "legend.incident"),
    row(swatch(css(UNIT_STATUS.available)), "legend.unit"),
    row(swatch(css(WATER), "box"), "legend.water"),
    row(swatch(css(GREEN), "box"), "legend.green"),
    row(swatch(css(RAIL), "line"), "legend.rail"));
}

export function attribution(): HTMLElement {
  return h("div", { class: "attribution", "data-testid": "attribution" }, "© OpenStreetMap contributors");
}
