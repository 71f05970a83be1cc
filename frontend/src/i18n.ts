// Every visible string of the frontend, in zh-CN (default) and English.
import { DEVICES_DICT } from "./i18n_devices";
import { DISPATCH_DICT } from "./i18n_dispatch";
import { PLANNING_DICT } from "./i18n_planning";
import { RECORDINGS_DICT } from "./i18n_recordings";
import { WATCHLISTS_DICT } from "./i18n_watchlists";

export type Lang = "zh-CN" | "en";

const DICT = {
  "app.name": ["雪亮工程 GIS 指挥平台", "SharpEyes GIS Command"],
  "app.short": ["雪亮", "SharpEyes"],
  "page.wall": ["态势大屏", "Situation wall"],
  "page.dispatch": ["应急调度", "Dispatch"],
  "page.planning": ["规划分析", "Planning"],
  "page.m": ["移动警务", "Field"],
  "page.admin": ["系统管理", "Administration"],
  "page.audit": ["审计", "Audit"],
  "login.title": ["登录", "Sign in"],
  "login.username": ["用户名", "Username"],
  "login.password": ["密码", "Password"],
  "login.submit": ["登录", "Sign in"],
  "login.failed": ["用户名或密码错误（连续错误 5 次将锁定 15 分钟）", "Wrong username or password (5 failures lock the account for 15 minutes)"],
  "login.locked": ["账户已锁定，请稍后再试", "Account locked, try again later"],
  "login.error": ["无法连接服务器", "Cannot reach the server"],
  "logout": ["退出", "Sign out"],
  "lang.switch": ["English", "中文"],
  "conn.connecting": ["连接中", "Connecting"],
  "conn.live": ["实时", "Live"],
  "conn.reconnecting": ["重连中", "Reconnecting"],
  "conn.expired": ["授权已过期", "Grant expired"],
  "kpi.cameras": ["摄像机", "Cameras"],
  "kpi.online_rate": ["完好率", "Online rate"],
  "kpi.networked_rate": ["联网率", "Networked"],
  "kpi.hd_ratio": ["高清率", "HD ratio"],
  "kpi.key_areas": ["重点区域", "Key areas"],
  "kpi.key_area_reach_rate": ["重点区域覆及率", "Key areas reached"],
  "kpi.no_data": ["无数据", "no data"],
  "kpi.open_incidents": ["在办警情", "Open incidents"],
  "kpi.units_available": ["可用警力", "Units available"],
  "legend.title": ["图例", "Legend"],
  "legend.online": ["在线", "Online"],
  "legend.offline": ["离线", "Offline"],
  "legend.fault": ["故障", "Fault"],
  "legend.cls1": ["一类点位", "Class I"],
  "legend.cls2": ["二类点位", "Class II"],
  "legend.cls3": ["三类点位", "Class III"],
  "legend.key_area": ["重点区域", "Key area"],
  "legend.division": ["行政区划", "Division"],
  "legend.target": ["移动目标", "Moving target"],
  "legend.incident": ["警情", "Incident"],
  "legend.unit": ["警力", "Unit"],
  "legend.water": ["水域", "Water"],
  "legend.green": ["绿地/公园", "Park / green"],
  "legend.rail": ["铁路/有轨电车", "Railway / tram"],
  "incident.title": ["警情", "Incident"],
  "incident.priority": ["等级", "Priority"],
  "incident.type": ["类型", "Type"],
  "incident.status": ["状态", "Status"],
  "incident.address": ["地点", "Address"],
  "incident.time": ["时间", "Time"],
  "incident.description": ["描述", "Description"],
  "incident.close": ["关闭", "Close"],
  "incident.p1": ["一级", "P1"],
  "incident.p2": ["二级", "P2"],
  "incident.p3": ["三级", "P3"],
  "incident.p4": ["四级", "P4"],
  "status.new": ["新警情", "New"],
  "status.dispatched": ["已派警", "Dispatched"],
  "status.on_scene": ["已到场", "On scene"],
  "status.resolved": ["已处置", "Resolved"],
  "status.closed": ["已关闭", "Closed"],
  "unit.available": ["空闲", "Available"],
  "unit.assigned": ["已指派", "Assigned"],
  "unit.en_route": ["途中", "En route"],
  "unit.on_scene": ["到场", "On scene"],
  "unit.off_duty": ["下班", "Off duty"],
  "panel.incidents": ["警情列表", "Incidents"],
  "panel.units": ["警力", "Units"],
  "panel.coverage": ["覆盖分析", "Coverage"],
  "panel.kpi_divisions": ["分区指标", "KPIs by division"],
  "panel.assignments": ["我的任务", "My assignments"],
  "panel.nearby": ["附近摄像机", "Cameras nearby"],
  "panel.users": ["用户与授权", "Users and grants"],
  "panel.devices": ["设备管理", "Devices"],
  "panel.pending": ["此模块正在建设中", "This module is being built"],
  "panel.empty": ["暂无", "None"],
  "attribution": ["© OpenStreetMap 贡献者", "© OpenStreetMap contributors"],
  // API errors by code (errors.ts): the server's detail follows
  "err.invalid_input": ["输入有误", "Invalid input"],
  "err.not_found": ["未找到或无权查看", "Not found (or not yours to see)"],
  "err.conflict": ["操作冲突，数据已变化", "Conflict: the data has changed"],
  "err.forbidden": ["无此权限", "Not permitted"],
  "err.unauthorized": ["登录已失效", "Not signed in"],
  "err.locked": ["账号已锁定", "Account locked"],
  "err.rate_limited": ["操作过于频繁，请稍后再试", "Too many requests, try again shortly"],
  "err.unavailable": ["服务暂不可用", "Service unavailable"],
  "err.too_large": ["请求内容过大", "Request too large"],
  "err.http": ["请求失败", "Request failed"],
  ...DISPATCH_DICT,
  ...PLANNING_DICT,
  ...DEVICES_DICT,
  ...RECORDINGS_DICT,
  ...WATCHLISTS_DICT,
} as const;

export type Key = keyof typeof DICT;

let lang: Lang = (localStorage.getItem("se.lang") as Lang) === "en" ? "en" : "zh-CN";
const listeners: Array<() => void> = [];

export function t(key: Key): string {
  return DICT[key][lang === "en" ? 1 : 0];
}

/** Whether a key built from server data (an error code, a status) has a text. */
export function has(key: string): key is Key {
  return key in DICT;
}

export function currentLang(): Lang {
  return lang;
}

export function setLang(next: Lang): void {
  lang = next;
  localStorage.setItem("se.lang", next);
  document.documentElement.lang = next;
  listeners.forEach((fn) => fn());
}

export function onLangChange(fn: () => void): void {
  listeners.push(fn);
}

export function localName(zh: string | null | undefined, en: string | null | undefined): string {
  return (lang === "en" ? en || zh : zh || en) ?? "";
}

document.documentElement.lang = lang;
