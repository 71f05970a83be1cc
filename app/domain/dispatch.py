"""Incident and dispatch lifecycles (pure): allowed transitions and the timestamp each one sets."""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.errors import Conflict, InvalidInput

INCIDENT_FLOW = ["new", "dispatched", "on_scene", "resolved", "closed"]
INCIDENT_STAMP = {"dispatched": "dispatched_at", "on_scene": "on_scene_at", "resolved": "resolved_at",
                  "closed": "closed_at"}
DISPATCH_FLOW = ["assigned", "en_route", "on_scene", "cleared"]
DISPATCH_STAMP = {"en_route": "en_route_at", "on_scene": "on_scene_at", "cleared": "cleared_at"}
# What the unit is doing while its dispatch is in a state.
UNIT_STATUS = {"assigned": "assigned", "en_route": "en_route", "on_scene": "on_scene", "cleared": "available",
               "cancelled": "available"}
INCIDENT_TYPES = {
    "theft": ("盗窃", "Theft"), "assault": ("斗殴/伤害", "Assault"), "traffic": ("交通事故", "Traffic accident"),
    "fire": ("火情", "Fire"), "missing_person": ("人员走失", "Missing person"), "crowd": ("人群聚集", "Crowd"),
    "sos": ("紧急求助", "SOS alarm"), "alarm": ("设备报警", "Device alarm"), "other": ("其他", "Other"),
}
# Incidents a GB/T 28181 alarm opens (``gb_<AlarmMethod>_alarm``, ingest/gb28181/mapping.incident_row):
# named for people, but not offered to the console (an operator does not file a device's alarm).
GB_ALARM_TYPES = {
    "gb_phone_alarm": ("电话报警", "Phone alarm"), "gb_device_alarm": ("设备报警", "Device alarm"),
    "gb_sms_alarm": ("短信报警", "SMS alarm"), "gb_gps_alarm": ("GPS 报警", "GPS alarm"),
    "gb_video_alarm": ("视频报警", "Video alarm"), "gb_device_fault_alarm": ("设备故障报警", "Device fault alarm"),
    "gb_other_alarm": ("其他报警", "Other alarm"), "gb_alarm_alarm": ("设备报警", "Device alarm"),
}
ARRIVAL_RADIUS_M = 50.0
# Snapping a moving unit onto the road graph: edges this much farther than the nearest one are still
# candidates when their direction fits the unit's course (a divided road's carriageways lie 10-20 m apart).
SNAP_SLACK_M = 20.0
MOVING_KMH = 5.0  # below this a tracker's course is noise
STALE_FIX_S = 120.0

# How a unit of each kind gets to a scene: by road as a car (one-way streets, road speeds), on foot (along
# any street either way), or straight there (a drone).
TRAVEL_MODE = {"patrol_car": "drive", "vehicle": "drive", "officer": "walk", "drone": "fly"}
WALK_KMH = 5.0
FLY_KMH = 40.0  # a patrol drone's cruise, with climb and landing


# Incidents the platform opens itself (not offered to the console): a GA/T 1400 pass caught by a watchlist
# (app/services/watchlist_alarms.py).
SYSTEM_TYPES = {"watchlist": ("布控预警", "Watchlist alarm")}


def incident_type_name(type_: str) -> tuple[str, str]:
    """(zh, en) name of an incident type, the console's, a GB/T 28181 alarm's or the platform's own; the key
    itself when unknown."""
    return INCIDENT_TYPES.get(type_) or GB_ALARM_TYPES.get(type_) or SYSTEM_TYPES.get(type_) or (type_, type_)


def travel_mode(kind: str | None) -> str:
    """'drive', 'walk' or 'fly' for a unit kind; an unknown kind drives."""
    return TRAVEL_MODE.get(kind or "", "drive")


def flight_s(distance_m: float) -> float:
    """Seconds for a drone to cover a straight distance."""
    return round(distance_m / (FLY_KMH / 3.6), 1)


def next_incident_status(current: str, wanted: str) -> str:
    if wanted not in INCIDENT_FLOW:
        raise InvalidInput(f"unknown incident status {wanted!r}", field="status")
    if INCIDENT_FLOW.index(wanted) <= INCIDENT_FLOW.index(current):
        raise Conflict(f"incident is already {current}; cannot go to {wanted}")
    return wanted


def next_dispatch_status(current: str, wanted: str) -> str:
    if wanted == "cancelled":
        if current in ("cleared", "cancelled"):
            raise Conflict(f"dispatch already {current}")
        return wanted
    if wanted not in DISPATCH_FLOW:
        raise InvalidInput(f"unknown dispatch status {wanted!r}", field="status")
    if current == "cancelled" or DISPATCH_FLOW.index(wanted) <= DISPATCH_FLOW.index(current):
        raise Conflict(f"dispatch is {current}; cannot go to {wanted}")
    return wanted


@dataclass(frozen=True, slots=True)
class EdgeCandidate:
    edge: int
    fraction: float
    distance_m: float
    forward: bool  # drivable from source to target
    backward: bool  # drivable from target to source
    azimuth_deg: float | None  # direction source → target at the candidate point


def _turn(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def drivable_along(c: EdgeCandidate, course_deg: float) -> bool:
    """Whether a unit heading ``course_deg`` can be driving along this edge (within 90°), in a direction
    the edge allows."""
    if c.azimuth_deg is None:
        return False
    return (c.forward and _turn(c.azimuth_deg, course_deg) <= 90.0) or (
        c.backward and _turn(c.azimuth_deg + 180.0, course_deg) <= 90.0)


def pick_edge(cands: list[EdgeCandidate], course_deg: float | None) -> EdgeCandidate | None:
    """The edge a unit is on: the nearest, unless it moves (``course_deg``) and a candidate within
    ``SNAP_SLACK_M`` of the nearest runs its way while the nearest does not."""
    if not cands:
        return None
    nearest = min(cands, key=lambda c: c.distance_m)
    if course_deg is None or drivable_along(nearest, course_deg):
        return nearest
    fits = [c for c in cands if c.distance_m <= nearest.distance_m + SNAP_SLACK_M and drivable_along(c, course_deg)]
    return min(fits, key=lambda c: c.distance_m) if fits else nearest


def moving_course(course_deg: float | None, speed_kmh: float | None) -> float | None:
    """A tracker's course when it says something (the unit moves), else None."""
    return course_deg if course_deg is not None and (speed_kmh or 0.0) >= MOVING_KMH else None
