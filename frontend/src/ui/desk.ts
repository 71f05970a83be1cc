// Helpers of the desk pages (planning, administration, audit): labels, times, roles and a page frame
// without a map; form fields and dialogs live in ./form (the top bar's access request uses them too).
import { h } from "../dom";
import { currentLang, onLangChange, t, type Key } from "../i18n";
import { topBar } from "./chrome";
import "./desk.css";

/** Translation of a key built from server data (a status, a kind): the raw value when unknown. */
export function tr(key: string, fallback: string): string {
  try { return t(key as Key) ?? fallback; } catch { return fallback; }
}

export { errorText } from "../errors";
export { download } from "../api/client";
export { field, input, modal, note, select } from "./form";

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(currentLang() === "en" ? "en-GB" : "zh-CN", { hour12: false,
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** datetime-local value → ISO with the browser's offset (the API wants aware datetimes). */
export function localToIso(v: string): string | null {
  if (!v) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

export function isoToLocal(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export const ROLE_NAMES = ["admin", "commander", "dispatcher", "planner", "officer", "auditor"] as const;
export function roleLabel(role: string): string {
  return (ROLE_NAMES as readonly string[]).includes(role) ? t(`role.${role}` as Key) : role;
}

/**
 * A page without a map (administration, audit): the common top bar and a scrolling work area.
 * `render` rebuilds the work area's content; it is called again on a language switch.
 */
export function mountDeskPage(root: HTMLElement, pageKey: Key, className: string,
                              render: (main: HTMLElement) => void): { rerender: () => void } {
  root.className = `page desk ${className}`;
  const bar = h("div", { class: "desk-bar" });
  const main = h("main", { class: "desk-main" });
  root.replaceChildren(bar, main);
  const rerender = () => {
    bar.replaceChildren(topBar(pageKey, "live"));
    render(main);
  };
  onLangChange(rerender);
  rerender();
  return { rerender };
}
