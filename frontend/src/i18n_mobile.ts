// Strings of the phone page's video (/m: cameras that see the spot, one live video): [zh-CN, en].
// Looked up with tm(), which follows the page's language like t() does.
import { currentLang } from "./i18n";

export const MOBILE_DICT = {
  "m.cams_scene": ["看得到现场的摄像机 · 警情 #{id}", "Cameras seeing the scene · #{id}"],
  "m.cams_here": ["看得到我这里的摄像机", "Cameras seeing where I am"],
  "m.cams_none": ["没有摄像机看得到这里", "No camera sees this spot"],
  "m.cams_no_pos": ["等待定位后列出摄像机", "Cameras are listed once my position is known"],
  "m.cams_down": ["另有 {n} 台离线或故障", "{n} more offline or faulty"],
  "m.cam_play": ["播放", "Play"],
  "m.cam_ptz": ["云台", "PTZ"],
  "m.video_opening": ["正在打开视频…", "Opening the video…"],
  "m.video_close": ["关闭视频", "Close the video"],
  "m.video_failed": ["无法打开视频", "Cannot open the video"],
  "m.reason_scene": ["现场核查 #{id}", "On-scene check #{id}"],
  "m.reason_here": ["现场核查（本人位置）", "On-scene check (my position)"],
} as const;

export type MobileKey = keyof typeof MOBILE_DICT;

/** The text of ``key`` in the current language, ``{name}`` placeholders filled from ``vars``. */
export function tm(key: MobileKey, vars: Record<string, string | number> = {}): string {
  const text: string = MOBILE_DICT[key][currentLang() === "en" ? 1 : 0];
  return text.replace(/\{(\w+)\}/g, (m, k: string) => (k in vars ? String(vars[k]) : m));
}
