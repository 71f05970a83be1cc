// The dispatch console's own map layers, drawn from its state: the selected incident's routes (coloured by
// dispatch status), sight lines from the cameras that see it, the selection ring, the draft spot of a new
// incident, a target's prediction and the track replay.
import type { Layer } from "@deck.gl/core";
import { LineLayer, PathLayer, ScatterplotLayer } from "@deck.gl/layers";
import { predictionLayers, type ReplayPanel } from "../../ui/replay";
import { type Detail, type Disp, ROUTE_COLOR, type SeeCam } from "./model";
import { type DispatchState, ENDED } from "./state";

export function consoleLayers(s: DispatchState, draft: [number, number] | null, replay: ReplayPanel): Layer[] {
  const layers: Layer[] = [];
  const sel = s.selected;
  if (sel) {
    const routes = sel.props.dispatches.filter((d) => d.route && !ENDED.includes(d.status));
    layers.push(new PathLayer<Disp>({ id: "dx-routes", data: routes, getPath: (d) => d.route!.coordinates,
      getColor: (d) => ROUTE_COLOR[d.status] ?? ROUTE_COLOR.assigned, getWidth: 6, widthUnits: "pixels",
      capRounded: true, jointRounded: true, updateTriggers: { getColor: routes.map((d) => d.status).join() } }));
    layers.push(new LineLayer<SeeCam>({ id: "dx-sightlines", data: s.cams?.cameras ?? [], getSourcePosition: (c) => [c.lon, c.lat],
      getTargetPosition: () => [sel.lon, sel.lat],
      getColor: (c) => (s.chosenCams.has(c.id) ? [58, 160, 255, 200] : [58, 160, 255, 70]), getWidth: 1.5, widthUnits: "pixels",
      updateTriggers: { getColor: [...s.chosenCams].join() } }));
    layers.push(new ScatterplotLayer({ id: "dx-selected", data: [sel], getPosition: (d: Detail) => [d.lon, d.lat],
      getRadius: 22, radiusUnits: "pixels", filled: false, stroked: true, getLineColor: [255, 255, 255, 230], lineWidthMinPixels: 2 }));
  }
  if (draft) {
    layers.push(new ScatterplotLayer({ id: "dx-draft", data: [draft], getPosition: (d: [number, number]) => d, getRadius: 10,
      radiusUnits: "pixels", getFillColor: [58, 160, 255, 120], getLineColor: [58, 160, 255, 255], stroked: true, lineWidthMinPixels: 2 }));
  }
  if (s.prediction) layers.push(...predictionLayers(s.prediction));
  layers.push(...replay.layers());
  return layers;
}
