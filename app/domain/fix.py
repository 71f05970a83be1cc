"""One position report from a device (a "fix"), whatever protocol it came by, and its validation.

Units are in the field names. ``fix_time`` is always timezone-aware UTC. Decoders build a ``Fix``;
``validate_fix`` decides whether it may enter the platform and says why not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain.errors import InvalidInput

MAX_FUTURE = timedelta(minutes=5)
# Terminals replay buffered "blind area" fixes days after an outage: those are stored with their own time.
# Only a fix older than the position retention is refused (its day's partition is dropped, so storing it
# would acknowledge what is deleted at once; also a broken clock, e.g. the GPS week-number rollover that
# puts fixes ~19.6 years back). The runtime passes ``position_retention_days``; this is its default.
MAX_AGE = timedelta(days=90)
# A fix reaching us later than this is history (stored, not live: no live marker, no live events) whatever
# the target's state; so is one not newer than the target's last live fix, and a blind-area backfill.
LIVE_WINDOW = timedelta(hours=24)
MAX_SPEED_KMH = 1500.0  # above any patrol car, drone or helicopter


class FixRejected(InvalidInput):
    """A report that cannot be accepted; ``reason`` is a short stable key, the message says more."""

    code = "fix_rejected"

    def __init__(self, reason: str, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message or reason, field=field)
        self.reason = reason


# Not ``frozen``: a frozen dataclass's ``__init__`` costs a ``object.__setattr__`` call per field, and
# fixes are built by the ten thousand per second. Treat it as immutable all the same (it stays hashable).
@dataclass(slots=True, unsafe_hash=True)
class Fix:
    device_id: str
    protocol: str  # osmand | jt808 | gb28181 | api | sim
    fix_time: datetime
    lon: float
    lat: float
    speed_kmh: float | None = None
    course_deg: float | None = None
    accuracy_m: float | None = None
    altitude_m: float | None = None
    valid: bool = True  # False: the terminal says it has no GNSS fix (position may be stale or 0,0)
    sos: bool = False
    alarms: frozenset[str] = frozenset()
    battery_pct: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict, compare=False)
    history: bool = False  # the device says it is buffered history (JT/T 808 0x0704 blind-area backfill)

    @property
    def key(self) -> tuple[str, str]:
        """The device's identity across the platform: (protocol, external id)."""
        return (self.protocol, self.device_id)


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FixRejected("wrong_type", f"{name} must be a number, got {type(value).__name__}", field=name)
    v = float(value)
    if not math.isfinite(v):
        raise FixRejected("not_finite", f"{name} must be finite", field=name)
    return v


def validate_fix(
    fix: Fix, now: datetime | None = None, *, max_future: timedelta = MAX_FUTURE, max_age: timedelta = MAX_AGE
) -> Fix:
    """Return ``fix`` if acceptable, else raise ``FixRejected`` with the reason."""
    return Validator(now, max_future=max_future, max_age=max_age)(fix)


class Validator:
    """``validate_fix`` with its clock read once: call it on every fix of a batch.

    The common case (every field of the expected type and in range) is a handful of comparisons; any
    doubt goes the detailed way (``_check``), which raises with the reason or accepts.
    """

    __slots__ = ("earliest", "latest", "max_age", "max_future", "now")

    def __init__(self, now: datetime | None = None, *, max_future: timedelta = MAX_FUTURE,
                 max_age: timedelta = MAX_AGE) -> None:
        self.now = now or datetime.now(UTC)
        self.max_future, self.max_age = max_future, max_age
        self.earliest, self.latest = self.now - max_age, self.now + max_future

    def __call__(self, fix: Fix) -> Fix:
        d, t = fix.device_id, fix.fix_time
        s, c, a, b = fix.speed_kmh, fix.course_deg, fix.accuracy_m, fix.battery_pct
        if (
            type(d) is str and 0 < len(d) <= 64 and not d[0].isspace()
            and type(fix.lon) is float and -180.0 <= fix.lon <= 180.0
            and type(fix.lat) is float and -90.0 <= fix.lat <= 90.0
            and type(t) is datetime and t.tzinfo is not None and self.earliest <= t <= self.latest
            and (s is None or (type(s) is float and 0.0 <= s <= MAX_SPEED_KMH))
            and (c is None or (type(c) is float and 0.0 <= c <= 360.0))
            and (a is None or (type(a) is float and 0.0 <= a < math.inf))
            and (b is None or (type(b) is float and 0.0 <= b <= 100.0))
        ):
            return fix
        return _check(fix, self.now, self.max_future, self.max_age)


def _check(fix: Fix, now: datetime, max_future: timedelta, max_age: timedelta) -> Fix:
    if not isinstance(fix.device_id, str) or not fix.device_id.strip():
        raise FixRejected("missing_id", "device id is missing", field="id")
    if len(fix.device_id) > 64:
        raise FixRejected("bad_id", "device id longer than 64 characters", field="id")
    lon, lat = _finite("lon", fix.lon), _finite("lat", fix.lat)
    if not (-180.0 <= lon <= 180.0) or not (-90.0 <= lat <= 90.0):
        raise FixRejected(
            "coordinates_out_of_range",
            f"coordinates out of range: lon {lon} (−180…180), lat {lat} (−90…90)",
            field="lat",
        )
    if not isinstance(fix.fix_time, datetime) or fix.fix_time.tzinfo is None:
        raise FixRejected("wrong_type", "fix time must be a timezone-aware datetime", field="timestamp")
    if fix.fix_time - now > max_future:
        raise FixRejected(
            "time_in_future",
            f"fix time {fix.fix_time.isoformat()} is more than "
            f"{int(max_future.total_seconds())} s in the future",
            field="timestamp",
        )
    if now - fix.fix_time > max_age:
        raise FixRejected(
            "time_too_old",
            f"fix time {fix.fix_time.isoformat()} is older than the {max_age.days}-day position retention",
            field="timestamp",
        )
    if fix.speed_kmh is not None and not (0.0 <= _finite("speed", fix.speed_kmh) <= MAX_SPEED_KMH):
        raise FixRejected(
            "speed_out_of_range", f"speed {fix.speed_kmh} km/h outside 0…{MAX_SPEED_KMH:g}", field="speed"
        )
    if fix.course_deg is not None and not (0.0 <= _finite("course", fix.course_deg) <= 360.0):
        raise FixRejected("course_out_of_range", f"course {fix.course_deg}° outside 0…360", field="bearing")
    if fix.accuracy_m is not None and _finite("accuracy", fix.accuracy_m) < 0:
        raise FixRejected("accuracy_out_of_range", "accuracy must be ≥ 0 m", field="accuracy")
    if fix.battery_pct is not None and not (0.0 <= _finite("battery", fix.battery_pct) <= 100.0):
        raise FixRejected("battery_out_of_range", "battery must be within 0…100 %", field="batt")
    return fix
