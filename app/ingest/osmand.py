"""OsmAnd / Traccar Client HTTP reports → ``Fix``.

Three shapes reach the same endpoint (protocols/TRACKERS.md):
- query string or form body: ``id``/``deviceid``, ``lat``+``lon`` or ``location=lat,lon``,
  ``timestamp``, ``speed`` in **knots**, ``bearing``/``heading``, ``altitude``, ``accuracy``
  (0 = unknown), ``hdop``, ``batt``;
- the same keys as a flat JSON object;
- Traccar Client's JSON: ``{"device_id", "location": {"timestamp", "coords": {...}, "battery": {...}}}``
  with speed in **m/s** and −1 meaning unknown.
Unknown keys are kept as attributes. Everything wrong raises ``FixRejected`` with a reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson

from app.domain.fix import Fix, FixRejected

PROTOCOL = "osmand"
KNOT_KMH = 1.852
MS_KMH = 3.6
_KNOWN = {
    "id",
    "deviceid",
    "lat",
    "lon",
    "location",
    "timestamp",
    "speed",
    "bearing",
    "heading",
    "altitude",
    "accuracy",
    "batt",
    "valid",
    "alarm",
}
_TRUE = {"1", "true", "yes", "sos"}
# A GET / carrying any of these is a device's report (the apps use a bare server URL), never the web page.
REPORT_PARAMS = frozenset({"id", "deviceid", "lat", "lon", "location", "timestamp"})


def _number(params: Mapping[str, Any], *names: str) -> float | None:
    for name in names:
        raw = params.get(name)
        if raw is None or raw == "":
            continue
        if isinstance(raw, bool):
            raise FixRejected("wrong_type", f"{name} must be a number", field=name)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise FixRejected(
                "wrong_type", f"{name} must be a number, got {str(raw)[:40]!r}", field=name
            ) from None
        if not math.isfinite(value):
            raise FixRejected("not_finite", f"{name} must be finite", field=name)
        return value
    return None


def parse_timestamp(raw: Any, now: datetime | None = None) -> datetime:
    """Unix seconds (values ≥ 2^31 are milliseconds), ISO-8601, or ``yyyy-MM-dd HH:mm:ss`` (UTC)."""
    if raw is None or raw == "":
        return now or datetime.now(UTC)  # OsmAnd always sends one; Traccar uses server time otherwise
    if isinstance(raw, bool):
        raise FixRejected("bad_timestamp", "timestamp must be a number or a date", field="timestamp")
    text = str(raw).strip()
    try:
        epoch = float(text)
    except ValueError:
        epoch = None
    try:
        if epoch is not None:
            if not math.isfinite(epoch) or epoch < 0:
                raise ValueError(text)
            return datetime.fromtimestamp(epoch / 1000.0 if epoch >= 2**31 else epoch, UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))  # also takes "yyyy-MM-dd HH:mm:ss"
    except (ValueError, OverflowError, OSError):
        raise FixRejected(
            "bad_timestamp", f"timestamp not understood: {text[:40]!r}", field="timestamp"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _device_id(raw: Any) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise FixRejected("missing_id", "device id is missing (id or deviceid)", field="id")
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        raise FixRejected("wrong_type", "device id must be a string", field="id")
    return str(raw).strip()


def decode_params(params: Mapping[str, Any], now: datetime | None = None) -> Fix:
    """Decode the query-string / form / flat-JSON shape."""
    device_id = _device_id(params.get("id", params.get("deviceid")))
    lat, lon = _number(params, "lat"), _number(params, "lon")
    if (lat is None or lon is None) and params.get("location"):
        parts = str(params["location"]).split(",")
        if len(parts) != 2:
            raise FixRejected("wrong_type", "location must be 'lat,lon'", field="location")
        lat, lon = _number({"lat": parts[0]}, "lat"), _number({"lon": parts[1]}, "lon")
    if lat is None or lon is None:
        raise FixRejected("missing_position", "position is missing (lat and lon, or location)", field="lat")
    speed_kn = _number(params, "speed")
    accuracy = _number(params, "accuracy")
    valid = str(params.get("valid", "true")).lower() not in ("false", "0")
    return Fix(
        device_id=device_id,
        protocol=PROTOCOL,
        fix_time=parse_timestamp(params.get("timestamp"), now),
        lon=lon,
        lat=lat,
        speed_kmh=None if speed_kn is None else speed_kn * KNOT_KMH,
        course_deg=_number(params, "bearing", "heading"),
        accuracy_m=accuracy or None,  # 0 means unknown
        altitude_m=_number(params, "altitude"),
        valid=valid,
        sos=str(params.get("alarm", "")).lower() in _TRUE,
        alarms=frozenset({"sos"}) if str(params.get("alarm", "")).lower() in _TRUE else frozenset(),
        battery_pct=_number(params, "batt"),
        attributes={k: v for k, v in params.items() if k not in _KNOWN},
    )


def _unknown_as_none(value: float | None) -> float | None:
    return None if value is None or value < 0 else value  # Traccar Client sends −1 for unknown


def decode_traccar_json(obj: Mapping[str, Any], now: datetime | None = None) -> Fix:
    """Decode Traccar Client's JSON (``location.coords``, speed in m/s)."""
    location = obj.get("location")
    if not isinstance(location, Mapping):
        raise FixRejected("wrong_type", "location must be an object", field="location")
    coords = location.get("coords")
    if not isinstance(coords, Mapping):
        raise FixRejected("missing_position", "location.coords is missing", field="location")
    lat, lon = _number(coords, "latitude"), _number(coords, "longitude")
    if lat is None or lon is None:
        raise FixRejected("missing_position", "latitude and longitude are required", field="location")
    speed_ms = _unknown_as_none(_number(coords, "speed"))
    battery = location.get("battery")
    level = _number(battery, "level") if isinstance(battery, Mapping) else None
    event = str(location.get("event", "")).lower()
    sos = event in ("sos", "alarm") or bool(obj.get("sos"))
    return Fix(
        device_id=_device_id(obj.get("device_id", obj.get("id"))),
        protocol=PROTOCOL,
        fix_time=parse_timestamp(location.get("timestamp"), now),
        lon=lon,
        lat=lat,
        speed_kmh=None if speed_ms is None else speed_ms * MS_KMH,
        course_deg=_unknown_as_none(_number(coords, "heading")),
        accuracy_m=_unknown_as_none(_number(coords, "accuracy")) or None,
        altitude_m=_number(coords, "altitude"),
        sos=sos,
        alarms=frozenset({"sos"}) if sos else frozenset(),
        battery_pct=None if level is None or level < 0 else level * 100.0,
        attributes={k: location[k] for k in ("is_moving", "odometer", "event") if k in location},
    )


def decode_json(obj: Any, now: datetime | None = None) -> Fix:
    if not isinstance(obj, Mapping):
        raise FixRejected("wrong_type", "JSON body must be an object")
    if "location" in obj and isinstance(obj["location"], Mapping):
        return decode_traccar_json(obj, now)
    return decode_params(obj, now)


def decode_request(
    query: Mapping[str, Any], body: bytes = b"", content_type: str = "", now: datetime | None = None
) -> Fix:
    """Decode one HTTP report: query parameters, plus a form or JSON body if there is one."""
    ctype = content_type.split(";")[0].strip().lower()
    if body and (ctype == "application/json" or (not ctype and body.lstrip()[:1] == b"{")):
        try:
            # orjson: a nesting limit (1,024) instead of the stdlib's RecursionError on a pathological body
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise FixRejected("bad_json", "body is not valid JSON (or nested too deep)") from None
        if isinstance(obj, Mapping) and query:
            obj = {**query, **obj}
        return decode_json(obj, now)
    params: dict[str, Any] = dict(query)
    if body:
        try:
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise FixRejected("bad_form", "form body is not UTF-8") from None
    return decode_params(params, now)
