// Form fields, status notes and modal dialogs. Depends on no page chrome, so the top bar's own
// dialogs (access request) use it without an import circle through the desk page frame.
import { h } from "../dom";
import { t, type Key } from "../i18n";
import "./desk.css"; // the modal and form styles

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
