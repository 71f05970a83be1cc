// A refused API call, and how it reads to the user: a sentence in their language for the error's code,
// then the server's own detail (which unit, which field), so "…: 409" never reaches the screen.
import { currentLang, has, t } from "./i18n";

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, readonly detail: string, readonly field?: string) {
    super(detail || `${status}`);
  }
}

/** The ApiError for a non-2xx response: the server's body is {error: {code, message, field}}. */
export async function apiError(r: Response): Promise<ApiError> {
  let body: unknown;
  try { body = await r.json(); } catch { /* not JSON (a proxy's error page) */ }
  return apiErrorOf(r.status, body);
}

/** The same from a body already read (the typed client parses it). */
export function apiErrorOf(status: number, body: unknown): ApiError {
  const j = (body && typeof body === "object" ? body : {}) as { error?: { code?: string; message?: string; field?: string }; detail?: unknown };
  const code = j.error?.code ?? `http_${status}`;
  const detail = j.error?.message ?? (typeof j.detail === "string" ? j.detail : "");
  return new ApiError(status, code, detail, j.error?.field);
}

export function errorText(e: unknown): string {
  if (!(e instanceof ApiError)) return e instanceof Error ? e.message : String(e);
  const key = `err.${e.code}`;
  const head = has(key) ? t(key) : `${t("err.http")} (${e.status})`;
  return e.detail ? `${head}${currentLang() === "en" ? ": " : "："}${e.detail}` : head;
}
