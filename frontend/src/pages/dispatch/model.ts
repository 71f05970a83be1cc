// The dispatch console's data: the server's answers it reads (typed by the generated response models) and
// the route colours of a dispatch by its status.
import type { Schemas } from "../../api/client";

/** A camera that sees the incident's spot (the call-up's answer). */
export type SeeCam = Schemas["SeeingCamera"];
/** A unit recommended (or stale) for an incident, with its road ETA. */
export type Rec = Schemas["UnitCandidate"];
/** The cameras that see a spot, usable ones first, then those that are not available. */
export type Seeing = Schemas["CamerasSeeing"];
/** The units recommended for an incident by road ETA, and the stale ones (no recent fix). */
export type Recommendation = Schemas["Recommendation"];
/** A place-name search hit. */
export type Place = Schemas["Place"];
/** A dispatch of the selected incident; its route is drawn, so its geometry is a LineString. */
export type Disp = Pick<Schemas["IncidentDispatch"], "id" | "unit_id" | "callsign" | "status" | "eta_s" | "assigned_at" | "on_scene_at">
  & { route: { type: "LineString"; coordinates: [number, number][] } | null };
/** The selected incident: its position and its properties with the dispatches. */
export interface Detail { id: number; lon: number; lat: number; props: Record<string, unknown> & { status: string; priority: number;
  type: string; dispatches: Disp[] } }

export const ROUTE_COLOR: Record<string, [number, number, number, number]> = {
  assigned: [255, 214, 10, 230], en_route: [255, 149, 0, 240], on_scene: [191, 90, 242, 230],
};
