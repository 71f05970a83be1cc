"""Ranking the cameras that see a point (应急视频调用), and the PTZ pan bearing to it.

Inputs are plain numbers per candidate, as the indexed query returns them; the score orders what a
dispatcher should open first: close, on-axis, HD, higher class, online. Offline/fault cameras are
listed apart: they see the spot on paper only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    camera_id: int
    distance_m: float
    bearing_deg: float  # from the camera to the point, compass degrees
    kind: str  # fixed | ptz | dome
    heading_deg: float | None
    fov_deg: float
    range_m: float
    hd: bool
    cls: int  # 1 best … 3
    status: str


def angle_diff(a: float, b: float) -> float:
    """Smallest absolute difference of two compass bearings, 0–180°."""
    d = abs(a - b) % 360.0
    return 360.0 - d if d > 180.0 else d


# Closer than this the bearing from the camera to the point means nothing (the camera is on the spot).
AT_SPOT_M = 1.0


def off_axis_deg(c: Candidate) -> float | None:
    """How far the point is from the optical axis: 0 for a PTZ/dome (it turns to it) or a camera on the
    spot, None when the axis is unknown (a fixed camera mapped without a heading is modelled all-round)."""
    if c.kind in ("ptz", "dome") or c.distance_m < AT_SPOT_M:
        return 0.0
    if c.heading_deg is None or c.fov_deg >= 360:
        return None
    return angle_diff(c.bearing_deg, c.heading_deg)


def score(c: Candidate) -> float:
    """Higher is better, in [0, 1]. An unknown axis gets full marks: its view is modelled all-round."""
    near = max(0.0, 1.0 - c.distance_m / max(c.range_m, 1.0))
    half = max(c.fov_deg / 2.0, 1.0)
    off = off_axis_deg(c)
    axis = 1.0 if off is None else max(0.0, 1.0 - off / half)
    return 0.45 * near + 0.25 * axis + 0.15 * (1.0 if c.hd else 0.0) + 0.15 * (3 - c.cls) / 2.0


def pan_bearing(c: Candidate) -> float | None:
    """Where to turn a PTZ/dome camera: the compass bearing from it to the point (none when it is on the spot)."""
    return round(c.bearing_deg % 360.0, 1) if c.kind in ("ptz", "dome") and c.distance_m >= AT_SPOT_M else None


def rank(candidates: list[Candidate]) -> tuple[list[tuple[Candidate, float]], list[tuple[Candidate, float]]]:
    """(usable online cameras best first, offline/fault ones best first)."""
    scored = sorted(((c, score(c)) for c in candidates), key=lambda cs: (-cs[1], cs[0].distance_m))
    online = [cs for cs in scored if cs[0].status == "online"]
    others = [cs for cs in scored if cs[0].status != "online"]
    return online, others
