// Small helpers shared by the dispatch console, the wall's call-up and the officer's phone.
import { currentLang, t, type Key } from "../i18n";

export function tf(key: Key, vars: Record<string, string | number>): string {
  return t(key).replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? ""));
}

/** Seconds → "3 分 20 秒" / "3 min 20 s"; null (unreachable or unknown) is never shown as zero. */
export function fmtEta(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return t("dx.eta_unknown");
  const m = Math.floor(s / 60), r = Math.round(s % 60);
  return m ? tf("dx.eta_ms", { m, s: r }) : tf("dx.eta_s", { s: r });
}

export function fmtDist(m: number | null | undefined): string {
  if (m === null || m === undefined) return "—";
  return m >= 1000 ? `${(m / 1000).toFixed(2)} km` : `${Math.round(m)} m`;
}

export function fmtTime(iso: string | number | null | undefined, withDate = false): string {
  if (iso === null || iso === undefined) return "—";
  const d = typeof iso === "number" ? new Date(iso * 1000) : new Date(iso);
  return d.toLocaleString(currentLang() === "en" ? "en-GB" : "zh-CN", { hour12: false, hour: "2-digit", minute: "2-digit",
    second: "2-digit", ...(withDate ? { month: "2-digit", day: "2-digit" } : {}) });
}

export function typeName(inc: { type: string; type_zh?: string | null; type_en?: string | null }, types?: TypeMap): string {
  const zh = inc.type_zh ?? types?.[inc.type]?.zh, en = inc.type_en ?? types?.[inc.type]?.en;
  return (currentLang() === "en" ? en || zh : zh || en) || inc.type;
}

export type TypeMap = Record<string, { zh: string; en: string }>;

/** A translated string for a key built from data (a status), or the fallback when there is none. */
export function tOr(key: string, fallback: string): string {
  try { return t(key as Key) ?? fallback; } catch { return fallback; }
}

export function dispatchStatus(s: string): string {
  return tOr(`dx.d_${s}`, s);
}

/** Offset a lon/lat by metres east/north (small distances). */
export function offset(lon: number, lat: number, east: number, north: number): [number, number] {
  return [lon + east / (111_320 * Math.cos((lat * Math.PI) / 180)), lat + north / 110_540];
}
