"""One uploaded GA/T 1400 object, checked and normalised. Pure.

An object that cannot be stored raises ``Refused`` with its reason: the upload answers it with its own
status (8, invalid JSON content) and stores the others. Fields are read tolerantly (``messages.field``:
any letter case; numbers as strings); what a column cannot hold is refused, not cut."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from app.ingest.viid.messages import INVALID_JSON_CONTENT, field, parse_time

MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_IMAGES = 16  # per record
MAX_ATTRIBUTES = 100  # scalar fields kept of a face / person / non-motor record
_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
_PLACE = re.compile(r"^([0-9]{6}|[0-9]{9}|[0-9]{12})$")
_WS = re.compile(rb"\s+")


class Refused(ValueError):
    """This object is not stored: ``reason`` goes into its status."""

    def __init__(self, reason: str, code: int = INVALID_JSON_CONTENT) -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


@dataclass(frozen=True, slots=True)
class Image:
    """A ``SubImageInfoObject``: ``data`` decoded from base64 (None when only a ``StoragePath`` was sent)."""

    data: bytes | None
    ext: str  # jpg | png | bmp | gif | bin, from the bytes themselves
    type: str | None  # GA/T 1400 image type code (01 vehicle big picture, 02 plate, 11 face, 14 scene…)
    image_id: str | None
    url: str | None
    width: int | None
    height: int | None


@dataclass(frozen=True, slots=True)
class MotorVehicle:
    record_id: str
    device_id: str | None
    tollgate_id: str | None
    pass_time: datetime
    lane_no: int | None
    direction: str | None
    speed_kmh: float | None
    plate_no: str | None
    plate_color: str | None
    plate_class: str | None
    vehicle_class: str | None
    vehicle_color: str | None
    vehicle_brand: str | None
    images: tuple[Image, ...]


@dataclass(frozen=True, slots=True)
class Tollgate:
    tollgate_id: str
    name: str | None
    lon: float | None
    lat: float | None
    place_code: str | None
    place: str | None
    category: str | None
    usage: str | None
    lane_count: int | None
    status: str | None


@dataclass(frozen=True, slots=True)
class Sighting:
    """A face, person or non-motor-vehicle record."""

    kind: str  # face | person | nonmotor
    record_id: str
    device_id: str | None
    tollgate_id: str | None
    shot_time: datetime | None
    attributes: dict[str, Any]
    images: tuple[Image, ...]


# -- fields -----------------------------------------------------------------------------------------------

def text(obj: dict, name: str, max_len: int, required: bool = False) -> str | None:
    v = field(obj, name)
    if isinstance(v, bool) or not isinstance(v, str | int | float | type(None)):
        raise Refused(f"{name} is not text")
    s = str(v).strip() if v is not None else ""
    if not s:
        if required:
            raise Refused(f"{name} is missing")
        return None
    if len(s) > max_len:
        raise Refused(f"{name} is longer than {max_len} characters")
    if "\x00" in s:  # PostgreSQL text holds no NUL
        raise Refused(f"{name} holds a NUL character")
    return s


def ident(obj: dict, name: str, required: bool = False) -> str | None:
    s = text(obj, name, 64, required)
    if s is not None and not _ID.match(s):
        raise Refused(f"{name} is not an id (letters, digits, _ and -)")
    return s


def number(obj: dict, name: str, lo: float, hi: float) -> float | None:
    v = field(obj, name)
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        raise Refused(f"{name} is not a number")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise Refused(f"{name} is not a number") from None
    if not lo <= x <= hi:  # also NaN
        raise Refused(f"{name} is out of range {lo}…{hi}")
    return x


def integer(obj: dict, name: str, lo: int, hi: int) -> int | None:
    x = number(obj, name, lo, hi)
    if x is None:
        return None
    if x != int(x):
        raise Refused(f"{name} is not a whole number")
    return int(x)


def when(obj: dict, names: tuple[str, ...], tz: tzinfo, required: bool) -> datetime | None:
    for name in names:
        v = field(obj, name)
        if v is None or v == "":
            continue
        try:
            return parse_time(v, tz)
        except ValueError:
            raise Refused(f"{name} is not a yyyyMMddHHmmss time") from None
    if required:
        raise Refused(f"{names[0]} is missing")
    return None


# -- images -----------------------------------------------------------------------------------------------

def _sniff(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] == b"GIF8":
        return "gif"
    return "bin"


def image(obj: Any, at: str) -> Image:
    if not isinstance(obj, dict):
        raise Refused(f"{at} is not an object")
    raw = field(obj, "Data")
    data = None
    if raw not in (None, ""):
        if not isinstance(raw, str):
            raise Refused(f"{at}.Data is not base64 text")
        b = _WS.sub(b"", raw.encode("ascii", "replace"))
        if b.startswith(b"data:"):  # a data URL from some web-based devices
            b = b.partition(b",")[2]
        if len(b) * 3 // 4 > MAX_IMAGE_BYTES:
            raise Refused(f"{at}.Data is larger than {MAX_IMAGE_BYTES} bytes")
        try:
            data = base64.b64decode(b, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(f"{at}.Data is not base64") from None
        if not data:
            raise Refused(f"{at}.Data is empty")
    url = text(obj, "StoragePath", 1000)
    if data is None and url is None:
        raise Refused(f"{at} has neither Data nor StoragePath")
    return Image(data, _sniff(data) if data else "bin", text(obj, "Type", 8), text(obj, "ImageID", 64), url,
                 integer(obj, "Width", 0, 100_000), integer(obj, "Height", 0, 100_000))


def images(obj: dict) -> tuple[Image, ...]:
    sub = field(obj, "SubImageList")
    if sub is None or sub == "":
        return ()
    items = field(sub, "SubImageInfoObject") if isinstance(sub, dict) else sub
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise Refused("SubImageList is not a list of SubImageInfoObject")
    if len(items) > MAX_IMAGES:
        raise Refused(f"SubImageList has more than {MAX_IMAGES} images")
    return tuple(image(x, f"SubImageList[{i}]") for i, x in enumerate(items))


# -- objects ----------------------------------------------------------------------------------------------

def record_id(obj: Any, name: str) -> str:
    """The object's own id, for its status (``""`` when it has none we can read)."""
    if not isinstance(obj, dict):
        return ""
    v = field(obj, name)
    s = str(v).strip() if isinstance(v, str | int) and not isinstance(v, bool) else ""
    return s if _ID.match(s) else ""


def motor_vehicle(obj: Any, tz: tzinfo) -> MotorVehicle:
    if not isinstance(obj, dict):
        raise Refused("MotorVehicleObject is not an object")
    plate = text(obj, "PlateNo", 32)
    return MotorVehicle(
        record_id=ident(obj, "MotorVehicleID", required=True),
        device_id=ident(obj, "DeviceID"),
        tollgate_id=ident(obj, "TollgateID"),
        pass_time=when(obj, ("PassTime", "AppearTime", "MarkTime"), tz, required=True),
        lane_no=integer(obj, "LaneNo", 0, 999),
        direction=text(obj, "Direction", 8),
        speed_kmh=number(obj, "Speed", 0, 1000),
        plate_no=plate.upper() if plate else None,
        plate_color=text(obj, "PlateColor", 8),
        plate_class=text(obj, "PlateClass", 8),
        vehicle_class=text(obj, "VehicleClass", 8),
        vehicle_color=text(obj, "VehicleColor", 8),
        vehicle_brand=text(obj, "VehicleBrand", 32),
        images=images(obj),
    )


def tollgate(obj: Any) -> Tollgate:
    if not isinstance(obj, dict):
        raise Refused("TollgateObject is not an object")
    lon, lat = number(obj, "Longitude", -180, 180), number(obj, "Latitude", -90, 90)
    if (lon is None) != (lat is None):
        raise Refused("Longitude and Latitude come together")
    if lon == 0 and lat == 0:  # "not surveyed" on many devices
        lon = lat = None
    place_code = text(obj, "PlaceCode", 12)
    return Tollgate(
        tollgate_id=ident(obj, "TollgateID", required=True), name=text(obj, "Name", 200), lon=lon, lat=lat,
        place_code=place_code if place_code and _PLACE.match(place_code) else None, place=text(obj, "Place", 200),
        category=text(obj, "TollgateCat", 8), usage=text(obj, "TollgateUsage", 8),
        lane_count=integer(obj, "LaneNum", 0, 999), status=text(obj, "Status", 8))


# kind → (list object, item, id field, time fields)
SIGHTINGS = {
    "face": ("FaceListObject", "FaceObject", "FaceID", ("ShotTime", "FaceAppearTime", "LocationMarkTime")),
    "person": ("PersonListObject", "PersonObject", "PersonID",
               ("ShotTime", "PersonAppearTime", "LocationMarkTime")),
    "nonmotor": ("NonMotorVehicleListObject", "NonMotorVehicleObject", "NonMotorVehicleID",
                 ("ShotTime", "AppearTime", "PassTime", "MarkTime")),
}


def sighting(kind: str, obj: Any, tz: tzinfo) -> Sighting:
    _, item, id_name, times = SIGHTINGS[kind]
    if not isinstance(obj, dict):
        raise Refused(f"{item} is not an object")
    attributes = {}
    for k, v in obj.items():
        if len(attributes) >= MAX_ATTRIBUTES:
            break
        if isinstance(k, str) and len(k) <= 64 and "\x00" not in k and isinstance(v, str | int | float | bool) \
                and k.lower() != "subimagelist":
            attributes[k] = v[:200].replace("\x00", "") if isinstance(v, str) else v
    return Sighting(kind, ident(obj, id_name, required=True), ident(obj, "DeviceID"), ident(obj, "TollgateID"),
                    when(obj, times, tz, required=False), attributes, images(obj))
