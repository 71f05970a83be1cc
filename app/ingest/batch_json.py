"""SharpEyes' own batch JSON: ``[{target, time, lon, lat, speed, heading, accuracy}, …]`` → fixes.

Units: ``speed`` in km/h, ``heading`` in degrees from north, ``accuracy`` in metres; ``time`` ISO-8601
with a zone, or Unix seconds (values ≥ 2^31 are milliseconds). Each item is decoded and validated on
its own: the answer names the rejected ones by index and reason, the others are stored.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.domain.fix import Fix, FixRejected, Validator
from app.ingest.osmand import parse_timestamp

PROTOCOL = "api"
_FIELDS = {"target", "time", "lon", "lat", "speed", "heading", "accuracy", "sos"}


@dataclass(frozen=True, slots=True)
class Reject:
    index: int
    reason: str
    message: str
    field: str | None = None


def _num(item: Mapping[str, Any], name: str, required: bool = False) -> float | None:
    value = item.get(name)
    if value is None:
        if required:
            raise FixRejected("missing_position" if name in ("lon", "lat") else "missing_field",
                              f"{name} is required", field=name)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FixRejected("wrong_type", f"{name} must be a number, got {type(value).__name__}", field=name)
    return float(value)


def decode_item(item: Any) -> Fix:
    if not isinstance(item, Mapping):
        raise FixRejected("wrong_type", "each position must be an object")
    target = item.get("target")
    if isinstance(target, bool) or not isinstance(target, str | int) or not str(target).strip():
        raise FixRejected("missing_id", "target (the device's id, a string) is required", field="target")
    if item.get("time") is None:
        raise FixRejected("missing_field", "time is required", field="time")
    when = parse_time(item["time"])
    unknown = sorted(set(item) - _FIELDS)
    return Fix(
        device_id=str(target).strip(),
        protocol=PROTOCOL,
        fix_time=when,
        lon=_num(item, "lon", True),
        lat=_num(item, "lat", True),
        speed_kmh=_num(item, "speed"),
        course_deg=_num(item, "heading"),
        accuracy_m=_num(item, "accuracy"),
        sos=item.get("sos") is True,
        alarms=frozenset({"sos"}) if item.get("sos") is True else frozenset(),
        attributes={k: item[k] for k in unknown[:20]},
    )


def parse_time(raw_time: Any) -> datetime:
    if isinstance(raw_time, str) and not _is_number(raw_time):
        if not raw_time.strip()[:4].isdigit():
            raise FixRejected("bad_timestamp", "time must be ISO-8601 or Unix seconds", field="time")
        if not _has_zone(raw_time):
            # A time without zone is ambiguous across a platform spanning devices in GMT+8 and UTC.
            raise FixRejected("bad_timestamp", "time needs a zone (e.g. Z or +08:00)", field="time")
    return parse_timestamp(raw_time)


def _is_number(raw: str) -> bool:
    try:
        float(raw)
    except ValueError:
        return False
    return True


def _has_zone(raw: str) -> bool:
    tail = raw.strip()[10:]
    return tail.endswith("Z") or "+" in tail or "-" in tail


_NO_ALARMS = frozenset()
_USUAL = operator.itemgetter("target", "time", "lon", "lat", "speed", "heading", "accuracy")
_SOS = frozenset({"sos"})


def _decode_fast(item: Any, times: dict[Any, datetime | FixRejected]) -> Fix:
    """``decode_item`` for the usual item (a dict of known keys, string target, float numbers, a time
    already seen in this batch or not): no exceptions, no repeated time parsing. Anything unusual goes
    through ``decode_item``, which gives the reason."""
    if type(item) is not dict or not _FIELDS.issuperset(item):
        return decode_item(item)
    try:
        target, raw_time, lon, lat, speed, heading, accuracy = _USUAL(item)
    except KeyError:  # an optional field left out: fine, but the careful way
        target, raw_time, lon, lat = item.get("target"), item.get("time"), item.get("lon"), item.get("lat")
        speed, heading, accuracy = item.get("speed"), item.get("heading"), item.get("accuracy")
    if not (type(target) is str and target and not target[0].isspace() and not target[-1].isspace()
            and type(lon) is float and type(lat) is float
            and (speed is None or type(speed) is float) and (heading is None or type(heading) is float)
            and (accuracy is None or type(accuracy) is float)
            and raw_time is not None and type(raw_time) is not bool):
        return decode_item(item)
    try:
        when = times[raw_time]
    except KeyError:
        try:
            when = parse_time(raw_time)
        except FixRejected as exc:
            when = exc
        if len(times) < 10_000:
            times[raw_time] = when
    except TypeError:  # an unhashable time (a list…): the detailed way says why
        return decode_item(item)
    if type(when) is not datetime:
        raise when
    sos = item.get("sos") is True
    return Fix(target, PROTOCOL, when, lon, lat, speed, heading, accuracy, None, True, sos,
               _SOS if sos else _NO_ALARMS, None, {})


def decode_batch(items: list[Any], now: datetime | None = None) -> tuple[list[tuple[int, Fix]], list[Reject]]:
    """Decoded and validated fixes with their index, and the rejects: one pass, one clock reading."""
    validate = Validator(now or datetime.now(UTC))
    times: dict[Any, datetime | FixRejected] = {}  # items of one batch often share their time
    good: list[tuple[int, Fix]] = []
    rejects: list[Reject] = []
    for i, item in enumerate(items):
        try:
            good.append((i, validate(_decode_fast(item, times))))
        except FixRejected as exc:
            rejects.append(Reject(i, exc.reason, exc.message, exc.field))
    return good, rejects
