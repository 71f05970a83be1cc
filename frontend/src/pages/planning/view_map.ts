// The planning page's map: the KPI choropleth of the current division's children, the coverage results
// (uncovered key areas, blind intersections, main-road gaps, duplicates and their suggested moves) and the
// placed sites with their view sectors; and the tooltips over them.
import type { Layer, PickingInfo } from "@deck.gl/core";
import { GeoJsonLayer, LineLayer, PathLayer, ScatterplotLayer, TextLayer } from "@deck.gl/layers";
import { localName, t, type Key } from "../../i18n";
import { tr } from "../../ui/desk";
import { showDivision } from "./actions";
import { C, fmtKpi, ramp, type Feature, type Site } from "./model";
import { kpiRange, type PlanningState } from "./state";

export function layers(s: PlanningState): Layer[] {
  const out: Layer[] = [];
  const [lo, hi] = kpiRange(s);
  const { on, byCode, kids } = s;
  if (on.choropleth && s.choro.length) {
    out.push(new GeoJsonLayer({
      id: "pl-choro", data: s.choro as never, filled: true, stroked: true, pickable: true, autoHighlight: true,
      highlightColor: [255, 255, 255, 40],
      getFillColor: ((f: Feature) => {
        const v = byCode.get(String(f.properties.code))?.[s.kpiKey];
        if (v === null || v === undefined) return [120, 130, 150, 50];
        return [...ramp((v - lo) / (hi - lo || 1)), 95];
      }) as never,
      getLineColor: [200, 225, 255, 200], getLineWidth: 2, lineWidthUnits: "pixels",
      updateTriggers: { getFillColor: [s.kpiKey, s.items.length, s.current] },
      onClick: (info: PickingInfo) => {
        const code = String((info.object as Feature | undefined)?.properties.code ?? "");
        if (code && code !== s.current && (kids.get(code)?.length || byCode.has(code))) void showDivision(s, code);
      },
    }) as unknown as Layer);
  }
  if (on.uncovered) {
    out.push(new GeoJsonLayer({
      id: "pl-uncovered", data: s.uncovered as never, filled: true, stroked: true, pickable: true,
      getFillColor: C.uncovered as never, getLineColor: [255, 120, 120, 255], getLineWidth: 1, lineWidthUnits: "pixels",
    }) as unknown as Layer);
  }
  if (on.road_gaps) {
    out.push(new PathLayer({
      id: "pl-gaps", data: s.gaps as never, _pathType: "open", positionFormat: "XY", pickable: true,
      getColor: C.gaps as never, getWidth: 5, widthUnits: "pixels", capRounded: true, jointRounded: true,
    } as never));
  }
  if (on.duplicates) {
    out.push(new LineLayer({ id: "pl-dup-moves", data: s.moves as never, getColor: [190, 120, 255, 170], getWidth: 2,
      widthUnits: "pixels" } as never));
    out.push(new ScatterplotLayer({ id: "pl-dup", data: s.dups as never, pickable: true, radiusUnits: "pixels",
      getRadius: 6, getFillColor: C.dup as never, stroked: true, getLineColor: [255, 255, 255, 230], lineWidthMinPixels: 1.5 } as never));
  }
  if (on.blind_intersections) {
    out.push(new ScatterplotLayer({ id: "pl-blind", data: s.blind as never, pickable: true, radiusUnits: "pixels",
      getRadius: 6, getFillColor: C.blind as never, stroked: true, getLineColor: [20, 20, 20, 230], lineWidthMinPixels: 1.5 } as never));
  }
  if (on.sites && s.placement?.sites.length) {
    const sites = s.placement.sites.map((x, i) => ({ ...x, n: i + 1 }));
    out.push(new GeoJsonLayer({
      id: "pl-sectors", data: sites.map((x) => ({ type: "Feature", geometry: x.view, properties: { n: x.n } })) as never,
      filled: true, stroked: true, getFillColor: C.sector as never, getLineColor: [64, 200, 255, 220], getLineWidth: 1.5,
      lineWidthUnits: "pixels",
    }) as unknown as Layer);
    out.push(new ScatterplotLayer({ id: "pl-sites", data: sites, pickable: true, radiusUnits: "pixels", getRadius: 9,
      getPosition: (d: Site) => [d.lon, d.lat], getFillColor: C.site as never, stroked: true,
      getLineColor: [255, 255, 255, 255], lineWidthMinPixels: 2 }) as unknown as Layer);
    out.push(new TextLayer({ id: "pl-site-n", data: sites, getPosition: (d: Site) => [d.lon, d.lat],
      getText: (d: { n: number }) => String(d.n), getSize: 11, getColor: [2, 16, 31, 255], fontWeight: 700,
      characterSet: "0123456789" }) as unknown as Layer);
  }
  return out;
}

export function tooltip(s: PlanningState, info: PickingInfo): { text: string } | null {
  const id = info.layer?.id;
  const i = info.index;
  if (id === "pl-choro" && info.object) {
    const code = String((info.object as Feature).properties.code);
    const it = s.byCode.get(code);
    const name = localName(String((info.object as Feature).properties.name ?? ""), (info.object as Feature).properties.name_en as string);
    return { text: `${name} (${code})\n${t(`pl.kpi.${s.kpiKey}` as Key)}: ${fmtKpi(s.kpiKey, it?.[s.kpiKey])}` };
  }
  if (id === "pl-blind" && i >= 0) return { text: `${t("pl.layer.blind_intersections")} · deg ${s.blind.props[i]?.degree ?? "?"}` };
  if (id === "pl-gaps" && i >= 0) {
    const p = s.gaps.props[i] ?? {};
    return { text: `${t("pl.layer.road_gaps")}: ${p.name ?? p.highway ?? ""} · ${Math.round(Number(p.blind_m ?? 0))} m` };
  }
  if (id === "pl-dup" && i >= 0) {
    const p = s.dups.props[i] ?? {};
    return { text: `${p.name} · overlap ${(Number(p.overlap ?? 0) * 100).toFixed(0)}% (#${p.other_camera_id})\n`
      + `→ +${Math.round(Number(p.suggested_gain_m2 ?? 0))} m²` };
  }
  if (id === "pl-uncovered" && info.object) {
    const p = (info.object as Feature).properties;
    return { text: `${t("pl.layer.uncovered")}: ${String(p.name ?? p.key_area_id ?? "")}` };
  }
  if (id === "pl-sites" && info.object) {
    const x = info.object as Site & { n: number };
    return { text: `#${x.n} ${tr(`pl.kind.${x.site_kind}`, x.site_kind)} · ${x.heading_deg ?? "—"}° · +${Math.round(x.gain_m2)} m²` };
  }
  return null;
}
