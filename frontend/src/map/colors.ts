// One palette for layers and legend (RGBA).
export type RGBA = [number, number, number, number];

export const CAMERA_STATUS: RGBA[] = [
  [34, 211, 154, 255], // online
  [128, 140, 160, 255], // offline
  [255, 90, 95, 255], // fault
  [91, 141, 239, 255], // planned
];
export const STATUS_NAMES = ["online", "offline", "fault", "planned"] as const;

export const COVERAGE: Record<string, RGBA> = {
  covered: [34, 211, 154, 70],
  partial: [255, 190, 60, 80],
  uncovered: [255, 90, 95, 80],
  unknown: [110, 120, 240, 42],
};

export const PRIORITY: RGBA[] = [
  [255, 59, 48, 255], // 1
  [255, 149, 0, 255], // 2
  [255, 214, 10, 255], // 3
  [100, 210, 255, 255], // 4
];

export const UNIT_STATUS: Record<string, RGBA> = {
  available: [52, 199, 89, 255],
  assigned: [255, 214, 10, 255],
  en_route: [255, 149, 0, 255],
  on_scene: [191, 90, 242, 255],
  off_duty: [110, 120, 135, 255],
};

export const TARGET: RGBA = [90, 200, 250, 255];
export const DIVISION_LINE: RGBA = [64, 156, 255, 200];
export const DIVISION_LABEL: RGBA = [150, 195, 255, 230];

export function css(c: RGBA): string {
  return `rgba(${c[0]},${c[1]},${c[2]},${(c[3] / 255).toFixed(2)})`;
}
