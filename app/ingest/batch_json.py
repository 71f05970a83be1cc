"""SharpEyes' own batch JSON: ``[{target, time, lon, lat, speed, heading, accuracy}, …]`` → fixes.

Units: ``speed`` in km/h, ``heading`` in degrees from north, ``accuracy`` in metres; ``time`` ISO-8601
with a zone, or Unix seconds (values ≥ 2^31 are milliseconds). Each item is decoded and validated on
its own: the answer names the rejected ones by index and reason, the others are stored.
"""

from __future__ import annotations

import itertools
import operator
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from app.domain.fix import MAX_AGE, MAX_SPEED_KMH, Fix, FixRejected, Validator
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


def decode_batch(items: list[Any], now: datetime | None = None,
                 max_age: timedelta = MAX_AGE) -> tuple[list[tuple[int, Fix]], list[Reject]]:
    """Decoded and validated fixes with their index, and the rejects: one clock reading.

    Columnar: the usual items (dicts of known keys, a string target and time, float numbers) are checked
    column by column — types by one ``set(map(type, column))``, ranges by numpy, targets and times once per
    distinct value — and only the rows that pass become a ``Fix`` (one ``map``). Every other row, and every
    row failing a check, goes the item-by-item way (``_decode_fast`` + ``Validator``), which decides and
    gives the reason: the columnar part only ever accepts what that way accepts, with the same fix.
    """
    validate = Validator(now or datetime.now(UTC), max_age=max_age)
    times: dict[Any, datetime | FixRejected] = {}  # items of one batch often share their time
    fast, fixes = _columnar(items, validate, times)
    good: list[tuple[int, Fix]] = []
    rejects: list[Reject] = []
    slow = [i for i, ok in enumerate(fast) if not ok] if fixes is not None else range(len(items))
    for i in slow:
        try:
            good.append((i, validate(_decode_fast(items[i], times))))
        except FixRejected as exc:
            rejects.append(Reject(i, exc.reason, exc.message, exc.field))
    if fixes:
        accepted = list(zip(itertools.compress(range(len(items)), fast), fixes, strict=True))
        good = sorted(accepted + good, key=operator.itemgetter(0)) if good else accepted
    return good, rejects


_NONE = type(None)
_FLOAT_ONLY, _FLOAT_OR_NONE = {float}, {float, _NONE}


def _floats(column: list[Any], low: float, high: float, optional: bool) -> np.ndarray:
    """Rows whose value is a float within [low, high] (NaN never is), or None when ``optional``."""
    n = len(column)
    kinds = set(map(type, column))
    if optional and kinds == {_NONE}:
        return np.ones(n, bool)
    if kinds <= _FLOAT_ONLY:
        v = np.array(column, float)
        return (v >= low) & (v <= high)
    if optional and kinds <= _FLOAT_OR_NONE:
        v = np.array(column, float)  # None → NaN
        return ((v >= low) & (v <= high)) | np.fromiter(map(_NONE.__instancecheck__, column), bool, n)
    typed = np.fromiter((type(x) is float or (optional and x is None) for x in column), bool, n)
    v = np.array([x if type(x) is float else np.nan for x in column], float)
    ok = (v >= low) & (v <= high)
    if optional:
        ok |= np.fromiter(map(_NONE.__instancecheck__, column), bool, n)
    return typed & ok


# target value → whether it is a usable device id as it is (the same devices report batch after batch)
_TARGETS: dict[Any, bool] = {}


def _good_target(t: Any) -> bool:
    return type(t) is str and 0 < len(t) <= 64 and not t[0].isspace() and not t[-1].isspace()


def _columnar(items: list[Any], validate: Validator,
              times: dict[Any, datetime | FixRejected]) -> tuple[list[bool], list[Fix] | None]:
    """Which rows are accepted the columnar way, and their fixes (in row order); None: not tried."""
    n = len(items)
    if n < 8:
        return [], None  # a handful: the item-by-item way is as quick
    fields = _FIELDS
    plain = [type(x) is dict and fields.issuperset(x) for x in items]
    rows = items if all(plain) else [x if p else {} for x, p in zip(items, plain, strict=True)]
    try:
        cols = list(zip(*map(_USUAL, rows), strict=True))
    except KeyError:  # optional fields left out somewhere
        cols = [[r.get(k) for r in rows] for k in ("target", "time", "lon", "lat", "speed", "heading", "accuracy")]
    targets, raw_times, lons, lats, speeds, headings, accuracies = cols
    try:
        known = _TARGETS
        for t in set(targets).difference(known):
            if len(known) >= 100_000:
                known.clear()
            known[t] = _good_target(t)
        ok = np.fromiter(map(known.__getitem__, targets), bool, n)
    except (TypeError, KeyError):  # an unhashable target (the item-by-item way says why); a cache cleared
        ok = np.fromiter(map(_good_target, targets), bool, n)
    # Times: parsed and range-checked once per distinct string (numbers and the rest: item by item).
    earliest, latest = validate.earliest, validate.latest
    when: dict[str, datetime | None] = {}
    for raw in {t for t in raw_times if type(t) is str}:
        parsed = times.get(raw)
        if parsed is None:
            try:
                parsed = parse_time(raw)
            except FixRejected as exc:
                parsed = exc
            times[raw] = parsed
        when[raw] = (parsed if type(parsed) is datetime and parsed.tzinfo is not None
                     and earliest <= parsed <= latest else None)
    fix_times = [when.get(t) if type(t) is str else None for t in raw_times]
    ok &= np.fromiter((t is not None for t in fix_times), bool, n)
    ok &= _floats(lons, -180.0, 180.0, False)
    ok &= _floats(lats, -90.0, 90.0, False)
    ok &= _floats(speeds, 0.0, MAX_SPEED_KMH, True)
    ok &= _floats(headings, 0.0, 360.0, True)
    ok &= _floats(accuracies, 0.0, sys.float_info.max, True)  # finite only: the detailed way rejects inf
    ok &= np.array(plain, bool)
    accepted = ok.tolist()
    if not any(accepted):
        return accepted, []
    sos = [r.get("sos") is True for r in rows]
    pick = (lambda col: col) if all(accepted) else (lambda col: list(itertools.compress(col, accepted)))
    sos = pick(sos)
    k = len(sos)
    fixes = list(map(Fix, pick(targets), itertools.repeat(PROTOCOL, k), pick(fix_times), pick(lons), pick(lats),
                     pick(speeds), pick(headings), pick(accuracies), itertools.repeat(None, k),
                     itertools.repeat(True, k), sos, [_SOS if s else _NO_ALARMS for s in sos],
                     itertools.repeat(None, k), [{} for _ in range(k)]))
    return accepted, fixes
