// Tokens in localStorage; the access token is refreshed before it expires and on a 401 (api/client.ts).
// Login and refresh use plain fetch: they are what gives the typed client its token.
import { h } from "./dom";
import type { components } from "./api/schema";
import { currentLang, setLang, t } from "./i18n";

const KEY = "se.tokens";
interface Tokens { access_token: string; refresh_token: string; expires_at: number }
let refreshTimer: number | undefined;

function load(): Tokens | null {
  try { return JSON.parse(localStorage.getItem(KEY) ?? "null"); } catch { return null; }
}

function store(tok: components["schemas"]["TokenOut"]): void {
  const value: Tokens = { ...tok, expires_at: Date.now() + tok.expires_in * 1000 };
  localStorage.setItem(KEY, JSON.stringify(value));
  schedule(value);
}

function schedule(tok: Tokens): void {
  window.clearTimeout(refreshTimer);
  const inMs = Math.max(5_000, tok.expires_at - Date.now() - 60_000);
  refreshTimer = window.setTimeout(() => void refresh(), inMs);
}

export function accessToken(): string | null {
  return load()?.access_token ?? null;
}

export async function refresh(): Promise<boolean> {
  const tok = load();
  if (!tok) return false;
  try {
    const r = await fetch("/api/v1/auth/refresh", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: tok.refresh_token }),
    });
    if (r.status === 401) { localStorage.removeItem(KEY); return false; }
    if (!r.ok) return false;
    store(await r.json());
    return true;
  } catch {
    return false; // server down: keep the tokens and try again later
  }
}

export function logout(callServer = true): void {
  const tok = accessToken();
  if (callServer && tok) void fetch("/api/v1/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${tok}` } });
  localStorage.removeItem(KEY);
  location.reload();
}

export function startSession(): boolean {
  const tok = load();
  if (!tok) return false;
  if (tok.expires_at - Date.now() < 60_000) void refresh(); else schedule(tok);
  return true;
}

export function loginForm(onDone: () => void): HTMLElement {
  const user = h("input", { name: "username", autocomplete: "username", required: true }) as HTMLInputElement;
  const pass = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true }) as HTMLInputElement;
  const msg = h("div", { class: "login-msg", role: "alert" });
  const form = h("form", { class: "login-card" },
    h("div", { class: "login-brand" }, h("span", { class: "brand-mark" }), t("app.name")),
    h("h1", {}, t("login.title")),
    h("label", {}, t("login.username"), user),
    h("label", {}, t("login.password"), pass),
    h("button", { type: "submit" }, t("login.submit")),
    msg) as HTMLFormElement;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    msg.textContent = "";
    try {
      const r = await fetch("/api/v1/auth/login", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: user.value, password: pass.value }),
      });
      if (r.ok) { store(await r.json()); onDone(); return; }
      msg.textContent = t("login.failed"); // a locked account answers alike: no account probing
    } catch {
      msg.textContent = t("login.error");
    }
  });
  return h("div", { class: "login-page" },
    h("button", { class: "lang login-lang", "data-testid": "lang", type: "button",
      onclick: () => setLang(currentLang() === "en" ? "zh-CN" : "en") }, t("lang.switch")),
    form,
    h("div", { class: "attribution" }, "© OpenStreetMap contributors"));
}
