"""Parsed MANSCDP → platform records (cameras, position fixes, incidents). Pure."""

from __future__ import annotations

from datetime import datetime

from app.domain import crs as crs_mod
from app.domain import division_code
from app.domain.camera_view import DEFAULT_RANGE_M, ViewSpec
from app.domain.errors import InvalidInput
from app.domain.fix import Fix
from app.ingest.gb28181 import codes
from app.ingest.gb28181.manscdp import Alarm, CatalogItem, RawFix


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


DIRECTORY_TYPES = {215: "business_group", 216: "organisation"}


def is_platform(device_id: str) -> bool:
    """A platform's id (type 200): as a lower platform it relays channels of devices behind it."""
    return device_id[10:13] == "200"


def directory_node(item: CatalogItem) -> dict | None:
    """A catalog item that is a tree node of the sender's directory, not a channel: a business group (215),
    a virtual organisation (216), or a civil-code node (an id of 2, 4, 6 or 8 digits: province, city,
    county, grass-roots unit). Stored minimal, {id, name, type, parent}; None for anything else."""
    i = item.device_id
    if len(i) in (2, 4, 6, 8) and i.isdigit():
        kind = "civil"
    else:
        kind = DIRECTORY_TYPES.get(item.type_code or 0)
        if kind is None:
            return None
    return {"id": i, "name": (item.name or i)[:200], "type": kind, "parent": item.parent_id or None}


def camera_row(item: CatalogItem, device_id: str, crs: str) -> dict:
    """Fields of a ``camera`` row from a catalog item; 'location' is None when unknown."""
    kind = codes.PTZ_KIND.get(item.ptz_type or 0, "fixed")
    point = to_wgs84(item.lon, item.lat, crs)
    heading = codes.DIRECTION_DEG.get(item.direction_type or 0)
    # ParentID may name a business group / virtual organisation (215/216) or a civil code: those
    # are tree nodes, not the device whose loss takes the channel offline. A lower platform (type 200)
    # relays every channel it announces, whatever device behind it the ParentID names: it is the parent.
    p = item.parent_id or ""
    parent = (p if len(p) == 20 and p.isdigit() and p[10:13] not in ("215", "216")
              and not is_platform(device_id) else device_id)
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


def position_fix(raw: RawFix, crs: str, now: datetime) -> Fix | None:
    """The platform's one position type, coordinates in WGS-84; None without a usable point."""
    point = to_wgs84(raw.lon, raw.lat, crs)
    if point is None:
        return None
    course = raw.direction % 360.0 if raw.direction is not None else None
    speed = raw.speed if raw.speed is not None and 0 <= raw.speed < 2000 else None
    return Fix(device_id=raw.device_id, protocol="gb28181", fix_time=raw.time or now, lon=point[0],
               lat=point[1], speed_kmh=speed, course_deg=course, altitude_m=raw.altitude)


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
