// Helpers of the desk pages (planning, administration, audit): API calls that surface the server's
// message, downloads with the bearer token, modal dialogs, form fields and a page frame without a map.
import { accessToken, refresh } from "../auth";
import { apiError } from "../errors";
import { h } from "../dom";
import { currentLang, onLangChange, t, type Key } from "../i18n";
import { topBar } from "./chrome";
import "./desk.css";

/** fetch with the session's token; JSON in and out; a 4xx/5xx throws with the server's own message. */
export async function call<T>(path: string, method = "GET", body?: unknown): Promise<T> {
  const go = () => fetch(path, {
    method,
    headers: { Authorization: `Bearer ${accessToken()}`, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  let r = await go();
  if (r.status === 401 && (await refresh())) r = await go();
  if (!r.ok) throw await apiError(r);
  return r.status === 204 ? (undefined as T) : ((await r.json()) as T);
}

/** Download a protected file: fetched with the token, saved through a blob URL (same origin). */
export async function download(path: string, filename: string): Promise<void> {
  let r = await fetch(path, { headers: { Authorization: `Bearer ${accessToken()}` } });
  if (r.status === 401 && (await refresh())) r = await fetch(path, { headers: { Authorization: `Bearer ${accessToken()}` } });
  if (!r.ok) throw await apiError(r);
  const url = URL.createObjectURL(await r.blob());
  const a = h("a", { href: url, download: filename, style: "display:none" });
  document.body.append(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Translation of a key built from server data (a status, a kind): the raw value when unknown. */
export function tr(key: string, fallback: string): string {
  try { return t(key as Key) ?? fallback; } catch { return fallback; }
}

export { errorText } from "../errors";

/** A status line under a form: ok (green) or error (red). */
export function note(el: HTMLElement, text: string, kind: "ok" | "error" | "" = ""): void {
  el.textContent = text;
  el.className = `note ${kind ? `note-${kind}` : ""}`;
}

export function field(label: Key, input: HTMLElement): HTMLElement {
  return h("label", { class: "field" }, h("span", {}, t(label)), input);
}

export function select(name: string, options: Array<[string, string]>, value?: string): HTMLSelectElement {
  const s = h("select", { name }) as HTMLSelectElement;
  for (const [v, label] of options) s.append(h("option", { value: v }, label));
  if (value !== undefined) s.value = value;
  return s;
}

export function input(name: string, attrs: Record<string, string | number | boolean> = {}): HTMLInputElement {
  return h("input", { name, ...attrs }) as HTMLInputElement;
}

/** A modal dialog on top of everything (outside the page chrome, so re-renders never close it). */
export function modal(title: string, body: HTMLElement, testid: string): { close: () => void } {
  const close = () => back.remove();
  const back = h("div", { class: "modal-back", "data-testid": testid },
    h("div", { class: "modal", role: "dialog", "aria-modal": "true" },
      h("header", {}, h("span", {}, title), h("button", { class: "modal-x", type: "button", "aria-label": "close", onclick: close }, "×")),
      body));
  back.addEventListener("mousedown", (ev) => { if (ev.target === back) close(); });
  document.body.append(back);
  (body.querySelector("input, select, textarea") as HTMLElement | null)?.focus();
  return { close };
}

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
