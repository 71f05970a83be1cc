// The /devices page's calls: GB/T 28181 devices (/api/v1/devices) and the gb28181 pending list
// (/api/v1/admission), through the one typed client. One module, so the page's parts share the types.
import { api, ok, type Schemas } from "../../api/client";

export type DeviceKind = Schemas["Device"]["kind"];
export const DEVICE_KINDS = ["ipc", "nvr", "dvr", "encoder", "mobile", "platform"] as const satisfies readonly DeviceKind[];
export const ACTIONS = ["catalog", "device_info", "device_status", "reboot", "guard", "unguard", "reset_alarm"] as const satisfies
  readonly Schemas["DeviceAction"]["action"][];
export type Action = (typeof ACTIONS)[number];

export type Device = Schemas["Device"];
export type Channel = Schemas["DeviceChannel"];
export type DeviceDetail = Schemas["DeviceDetail"];
export type DeviceIn = Schemas["DeviceCreate"];
export type DevicePatch = Schemas["DeviceUpdate"];
export type Pending = Schemas["PendingDevice"];
export interface Div { code: string; name: string; name_en: string | null; level: number }

const at = (id: number) => ({ params: { path: { device_id: id } } });

export async function listDevices(q: string, online: "" | "true" | "false"): Promise<Device[]> {
  const query = { q: q || undefined, online: online ? online === "true" : undefined };
  return (await ok(api.GET("/api/v1/devices", { params: { query } }))).devices;
}
export const getDevice = (id: number): Promise<DeviceDetail> => ok(api.GET("/api/v1/devices/{device_id}", at(id)));
export const createDevice = (body: DeviceIn): Promise<Device> => ok(api.POST("/api/v1/devices", { body }));
export const updateDevice = (id: number, body: DevicePatch): Promise<Device> =>
  ok(api.PATCH("/api/v1/devices/{device_id}", { ...at(id), body }));
export const deleteDevice = (id: number): Promise<unknown> => ok(api.DELETE("/api/v1/devices/{device_id}", at(id)));
export const runAction = (id: number, action: Action): Promise<Schemas["DeviceActionResult"]> =>
  ok(api.POST("/api/v1/devices/{device_id}/actions", { ...at(id), body: { action } }));

export const listPending = (): Promise<Pending[]> =>
  ok(api.GET("/api/v1/admission/pending", { params: { query: { protocol: "gb28181" } } }));
export const acceptPending = (id: number, division_code: string, kind: DeviceKind, name: string | null): Promise<unknown> =>
  ok(api.POST("/api/v1/admission/pending/{pending_id}/accept", { params: { path: { pending_id: id } },
    body: { division_code, kind, name } }));
export const rejectPending = (id: number): Promise<unknown> =>
  ok(api.POST("/api/v1/admission/pending/{pending_id}/reject", { params: { path: { pending_id: id } }, body: {} }));

/** The divisions an administrator may pick, in code order (none without view_map: codes are typed then). */
export async function listDivisions(): Promise<Div[]> {
  const fc = await ok(api.GET("/api/v1/divisions", { params: { query: { geometry: false, limit: 1000 } } }));
  return (fc.features as Array<{ properties: Div }>).map((f) => f.properties).sort((a, b) => a.code.localeCompare(b.code));
}
