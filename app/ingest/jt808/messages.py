"""JT/T 808 message bodies: the terminal messages we decode and the platform replies we encode."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime

from app.domain.fix import Fix
from app.ingest.jt808.codec import Jt808Error, time_from_bcd, time_to_bcd

# Terminal → platform
TERMINAL_REPLY = 0x0001
HEARTBEAT = 0x0002
REGISTER = 0x0100
AUTHENTICATE = 0x0102
LOCATION = 0x0200
BATCH_LOCATION = 0x0704
# Platform → terminal
PLATFORM_REPLY = 0x8001
REGISTER_REPLY = 0x8100

# 0x8001 results
OK, FAIL, BAD_MESSAGE, UNSUPPORTED = 0, 1, 2, 3
# 0x8100 results
REGISTERED, VEHICLE_TAKEN, NO_VEHICLE, TERMINAL_TAKEN, NO_TERMINAL = 0, 1, 2, 3, 4

ALARM_BITS = {
    0: "sos",
    1: "overspeed",
    2: "fatigue",
    3: "danger_warning",
    4: "gnss_fault",
    5: "antenna_cut",
    6: "antenna_short",
    7: "low_voltage",
    8: "power_off",
    9: "lcd_fault",
    10: "tts_fault",
    11: "camera_fault",
    15: "vibration",
    16: "tampering",
    17: "tampering_2",
    18: "driving_time",
    19: "parking_overtime",
    20: "area",
    21: "route",
    22: "route_time",
    23: "deviation",
    24: "vss_fault",
    25: "fuel",
    26: "stolen",
    27: "illegal_ignition",
    28: "illegal_move",
    29: "collision",
    30: "rollover",
    31: "illegal_door",
}
STATUS_ACC, STATUS_FIXED, STATUS_SOUTH, STATUS_WEST = 1 << 0, 1 << 1, 1 << 2, 1 << 3
GNSS_BITS = {18: "gps", 19: "beidou", 20: "glonass", 21: "galileo"}


def _text(raw: bytes) -> str:
    # Strings are GBK and NUL-padded; a broken terminal must not break the session.
    return raw.split(b"\x00", 1)[0].decode("gbk", errors="replace").strip()


@dataclass(frozen=True, slots=True)
class Register:
    province: int
    city: int
    manufacturer: str
    model: str
    terminal_id: str
    plate_color: int
    plate: str


def decode_register(body: bytes, version: int | None = None) -> Register:
    # 2013: maker 5, model 20, id 7; 2019: 11, 30, 30.
    maker, model, tid = (11, 30, 30) if version is not None else (5, 20, 7)
    fixed = 4 + maker + model + tid + 1
    if len(body) < fixed:
        raise Jt808Error(f"register body too short ({len(body)} < {fixed} bytes)")
    province, city = struct.unpack_from(">HH", body, 0)
    p = 4
    out = []
    for size in (maker, model, tid):
        out.append(_text(body[p : p + size]))
        p += size
    return Register(province, city, out[0], out[1], out[2], body[p], _text(body[p + 1 :]))


@dataclass(frozen=True, slots=True)
class Authenticate:
    code: str
    imei: str | None = None
    software_version: str | None = None


def decode_authenticate(body: bytes, version: int | None = None) -> Authenticate:
    if version is None:
        return Authenticate(_text(body))
    if not body or len(body) < 1 + body[0]:
        raise Jt808Error("authenticate body shorter than its code length")
    n = body[0]
    rest = body[1 + n :]
    return Authenticate(_text(body[1 : 1 + n]), _text(rest[:15]) or None, _text(rest[15:35]) or None)


@dataclass(frozen=True, slots=True)
class Location:
    alarm: int
    status: int
    lat: float
    lon: float
    altitude_m: int
    speed_kmh: float
    course_deg: int
    time: datetime
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def alarms(self) -> frozenset[str]:
        return _alarm_names(self.alarm)

    @property
    def fixed(self) -> bool:
        return bool(self.status & STATUS_FIXED)

    def to_fix(self, device_id: str, history: bool = False) -> Fix:
        attrs: dict[str, object] = {"acc": bool(self.status & STATUS_ACC), **self.extras}
        systems = [name for bit, name in GNSS_BITS.items() if self.status >> bit & 1]
        if systems:
            attrs["gnss"] = systems
        return Fix(
            device_id=device_id,
            protocol="jt808",
            fix_time=self.time,
            lon=self.lon,
            lat=self.lat,
            speed_kmh=self.speed_kmh,
            course_deg=float(self.course_deg),
            altitude_m=float(self.altitude_m),
            valid=self.fixed,
            sos=bool(self.alarm & 1),
            alarms=self.alarms,
            attributes=attrs,
            history=history,
        )


LOCATION_FIXED = 28


def _extras(raw: bytes) -> dict[str, object]:
    out: dict[str, object] = {}
    p = 0
    while p < len(raw):
        if p + 2 > len(raw):
            raise Jt808Error("truncated location extra")
        tag, size = raw[p], raw[p + 1]
        value = raw[p + 2 : p + 2 + size]
        if len(value) != size:
            raise Jt808Error(f"location extra 0x{tag:02X} truncated")
        p += 2 + size
        if tag == 0x01 and size == 4:
            out["mileage_km"] = int.from_bytes(value, "big") / 10.0
        elif tag == 0x02 and size == 2:
            out["fuel_l"] = int.from_bytes(value, "big") / 10.0
        elif tag == 0x30 and size == 1:
            out["signal"] = value[0]
        elif tag == 0x31 and size == 1:
            out["satellites"] = value[0]
        else:
            out[f"x{tag:02x}"] = value.hex()
    return out


_LOCATION = struct.Struct(">IIIIhHH")
_NO_ALARMS: frozenset[str] = frozenset()
# The GNSS systems named by status bits 18–21, per value of those four bits.
_GNSS = [tuple(name for bit, name in GNSS_BITS.items() if (nibble << 18) >> bit & 1) for nibble in range(16)]
_ALARMS: dict[int, frozenset[str]] = {0: _NO_ALARMS}


def _alarm_names(alarm: int) -> frozenset[str]:
    names = _ALARMS.get(alarm)
    if names is None:
        names = frozenset(name for bit, name in ALARM_BITS.items() if alarm >> bit & 1)
        if len(_ALARMS) < 4096:
            _ALARMS[alarm] = names
    return names


def location_fix(body: bytes, device_id: str) -> Fix:
    """``decode_location(body).to_fix(device_id)`` in one step, for the hot path (the same fix, the same
    errors; the tests hold the two to that)."""
    if len(body) < LOCATION_FIXED:
        raise Jt808Error(f"location body too short ({len(body)} < {LOCATION_FIXED} bytes)")
    alarm, status, lat_u, lon_u, alt, speed, course = _LOCATION.unpack_from(body, 0)
    when = time_from_bcd(body[22:28])
    attrs: dict[str, object] = {"acc": bool(status & STATUS_ACC)}
    if len(body) > LOCATION_FIXED:
        attrs.update(_extras(body[28:]))
    if status >> 18 & 0xF:
        attrs["gnss"] = list(_GNSS[status >> 18 & 0xF])  # a list of its own: attributes are the fix's
    return Fix(device_id, "jt808", when,
               lon_u / 1e6 * (-1 if status & STATUS_WEST else 1), lat_u / 1e6 * (-1 if status & STATUS_SOUTH else 1),
               speed / 10.0, float(course), None, float(alt), bool(status & STATUS_FIXED), bool(alarm & 1),
               _alarm_names(alarm), None, attrs)


def decode_location(body: bytes) -> Location:
    if len(body) < LOCATION_FIXED:
        raise Jt808Error(f"location body too short ({len(body)} < {LOCATION_FIXED} bytes)")
    alarm, status, lat_u, lon_u, alt, speed, course = struct.unpack_from(">IIIIhHH", body, 0)
    lat = lat_u / 1e6 * (-1 if status & STATUS_SOUTH else 1)
    lon = lon_u / 1e6 * (-1 if status & STATUS_WEST else 1)
    return Location(
        alarm, status, lat, lon, alt, speed / 10.0, course, time_from_bcd(body[22:28]), _extras(body[28:])
    )


@dataclass(frozen=True, slots=True)
class BatchLocation:
    kind: int  # 0 normal, 1 blind-area backfill
    items: list[Location]


def decode_batch_location(body: bytes) -> BatchLocation:
    if len(body) < 3:
        raise Jt808Error("batch body too short")
    count, kind = struct.unpack_from(">HB", body, 0)
    p = 3
    items = []
    for _ in range(count):
        if p + 2 > len(body):
            raise Jt808Error(f"batch truncated after {len(items)} of {count} items")
        (size,) = struct.unpack_from(">H", body, p)
        item = body[p + 2 : p + 2 + size]
        if len(item) != size:
            raise Jt808Error(f"batch item {len(items)} truncated")
        items.append(decode_location(item))
        p += 2 + size
    return BatchLocation(kind, items)


def encode_location(loc: Location, extras: bytes = b"") -> bytes:
    """The 0x0200 body (simulator and tests); sign of lat/lon goes into the status bits."""
    status = loc.status & ~(STATUS_SOUTH | STATUS_WEST)
    status |= STATUS_SOUTH if loc.lat < 0 else 0
    status |= STATUS_WEST if loc.lon < 0 else 0
    return (
        struct.pack(
            ">IIIIhHH",
            loc.alarm,
            status,
            round(abs(loc.lat) * 1e6),
            round(abs(loc.lon) * 1e6),
            loc.altitude_m,
            round(loc.speed_kmh * 10),
            loc.course_deg,
        )
        + time_to_bcd(loc.time)
        + extras
    )


def encode_general_reply(reply_serial: int, reply_msg_id: int, result: int) -> bytes:
    """0x8001 body."""
    return struct.pack(">HHB", reply_serial & 0xFFFF, reply_msg_id, result)


def encode_register_reply(reply_serial: int, result: int, auth_code: str = "") -> bytes:
    """0x8100 body; the auth code only on success."""
    body = struct.pack(">HB", reply_serial & 0xFFFF, result)
    return body + (auth_code.encode("gbk") if result == REGISTERED else b"")


def decode_general_reply(body: bytes) -> tuple[int, int, int]:
    if len(body) != 5:
        raise Jt808Error("general reply body must be 5 bytes")
    return struct.unpack(">HHB", body)
