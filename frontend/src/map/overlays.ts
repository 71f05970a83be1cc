// Live overlay layers: division names, cameras (binary), targets with fading tails, incidents, units.
import type { Layer } from "@deck.gl/core";
import { TripsLayer } from "@deck.gl/geo-layers";
import { IconLayer, ScatterplotLayer, TextLayer } from "@deck.gl/layers";
import { currentLang, localName } from "../i18n";
import { DIVISION_LABEL, PRIORITY, TARGET, UNIT_STATUS } from "./colors";
import { iconAtlas, ICONS } from "./icons";
import { uiScale } from "./scale";
import type { DivisionLabel, Incident, MapStore, Target, Unit } from "./store";

const ATLAS = iconAtlas();
const CLS_ICON = [ICONS[2], ICONS[0], ICONS[1], ICONS[2]]; // index by class 1..3
// Time origin for float32 timestamps in the trips layer (seconds since page load keep full precision).
export const T0 = Date.now() / 1000;
const FONT = '"Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", system-ui, sans-serif';

export function overlayLayers(store: MapStore, zoom: number, now: number): Layer[] {
  const v = store.version;
  const targets = [...store.targets.values()];
  const incidents = [...store.incidents.values()];
  const units = [...store.units.values()].filter((u) => u.lon !== null && u.lat !== null);
  const pulse = (now % 1.6) / 1.6;
  const s = uiScale();
  const ez = zoom - Math.log2(s); // the zoom the same picture has at 1920 px wide
  return [
    new TextLayer<DivisionLabel>({
      id: "division-labels", data: store.divisions.filter((d) => d.level <= 4 || (d.level === 5 && ez >= 14.5) || (d.level === 6 && ez >= 16.2)),
      getPosition: (d) => [d.lon, d.lat], getText: (d) => localName(d.name, d.name_en),
      getSize: (d) => (d.level <= 4 ? 20 : 14) * s, // SDF glyphs draw smaller than the size: 14 gives ≥ 12 px letters
      // A district and its first subdistrict often share a label point: stack them instead of overlapping.
      getPixelOffset: (d) => [0, (d.level <= 4 ? -12 : 10) * s], getColor: DIVISION_LABEL, fontFamily: FONT, fontWeight: 600,
      characterSet: "auto", outlineWidth: 3 * s, outlineColor: [7, 13, 24, 230], fontSettings: { sdf: true },
      updateTriggers: { getText: currentLang(), getSize: s, getPixelOffset: s },
    }),
    new IconLayer({
      id: "cameras", data: store.cameras as never, iconAtlas: ATLAS.atlas as never, iconMapping: ATLAS.mapping as never,
      getIcon: ((_: unknown, { index }: { index: number }) => CLS_ICON[store.cameras.cls[index]] ?? "cls3") as never,
      getSize: (ez >= 16 ? 22 : ez >= 14 ? 16 : 11) * s, sizeUnits: "pixels", pickable: true,
      updateTriggers: { getIcon: v },
    }),
    new TripsLayer<Target>({
      id: "target-tails", data: targets,
      getPath: (d) => d.tail.map((p) => [p[0], p[1]] as [number, number]),
      getTimestamps: (d) => d.tail.map((p) => p[2] - T0),
      getColor: TARGET, widthMinPixels: 3 * s, capRounded: true, jointRounded: true,
      fadeTrail: true, trailLength: 300, currentTime: now - T0,
      updateTriggers: { getPath: v, getTimestamps: v },
    }),
    new IconLayer<Target>({
      id: "targets", data: targets, iconAtlas: ATLAS.atlas as never, iconMapping: ATLAS.mapping as never,
      getIcon: () => "arrow", getPosition: (d) => [d.lon, d.lat], getAngle: (d) => -d.course,
      getColor: TARGET, getSize: 20 * s, sizeUnits: "pixels", pickable: true,
      updateTriggers: { getPosition: v, getAngle: v },
    }),
    new ScatterplotLayer<Unit>({
      id: "units", data: units, getPosition: (d) => [d.lon!, d.lat!],
      getFillColor: (d) => UNIT_STATUS[d.status] ?? UNIT_STATUS.off_duty, getLineColor: [255, 255, 255, 220],
      stroked: true, lineWidthMinPixels: 2 * s, getRadius: 8 * s, radiusUnits: "pixels", pickable: true,
      updateTriggers: { getPosition: v, getFillColor: v },
    }),
    new ScatterplotLayer<Incident>({
      id: "incident-pulse", data: incidents, getPosition: (d) => [d.lon, d.lat],
      // Higher priority pulses larger; the ring grows and fades every 1.6 s.
      getRadius: (d) => (10 + (5 - d.priority) * 9) * (0.4 + pulse) * s,
      getFillColor: (d) => [...PRIORITY[d.priority - 1].slice(0, 3), Math.round(120 * (1 - pulse))] as never,
      radiusUnits: "pixels", updateTriggers: { getRadius: now, getFillColor: now },
    }),
    new ScatterplotLayer<Incident>({
      id: "incidents", data: incidents, getPosition: (d) => [d.lon, d.lat],
      getFillColor: (d) => PRIORITY[d.priority - 1] ?? PRIORITY[3], getLineColor: [255, 255, 255, 255],
      stroked: true, lineWidthMinPixels: 2 * s, getRadius: 9 * s, radiusUnits: "pixels", pickable: true,
      updateTriggers: { getPosition: v, getFillColor: v },
    }),
  ];
}
