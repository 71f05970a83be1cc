// Strings of the upper platforms tab of /devices (GB/T 28181 cascade, 上级平台): [zh-CN, en].
// Looked up with tp(), which follows the page's language like t() does.
import { currentLang } from "./i18n";

export const PLATFORMS_DICT = {
  "pl.tab": ["上级平台", "Upper platforms"],
  "pl.title": ["上级平台（级联）", "Upper platforms (cascade)"],
  "pl.intro": ["本平台作为下级，向这些上级平台注册并按共享规则提供目录。",
    "This platform registers to these upper platforms as a lower one and shares its catalog by each rule."],
  "pl.empty": ["尚未配置上级平台", "No upper platform configured"],
  "pl.add": ["添加上级平台", "Add an upper platform"],
  "pl.edit": ["编辑", "Edit"],
  "pl.delete": ["删除", "Delete"],
  "pl.confirm_delete": ["删除上级平台「{name}」？本平台将注销（Expires: 0）。",
    "Delete upper platform \"{name}\"? This platform unregisters from it (Expires: 0)."],
  "pl.deleted": ["已删除上级平台 {name}", "Upper platform {name} deleted"],
  "pl.saved": ["已保存", "Saved"],
  "pl.load_failed": ["上级平台列表刷新失败", "Could not refresh the upper platforms"],
  "pl.col.state": ["链路", "Link"],
  "pl.col.name": ["名称", "Name"],
  "pl.col.sip": ["SIP 编码 / 域", "SIP ID / domain"],
  "pl.col.address": ["地址", "Address"],
  "pl.col.share": ["共享", "Shared"],
  "pl.col.keepalive": ["最近心跳", "Last keepalive"],
  "pl.state.registered": ["已注册", "Registered"],
  "pl.state.registering": ["注册中", "Registering"],
  "pl.state.offline": ["离线", "Offline"],
  "pl.state.disabled": ["已停用", "Disabled"],
  "pl.share": ["{divs}，密级 ≤ {sec}", "{divs}, secrecy ≤ {sec}"],
  "pl.nothing": ["不共享", "nothing"],
  "pl.f.name": ["名称", "Name"],
  "pl.f.sip_id": ["上级 SIP 编码（20 位）", "Upper SIP ID (20 digits)"],
  "pl.f.domain": ["上级 SIP 域", "Upper SIP domain"],
  "pl.f.host": ["上级地址", "Upper address"],
  "pl.f.port": ["端口", "Port"],
  "pl.f.transport": ["传输", "Transport"],
  "pl.f.password": ["密码", "Password"],
  "pl.f.password_keep": ["密码（留空则不变）", "Password (empty: unchanged)"],
  "pl.f.local_id": ["本平台注册编码（留空：本平台 SIP 编码）", "Register as (empty: this platform's SIP ID)"],
  "pl.f.expires": ["注册有效期（秒）", "Registration period (s)"],
  "pl.f.keepalive": ["心跳周期（秒）", "Keepalive period (s)"],
  "pl.f.misses": ["心跳超时次数", "Keepalives missed before offline"],
  "pl.f.charset": ["字符集", "Character set"],
  "pl.f.enabled": ["启用", "Enabled"],
  "pl.f.divisions": ["共享辖区（可多选）", "Shared divisions (several allowed)"],
  "pl.f.secrecy": ["最高密级", "Highest secrecy"],
  "pl.f.kinds": ["摄像机类型（不选：全部）", "Camera kinds (none: all)"],
  "pl.f.classes": ["摄像机类别（不选：全部）", "Camera classes (none: all)"],
  "pl.f.positions": ["转发位置", "Relay positions"],
  "pl.f.alarms": ["转发报警", "Relay alarms"],
  "pl.f.submit": ["保存", "Save"],
  "pl.f.bad_id": ["SIP 编码须为 20 位数字", "The SIP ID must be 20 digits"],
  "pl.f.missing": ["请填写名称、地址和密码", "Give a name, an address and a password"],
  "pl.kind.fixed": ["枪机", "Fixed"],
  "pl.kind.ptz": ["云台", "PTZ"],
  "pl.kind.dome": ["球机", "Dome"],
  "pl.class": ["{n} 类", "Class {n}"],
} as const;

export type PlatformKey = keyof typeof PLATFORMS_DICT;

/** The text of ``key`` in the current language, ``{name}`` placeholders filled from ``vars``. */
export function tp(key: PlatformKey, vars: Record<string, string | number> = {}): string {
  const text: string = PLATFORMS_DICT[key][currentLang() === "en" ? 1 : 0];
  return text.replace(/\{(\w+)\}/g, (m, k: string) => (k in vars ? String(vars[k]) : m));
}
