"""What the view library keeps in the database: device sessions, the checkpoint catalogue, the records.

A record is filed under its checkpoint's division when that lies within its device's own (a device cannot
file records elsewhere by naming another's checkpoint), else under the device's division."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain import division_code
from app.domain.errors import InvalidInput
from app.ingest.viid.records import MotorVehicle, Sighting, Tollgate


@dataclass(frozen=True, slots=True)
class Session:
    state: str  # ok | none | lapsed | moved
    division: str | None = None  # the device's (gb_device.division_code)


def _prefix(division: str | None) -> str:
    """``LIKE`` pattern of a division's subtree ('%': anywhere, for a device filed nowhere)."""
    if division is None:
        return "%"
    try:
        return division_code.subtree_prefix(division) + "%"
    except InvalidInput:
        return division + "%"


def file_under(tollgate_division: str | None, device_division: str | None) -> str | None:
    if tollgate_division is not None and (device_division is None
                                          or tollgate_division.startswith(_prefix(device_division)[:-1])):
        return tollgate_division
    return device_division


async def open_session(conn: AsyncConnection, device: str, address: str | None) -> None:
    await conn.execute(text(
        "INSERT INTO viid_session (device_id, address) VALUES (:d, :a) ON CONFLICT (device_id) DO UPDATE "
        "SET address = EXCLUDED.address, registered_at = now(), last_keepalive_at = now()"),
        {"d": device, "a": address})


async def close_session(conn: AsyncConnection, device: str) -> None:
    await conn.execute(text("DELETE FROM viid_session WHERE device_id = :d"), {"d": device})


async def session(conn: AsyncConnection, device: str, address: str | None, lapse_s: float) -> Session:
    """The device's session now: a lapsed one is ended (the device must register again)."""
    row = (await conn.execute(text(
        "SELECT s.address, now() - s.last_keepalive_at > make_interval(secs => :l) AS lapsed, "
        "(SELECT division_code FROM gb_device WHERE gb_id = :d) AS division "
        "FROM viid_session s WHERE s.device_id = :d"), {"d": device, "l": lapse_s})).first()
    if row is None:
        return Session("none")
    if row.lapsed:
        await close_session(conn, device)
        return Session("lapsed")
    if row.address is not None and address is not None and row.address != address:
        return Session("moved")
    return Session("ok", row.division)


async def keepalive(conn: AsyncConnection, device: str) -> None:
    await conn.execute(text("UPDATE viid_session SET last_keepalive_at = now() WHERE device_id = :d"),
                       {"d": device})


_TOLLGATE = text("""
INSERT INTO viid_tollgate (tollgate_id, name, location, place_code, place, division_code, category, usage,
                           lane_count, status, device_id)
VALUES (:id, :name, ST_SetSRID(ST_MakePoint(CAST(:lon AS float8), CAST(:lat AS float8)), 4326), CAST(:pc AS text),
        :place,
        COALESCE((SELECT code FROM division WHERE code = CAST(:pc AS text) AND code LIKE :devp), CAST(:dev AS text)),
        :cat, :usage, :lanes, :status, :by)
ON CONFLICT (tollgate_id) DO UPDATE SET name = EXCLUDED.name, location = EXCLUDED.location,
  place_code = EXCLUDED.place_code, place = EXCLUDED.place, division_code = EXCLUDED.division_code,
  category = EXCLUDED.category, usage = EXCLUDED.usage, lane_count = EXCLUDED.lane_count,
  status = EXCLUDED.status, updated_at = now()
WHERE viid_tollgate.device_id = EXCLUDED.device_id
RETURNING tollgate_id""")


def canonical_place(pc: str | None) -> str | None:
    """A ``PlaceCode`` as a division code, or None when it is not one."""
    try:
        return division_code.canonical(pc) if pc else None
    except InvalidInput:
        return None


async def put_tollgate(conn: AsyncConnection, t: Tollgate, by: str, division: str | None) -> bool:
    """Stored (new, or described again by the device that described it); False: another device's."""
    pc = canonical_place(t.place_code)
    row = (await conn.execute(_TOLLGATE, {
        "id": t.tollgate_id, "name": t.name, "lon": t.lon, "lat": t.lat, "pc": pc, "place": t.place,
        "devp": _prefix(division), "dev": division, "cat": t.category, "usage": t.usage, "lanes": t.lane_count,
        "status": t.status, "by": by})).first()
    return row is not None


async def _tollgate_divisions(conn: AsyncConnection, ids: set[str]) -> dict[str, str | None]:
    if not ids:
        return {}
    rows = await conn.execute(text("SELECT tollgate_id, division_code FROM viid_tollgate "
                                   "WHERE tollgate_id = ANY(:ids)"), {"ids": sorted(ids)})
    return dict(rows.all())


def _images(imgs: list[dict]) -> str:
    return orjson.dumps(imgs).decode()


_MOTOR = text("""
INSERT INTO viid_motor_vehicle (record_id, device_id, uploaded_by, tollgate_id, division_code, pass_time, lane_no,
  direction, speed_kmh, plate_no, plate_color, plate_class, vehicle_class, vehicle_color, vehicle_brand, images)
VALUES (:rid, :dev, :by, :tg, :div, :t, :lane, :dir, :speed, :plate, :pcol, :pcls, :vcls, :vcol, :brand,
        CAST(:img AS jsonb))
ON CONFLICT (record_id) DO NOTHING""")

_SIGHTING = text("""
INSERT INTO viid_object (kind, record_id, device_id, uploaded_by, tollgate_id, division_code, shot_time,
                         attributes, images)
VALUES (:kind, :rid, :dev, :by, :tg, :div, :t, CAST(:attr AS jsonb), CAST(:img AS jsonb))
ON CONFLICT (kind, record_id) DO NOTHING""")


async def put_motor_vehicles(conn: AsyncConnection, items: list[tuple[MotorVehicle, list[dict]]], by: str,
                             division: str | None) -> None:
    """Stored in the caller's transaction; a record sent again (same MotorVehicleID) is kept once."""
    tgs = await _tollgate_divisions(conn, {m.tollgate_id for m, _ in items if m.tollgate_id})
    await conn.execute(_MOTOR, [{
        "rid": m.record_id, "dev": m.device_id or by, "by": by, "tg": m.tollgate_id,
        "div": file_under(tgs.get(m.tollgate_id or ""), division), "t": m.pass_time, "lane": m.lane_no,
        "dir": m.direction, "speed": m.speed_kmh, "plate": m.plate_no, "pcol": m.plate_color,
        "pcls": m.plate_class, "vcls": m.vehicle_class, "vcol": m.vehicle_color, "brand": m.vehicle_brand,
        "img": _images(imgs)} for m, imgs in items])


async def put_sightings(conn: AsyncConnection, items: list[tuple[Sighting, list[dict]]], by: str,
                        division: str | None) -> None:
    tgs = await _tollgate_divisions(conn, {s.tollgate_id for s, _ in items if s.tollgate_id})
    await conn.execute(_SIGHTING, [{
        "kind": s.kind, "rid": s.record_id, "dev": s.device_id or by, "by": by, "tg": s.tollgate_id,
        "div": file_under(tgs.get(s.tollgate_id or ""), division), "t": s.shot_time,
        "attr": orjson.dumps(s.attributes).decode(), "img": _images(imgs)} for s, imgs in items])


def image_refs(stored: list[tuple[str, str] | None], meta: list[Any]) -> list[dict]:
    """What a record says of its images: the store's key and hash, or the device's own URL."""
    out = []
    for keyed, img in zip(stored, meta, strict=True):
        ref: dict[str, Any] = {"type": img.type, "format": img.ext, "width": img.width, "height": img.height}
        if keyed is not None:
            ref |= {"key": keyed[0], "sha256": keyed[1], "bytes": len(img.data)}
        else:
            ref["url"] = img.url
        out.append({k: v for k, v in ref.items() if v is not None})
    return out
