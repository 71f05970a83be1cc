"""Parsed MANSCDP → platform records (cameras, position fixes, incidents). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.domain import crs as crs_mod
from app.domain import division_code
from app.domain.camera_view import DEFAULT_RANGE_M, ViewSpec
from app.domain.errors import InvalidInput
from app.ingest.gb28181 import codes
from app.ingest.gb28181.manscdp import Alarm, CatalogItem, RawFix


@dataclass(frozen=True, slots=True)
class PositionFix:
    """One fix handed to the position pipeline; coordinates in WGS-84, time in UTC."""

    device_id: str
    fix_time: datetime
    lon: float
    lat: float
    speed_kmh: float | None
    course_deg: float | None
    altitude_m: float | None = None
    source: str = "gb28181"


def to_wgs84(lon: float | None, lat: float | None, crs: str) -> tuple[float, float] | None:
    """WGS-84 point, or None when absent, out of range, or (0, 0) (what devices send for 'unknown')."""
    if lon is None or lat is None or not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return None
    if abs(lon) < 1e-9 and abs(lat) < 1e-9:
        return None
    x, y = crs_mod.to_wgs84(lon, lat, crs)  # type: ignore[arg-type]
    return float(x), float(y)


def division_candidates(civil_code: str | None) -> list[str]:
    """Division codes to try for a CivilCode, most specific first (2/4/6/8/9/12 digits seen)."""
    c = (civil_code or "").strip()
    if not c.isdigit():
        return []
    if len(c) in (2, 4):
        c = c.ljust(6, "0")
    elif len(c) == 8:  # 8-digit centre code: its county is the first six
        c = c[:6]
    out = []
    try:
        code: str | None = division_code.canonical(c)
        while code and code != division_code.CENTRAL:
            out.append(code)
            code = division_code.parent(code)
    except InvalidInput:
        return []
    return out


def camera_row(item: CatalogItem, device_id: str, crs: str) -> dict:
    """Fields of a ``camera`` row from a catalog item; 'location' is None when unknown."""
    kind = codes.PTZ_KIND.get(item.ptz_type or 0, "fixed")
    point = to_wgs84(item.lon, item.lat, crs)
    heading = codes.DIRECTION_DEG.get(item.direction_type or 0)
    # ParentID may name a business group / virtual organisation (215/216) or a civil code: those
    # are tree nodes, not the device whose loss takes the channel offline.
    p = item.parent_id or ""
    parent = p if len(p) == 20 and p.isdigit() and p[10:13] not in ("215", "216") else device_id
    spec = ViewSpec(point[0], point[1], kind, heading, range_m=DEFAULT_RANGE_M[kind]) if point else None
    return {
        "gb_id": item.device_id,
        "name": (item.name or item.device_id)[:200],
        "owner": item.owner[:200] if item.owner else None,
        "kind": kind,
        "heading_deg": heading,
        "secrecy": max(0, min(item.secrecy, 32767)),
        "status": item.status or "online",
        "parent_device": parent,
        "division_candidates": division_candidates(item.civil_code),
        "view_spec": spec,
        "raw_lon": item.lon,
        "raw_lat": item.lat,
        "crs": crs,
    }


def position_fix(raw: RawFix, crs: str, now: datetime) -> PositionFix | None:
    point = to_wgs84(raw.lon, raw.lat, crs)
    if point is None:
        return None
    course = raw.direction % 360.0 if raw.direction is not None else None
    speed = raw.speed if raw.speed is not None and 0 <= raw.speed < 2000 else None
    return PositionFix(raw.device_id, raw.time or now, point[0], point[1], speed, course, raw.altitude)


def incident_row(alarm: Alarm, crs: str) -> dict:
    method_zh, type_zh = codes.describe_alarm(alarm.method, alarm.alarm_type)
    text = method_zh + (f"：{type_zh}" if type_zh else "")
    if alarm.description:
        text += f" — {alarm.description}"
    priority = alarm.priority if alarm.priority in (1, 2, 3, 4) else 3
    return {
        "type": f"gb_{codes.ALARM_METHODS_EN.get(alarm.method or 0, 'alarm')}_alarm"[:32],
        "priority": priority,
        "description": text[:2000],
        "device_id": alarm.device_id,
        "point": to_wgs84(alarm.lon, alarm.lat, crs),
        "alarm_method": alarm.method,
        "alarm_type": alarm.alarm_type,
        "alarm_time": alarm.time,
    }
