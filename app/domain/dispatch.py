"""Incident and dispatch lifecycles (pure): allowed transitions and the timestamp each one sets."""

from __future__ import annotations

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
ARRIVAL_RADIUS_M = 50.0
STALE_FIX_S = 120.0


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
