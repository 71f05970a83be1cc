// The offline base map: our own vector tiles (/tiles), styled for a dark wall.
import { MVTLayer } from "@deck.gl/geo-layers";
import type { Layer } from "@deck.gl/core";
import { CollisionFilterExtension, PathStyleExtension } from "@deck.gl/extensions";
import { MVTLoader } from "@loaders.gl/mvt";
import { accessToken } from "../auth";
import { currentLang, localName } from "../i18n";
import { CAMERA_STATUS, COVERAGE, DIVISION_LINE } from "./colors";
import { uiScale } from "./scale";
import { GREEN, LABEL_FONT, LABEL_HALO, POI_COLORS, POI_DEFAULT, POI_LABEL, RAIL, ROAD_LABEL, TRAM, WATER } from "./base_style";

type Props = { properties: Record<string, unknown> };

const ROAD_STYLE: Record<string, [number[], number]> = {
  motorway: [[96, 128, 170, 255], 5], trunk: [[96, 128, 170, 255], 5], primary: [[74, 104, 145, 255], 4],
  primary_link: [[74, 104, 145, 255], 3], secondary: [[58, 84, 120, 255], 3], tertiary: [[48, 70, 102, 255], 2.5],
};
const MINOR: [number[], number] = [[38, 56, 82, 255], 1.5];
// Which road's name wins where labels collide: the bigger road.
const LABEL_PRIORITY: Record<string, number> = { motorway: 9, trunk: 8, primary: 7, secondary: 6, tertiary: 5 };

// One instance each: a new extension object on every render would rebuild the layers' shaders.
const COLLISION = new CollisionFilterExtension();
const DASHES = new PathStyleExtension({ dash: true });

let cachedOptions: { token: string | null; value: object } | null = null;

function loadOptions() {
  // worker: false — loaders.gl would otherwise fetch its worker script from a CDN.
  // The same object while the token is unchanged, or deck.gl would reload every tile on each render.
  const token = accessToken();
  if (!cachedOptions || cachedOptions.token !== token) {
    cachedOptions = { token, value: { worker: false, fetch: { headers: { Authorization: `Bearer ${token ?? ""}` } } } };
  }
  return cachedOptions.value;
}

// MVTLayer's generic props resolve badly in TypeScript; the props below follow its documented API.
function mvt(props: Record<string, unknown>): Layer {
  return new MVTLayer(props as never) as unknown as Layer;
}

export function basemapLayers(version: Record<string, number>, zoom: number): Layer[] {
  const s = uiScale();
  const url = (layer: string) => `/tiles/${layer}/{z}/{x}/{y}.pbf?v=${version[layer] ?? 0}`;
  // The main-thread MVTLoader: the default worker loader would fetch its script from a CDN.
  // A tile that fails (server restarting) is dropped quietly; the page reloads tiles when the feed is back.
  const common = { loaders: [MVTLoader], loadOptions: loadOptions(), minZoom: 10, maxZoom: 17, onTileError: () => {} };
  const layers: Layer[] = [
    mvt({ ...common, id: "base-water", data: url("water"), filled: true, stroked: false, getFillColor: WATER }),
    mvt({ ...common, id: "base-green", data: url("green"), minZoom: 11, filled: true, stroked: false, getFillColor: GREEN }),
    mvt({
      ...common, id: "base-rail", data: url("rail"), minZoom: 11,
      getLineColor: (f: Props) => (f.properties.kind === "tram" ? TRAM : f.properties.tunnel ? [RAIL[0], RAIL[1], RAIL[2], 70] : RAIL) as never,
      getLineWidth: (f: Props) => (f.properties.kind === "tram" ? 1 : 2) * s, lineWidthUnits: "pixels",
      getDashArray: [3, 2], dashJustified: true, extensions: [DASHES],
    }),
    mvt({
      ...common, id: "base-roads", data: url("roads"),
      getLineColor: (f: Props) => (ROAD_STYLE[String(f.properties.highway)] ?? MINOR)[0] as never,
      getLineWidth: (f: Props) => (ROAD_STYLE[String(f.properties.highway)] ?? MINOR)[1] * s,
      lineWidthUnits: "pixels", lineCapRounded: true, lineJointRounded: true,
    }),
    mvt({
      ...common, id: "base-buildings", data: url("buildings"), minZoom: 14,
      filled: true, stroked: false, getFillColor: [58, 66, 84, 150],
    }),
    mvt({
      ...common, id: "base-key-areas", data: url("key_areas"),
      filled: true, stroked: true,
      getFillColor: (f: Props) => (COVERAGE[String(f.properties.coverage_status ?? "unknown")] ?? COVERAGE.unknown) as never,
      getLineColor: [150, 160, 255, 130], getLineWidth: s, lineWidthUnits: "pixels",
      updateTriggers: { getFillColor: version.key_areas },
    }),
    mvt({
      ...common, id: "base-divisions", data: url("divisions"), minZoom: 0,
      filled: false, stroked: true,
      getLineColor: (f: Props) => (Number(f.properties.level) <= 4 ? DIVISION_LINE : [64, 156, 255, 90]) as never,
      getLineWidth: (f: Props) => (Number(f.properties.level) <= 4 ? 2.5 : 1) * s,
      lineWidthUnits: "pixels",
    }),
  ];
  if (zoom - Math.log2(s) >= 16) { // view sectors from street level on
    layers.push(mvt({
      ...common, id: "base-camera-views", data: url("camera_views"), minZoom: 16,
      filled: true, stroked: false,
      getFillColor: (f: Props) => {
        const c = CAMERA_STATUS[["online", "offline", "fault", "planned"].indexOf(String(f.properties.status))] ?? CAMERA_STATUS[1];
        return [c[0], c[1], c[2], 45] as never;
      },
    }));
  }
  layers.push(...labelLayers(url, common, s)); // names above every fill
  return layers;
}

/** The name in the page's language: the Latin one in English when OSM has it. */
function label(f: Props): string {
  return localName(f.properties.name as string | undefined, f.properties.name_en as string | undefined);
}

/** Street names along the roads and names of places, drawn by deck.gl from local fonts; where labels
 *  collide, the bigger road / the more important place keeps its label. */
function labelLayers(url: (layer: string) => string, common: Record<string, unknown>, s: number): Layer[] {
  const text = {
    ...common, binary: false, // text needs the feature objects
    textCharacterSet: "auto", textFontFamily: LABEL_FONT, textFontWeight: 600, textSizeUnits: "pixels",
    textFontSettings: { sdf: true, fontSize: 48, buffer: 8, radius: 12 }, textOutlineWidth: 6, textOutlineColor: LABEL_HALO,
    // deck.gl tests a label's anchor against the others' drawn footprints: a box twice the text's size
    // (its background) keeps anchors out of each other's text.
    extensions: [COLLISION], collisionGroup: "base-labels",
    collisionTestProps: { sizeScale: 2, background: true, backgroundPadding: [4, 2] },
  };
  return [
    mvt({
      ...text, id: "base-road-labels", data: url("road_labels"), minZoom: 14, pointType: "text",
      getText: (f: Props) => label(f), updateTriggers: { getText: currentLang() },
      getTextAngle: (f: Props) => Number(f.properties.angle ?? 0),
      getTextSize: (f: Props) => ((LABEL_PRIORITY[String(f.properties.highway)] ?? 0) >= 6 ? 15 : 13) * s,
      getTextColor: ROAD_LABEL,
      getCollisionPriority: (f: Props) => LABEL_PRIORITY[String(f.properties.highway)] ?? 1,
    }),
    mvt({
      ...text, id: "base-poi", data: url("poi"), minZoom: 16, pointType: "circle+text",
      getPointRadius: 3 * s, pointRadiusUnits: "pixels", stroked: false,
      getFillColor: (f: Props) => (POI_COLORS[String(f.properties.cls)] ?? POI_DEFAULT) as never,
      getText: (f: Props) => label(f), updateTriggers: { getText: currentLang() },
      getTextSize: 12.5 * s, getTextColor: POI_LABEL, getTextAnchor: "start", getTextPixelOffset: [6 * s, 0],
      // Places rank 0 (stations) and up: below every road name, which keeps the streets readable.
      getCollisionPriority: (f: Props) => -1 - Number(f.properties.rank ?? 9),
    }),
  ];
}
