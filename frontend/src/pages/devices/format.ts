// How a device's fields read on the page: kind, standard edition, relative times, an action's refusal.
import { ApiError, errorText } from "../../errors";
import { currentLang, t, type Key } from "../../i18n";
import { tf, tOr } from "../../ui/dx";

export const kindName = (k: string) => tOr(`dev.kind.${k}`, k);
export const editionName = (e: string | null) => (e ? `GB/T 28181-${e}` : "—");
export const actionName = (a: string) => tOr(`dev.act.${a}`, a);

/** "12 s ago" / "3 分钟前"; "never" without a time. Re-evaluated every second by the page's ticker. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return t("dev.never");
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 3) return t("dev.ago.now");
  if (s < 60) return tf("dev.ago.s", { n: s });
  if (s < 3600) return tf("dev.ago.m", { n: Math.floor(s / 60) });
  if (s < 86400) return tf("dev.ago.h", { n: Math.floor(s / 3600) });
  return tf("dev.ago.d", { n: Math.floor(s / 86400) });
}

/** Month, day and time: the wall reads "since" at a glance. */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(currentLang() === "en" ? "en-GB" : "zh-CN", { hour12: false, month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

// The server's reasons for a device it cannot reach (503), read for the user in their language; the
// server's own words stay available as the tooltip.
const REASONS: Array<[RegExp, Key]> = [
  [/time[d ]?\s?out|did not answer|no answer|not answer/i, "dev.reason.timeout"],
  [/offline|not registered|not online|unregistered|not connected/i, "dev.reason.offline"],
];

/** An action's refusal: {text in the user's language, the server's detail}. */
export function refusal(e: unknown): { text: string; detail: string } {
  if (e instanceof ApiError && e.status === 503) {
    const hit = REASONS.find(([re]) => re.test(e.detail));
    return { text: t(hit ? hit[1] : "dev.reason.unreachable"), detail: e.detail };
  }
  return { text: errorText(e), detail: e instanceof ApiError ? e.detail : "" };
}
