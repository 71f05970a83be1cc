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
  let code = `http_${r.status}`, detail = "", field: string | undefined;
  try {
    const j = await r.json();
    code = j?.error?.code ?? code;
    detail = j?.error?.message ?? (typeof j?.detail === "string" ? j.detail : "");
    field = j?.error?.field;
  } catch { /* not JSON (a proxy's error page) */ }
  return new ApiError(r.status, code, detail, field);
}

export function errorText(e: unknown): string {
  if (!(e instanceof ApiError)) return e instanceof Error ? e.message : String(e);
  const key = `err.${e.code}`;
  const head = has(key) ? t(key) : `${t("err.http")} (${e.status})`;
  return e.detail ? `${head}${currentLang() === "en" ? ": " : "："}${e.detail}` : head;
}
