// Live state of the map, fed by snapshot and delta frames. Cameras are kept as typed arrays
// (binary attributes): the wall stays fluid with 100,000 of them.
import { CAMERA_STATUS } from "./colors";

export interface Target { id: number; kind?: string; lon: number; lat: number; course: number; t: number; tail: [number, number, number][] }
export interface Incident { id: number; type: string; priority: number; status: string; lon: number; lat: number;
  description?: string | null; address?: string | null; created_at?: string }
export interface Unit { id: number; callsign: string; status: string; lon: number | null; lat: number | null; target_id?: number | null }
export interface DivisionLabel { code: string; name: string; name_en: string | null; level: number; lon: number; lat: number }

type Columns = { id: number[]; lon: number[]; lat: number[]; status: number[]; cls: number[]; kind: number[];
  heading: number[]; fov: number[]; range: number[] };
type CameraRow = { id: number; lon: number; lat: number; status: number; cls: number; kind: number; heading: number; fov: number; range: number };

export interface CameraBinary {
  length: number;
  attributes: { getPosition: { value: Float32Array; size: 2 }; getColor: { value: Uint8Array; size: 4; normalized: true } };
  cls: Uint8Array;
  ids: Int32Array;
}

const TAIL_S = 300; // the trail drawn behind a moving target
// One trail point per 2 s at most (the newest one follows the target): a 10 Hz tracker would otherwise
// keep 3,000 points per target, and a wall left on with 300 of them grew its heap by 1.5 MiB every 10 s.
const TAIL_STEP_S = 2;

export class MapStore {
  cameras: CameraBinary = build([]);
  private cameraRows: CameraRow[] = [];
  targets = new Map<number, Target>();
  incidents = new Map<number, Incident>();
  units = new Map<number, Unit>();
  divisions: DivisionLabel[] = [];
  kpi: Record<string, number | null> | null = null;
  version = 0; // bumped on every change, for layer update triggers
  positionsDrawnAt = 0; // ms since epoch of the last positions frame handed to the layers

  applySnapshot(f: Record<string, unknown>): void {
    if (f.divisions) this.divisions = f.divisions as DivisionLabel[];
    if (f.cameras) {
      const c = f.cameras as Columns;
      this.cameraRows = c.id.map((id, i) => ({ id, lon: c.lon[i], lat: c.lat[i], status: c.status[i], cls: c.cls[i],
        kind: c.kind[i], heading: c.heading[i], fov: c.fov[i], range: c.range[i] }));
      this.cameras = build(this.cameraRows);
    }
    if (f.targets) {
      this.targets.clear();
      for (const r of f.targets as Array<Record<string, unknown>>) this.upsertTarget(r);
    }
    if (f.incidents) {
      this.incidents.clear();
      for (const r of f.incidents as Incident[]) this.incidents.set(r.id, r);
    }
    if (f.units) {
      this.units.clear();
      for (const r of f.units as Unit[]) this.units.set(r.id, r);
    }
    if (f.kpi) this.kpi = f.kpi as Record<string, number | null>;
    this.version++;
  }

  applyCamera(msg: { op: string; id: number; camera?: CameraRow }): void {
    const i = this.cameraRows.findIndex((r) => r.id === msg.id);
    if (msg.op === "delete") { if (i >= 0) this.cameraRows.splice(i, 1); }
    else if (msg.camera) { if (i >= 0) this.cameraRows[i] = msg.camera; else this.cameraRows.push(msg.camera); }
    this.cameras = build(this.cameraRows);
    this.version++;
  }

  upsertTarget(r: Record<string, unknown>): void {
    const id = Number(r.target_id);
    const t = Number(r.t ?? Date.now() / 1000);
    const lon = Number(r.lon), lat = Number(r.lat);
    const prev = this.targets.get(id);
    const tail = prev ? prev.tail : ((r.tail as [number, number, number][] | undefined) ?? []);
    if (!tail.length || tail[tail.length - 1][2] < t) {
      if (tail.length >= 2 && t - tail[tail.length - 2][2] < TAIL_STEP_S) tail[tail.length - 1] = [lon, lat, t];
      else tail.push([lon, lat, t]);
    }
    while (tail.length && tail[0][2] < t - TAIL_S) tail.shift();
    this.targets.set(id, { id, kind: (r.kind as string) ?? prev?.kind, lon, lat, course: Number(r.course_deg ?? prev?.course ?? 0), t, tail });
    for (const u of this.units.values()) if (u.target_id === id) { u.lon = lon; u.lat = lat; } // units ride their tracker
  }

  applyPositions(items: Array<Record<string, unknown>>): void {
    for (const r of items) this.upsertTarget(r);
    this.version++;
  }

  applyIncident(msg: { op?: string; incident?: Incident }): Incident | null {
    const inc = msg.incident;
    if (!inc) return null;
    const isNew = !this.incidents.has(inc.id);
    if (["resolved", "closed"].includes(inc.status)) this.incidents.delete(inc.id);
    else this.incidents.set(inc.id, { ...this.incidents.get(inc.id), ...inc });
    this.version++;
    return isNew && !["resolved", "closed"].includes(inc.status) ? inc : null;
  }

  applyDispatch(msg: { unit?: Unit; unit_id?: number; status?: string; incident_id?: number;
                       dispatches?: Array<{ unit_id: number }> }): void {
    if (msg.unit) this.units.set(msg.unit.id, { ...this.units.get(msg.unit.id), ...msg.unit });
    // The server puts the incident on scene with its first unit there and sends no incident frame for it:
    // follow the same rule, so the list agrees with the detail without a reload.
    const inc = msg.incident_id !== undefined ? this.incidents.get(Number(msg.incident_id)) : undefined;
    if (inc && msg.status === "on_scene" && (inc.status === "new" || inc.status === "dispatched")) inc.status = "on_scene";
    // Dispatch lifecycle → unit status (assigned / en route / on scene; cleared or cancelled frees it).
    const unitStatus = (s: string) => (s === "cleared" || s === "cancelled" ? "available" : s);
    for (const d of msg.dispatches ?? []) { const u = this.units.get(d.unit_id); if (u) u.status = "assigned"; }
    if (msg.unit_id !== undefined && msg.status) { const u = this.units.get(msg.unit_id); if (u) u.status = unitStatus(msg.status); }
    this.version++;
  }

  cameraBounds(): [[number, number], [number, number]] | null {
    const p = this.cameras.attributes.getPosition.value;
    if (!p.length) return null;
    let x1 = 180, y1 = 90, x2 = -180, y2 = -90;
    for (let i = 0; i < p.length; i += 2) {
      x1 = Math.min(x1, p[i]); x2 = Math.max(x2, p[i]); y1 = Math.min(y1, p[i + 1]); y2 = Math.max(y2, p[i + 1]);
    }
    return [[x1, y1], [x2, y2]];
  }
}

function build(rows: CameraRow[]): CameraBinary {
  const n = rows.length;
  const pos = new Float32Array(n * 2), col = new Uint8Array(n * 4), cls = new Uint8Array(n), ids = new Int32Array(n);
  rows.forEach((r, i) => {
    pos[2 * i] = r.lon; pos[2 * i + 1] = r.lat;
    col.set(CAMERA_STATUS[r.status] ?? CAMERA_STATUS[1], 4 * i);
    cls[i] = r.cls; ids[i] = r.id;
  });
  return { length: n, attributes: { getPosition: { value: pos, size: 2 }, getColor: { value: col, size: 4, normalized: true } }, cls, ids };
}
