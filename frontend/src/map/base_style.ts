// Colours and fonts of the base map's geography (issue #20), shared by the map layers and the legend.
import type { RGBA } from "./colors";

export const WATER: RGBA = [30, 72, 122, 255];
export const GREEN: RGBA = [30, 70, 50, 255];
export const RAIL: RGBA = [130, 138, 152, 230];
export const TRAM: RGBA = [112, 118, 132, 200];
export const ROAD_LABEL: RGBA = [226, 233, 244, 255];
export const POI_LABEL: RGBA = [226, 200, 150, 255];
export const LABEL_HALO: RGBA = [12, 16, 24, 235];

// Local fonts only (no glyph server): deck.gl draws its glyph atlas from these with a 2D canvas.
export const LABEL_FONT = '"WenQuanYi Micro Hei", "Noto Sans CJK SC", "DejaVu Sans", sans-serif';

export const POI_COLORS: Record<string, RGBA> = {
  station: [120, 190, 255, 255], public: [235, 140, 140, 255], tourism: [220, 170, 255, 255],
  transit: [120, 190, 255, 255], food: [240, 180, 90, 255], shop: [240, 210, 120, 255],
};
export const POI_DEFAULT: RGBA = [190, 190, 200, 255];
