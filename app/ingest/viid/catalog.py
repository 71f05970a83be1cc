"""Capture devices (``APEObject``, /VIID/APEs) and checkpoint lanes (``LaneObject``, /VIID/Lanes), checked and
normalised as the records are (app/ingest/viid/records.py: tolerant fields, ``Refused`` with a reason). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.ingest.viid.messages import field
from app.ingest.viid.records import _PLACE, MAX_ATTRIBUTES, Refused, ident, integer, number, text

_SECRET = {"password", "userid", "username"}  # a device's credentials are never kept
_COLUMNS = {"apeid", "name", "model", "ipaddr", "port", "longitude", "latitude", "placecode", "place", "orgcode",
            "isonline"}


@dataclass(frozen=True, slots=True)
class Ape:
    ape_id: str
    name: str | None
    model: str | None
    ip_addr: str | None
    port: int | None
    lon: float | None
    lat: float | None
    place_code: str | None
    place: str | None
    org_code: str | None
    is_online: bool | None
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Lane:
    tollgate_id: str
    lane_id: int
    lane_no: int | None
    name: str | None
    direction: str | None
    description: str | None
    max_speed: int | None
    city_pass: str | None
    ape_id: str | None

    @property
    def record_id(self) -> str:
        return f"{self.tollgate_id}/{self.lane_id}"


def position(obj: dict) -> tuple[float | None, float | None]:
    lon, lat = number(obj, "Longitude", -180, 180), number(obj, "Latitude", -90, 90)
    if (lon is None) != (lat is None):
        raise Refused("Longitude and Latitude come together")
    if lon == 0 and lat == 0:  # "not surveyed" on many devices
        return None, None
    return lon, lat


def _online(obj: dict) -> bool | None:
    v = field(obj, "IsOnline")
    if v is None or v == "":
        return None
    s = str(v).strip().lower()
    if s in ("1", "true"):
        return True
    if s in ("0", "2", "false"):  # 2: offline (GA/T 1400.3)
        return False
    raise Refused("IsOnline is not 1 (online) or 0/2 (offline)")


def ape(obj: Any) -> Ape:
    if not isinstance(obj, dict):
        raise Refused("APEObject is not an object")
    lon, lat = position(obj)
    place_code = text(obj, "PlaceCode", 12)
    attributes = {}
    for k, v in obj.items():
        if len(attributes) >= MAX_ATTRIBUTES:
            break
        if isinstance(k, str) and len(k) <= 64 and "\x00" not in k and isinstance(v, str | int | float | bool) \
                and k.lower() not in _SECRET | _COLUMNS:
            attributes[k] = v[:200].replace("\x00", "") if isinstance(v, str) else v
    return Ape(
        ape_id=ident(obj, "ApeID", required=True), name=text(obj, "Name", 200), model=text(obj, "Model", 100),
        ip_addr=text(obj, "IPAddr", 64), port=integer(obj, "Port", 0, 65535), lon=lon, lat=lat,
        place_code=place_code if place_code and _PLACE.match(place_code) else None, place=text(obj, "Place", 200),
        org_code=text(obj, "OrgCode", 32), is_online=_online(obj), attributes=attributes)


def lane(obj: Any) -> Lane:
    if not isinstance(obj, dict):
        raise Refused("LaneObject is not an object")
    return Lane(
        tollgate_id=ident(obj, "TollgateID", required=True), lane_id=_lane_id(obj),
        lane_no=integer(obj, "LaneNo", 0, 999), name=text(obj, "Name", 200), direction=text(obj, "Direction", 8),
        description=text(obj, "Desc", 200), max_speed=integer(obj, "MaxSpeed", 0, 999),
        city_pass=text(obj, "CityPass", 8), ape_id=ident(obj, "ApeID"))


def _lane_id(obj: dict) -> int:
    v = integer(obj, "LaneId", 0, 999)
    if v is None:
        v = integer(obj, "LaneNo", 0, 999)  # a device that numbers its lanes once
    if v is None:
        raise Refused("LaneId is missing")
    return v


def lane_key(obj: Any) -> str:
    """The id an answer names a lane by (``TollgateID/LaneId``), as far as it can be read."""
    if not isinstance(obj, dict):
        return ""
    lid = field(obj, "LaneId")
    lid = lid if lid is not None else field(obj, "LaneNo")
    return f"{str(field(obj, 'TollgateID') or '')[:64]}/{str(lid if lid is not None else '')[:8]}"
