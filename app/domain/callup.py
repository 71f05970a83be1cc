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


def off_axis_deg(c: Candidate) -> float:
    """How far the point is from the optical axis; a PTZ/dome turns to it (0)."""
    if c.kind in ("ptz", "dome") or c.heading_deg is None:
        return 0.0
    return angle_diff(c.bearing_deg, c.heading_deg)


def score(c: Candidate) -> float:
    """Higher is better, in [0, 1]."""
    near = max(0.0, 1.0 - c.distance_m / max(c.range_m, 1.0))
    half = max(c.fov_deg / 2.0, 1.0)
    axis = max(0.0, 1.0 - off_axis_deg(c) / half) if c.fov_deg < 360 else 1.0
    return 0.45 * near + 0.25 * axis + 0.15 * (1.0 if c.hd else 0.0) + 0.15 * (3 - c.cls) / 2.0


def pan_bearing(c: Candidate) -> float | None:
    """Where to turn a PTZ/dome camera: the compass bearing from it to the point."""
    return round(c.bearing_deg % 360.0, 1) if c.kind in ("ptz", "dome") else None


def rank(candidates: list[Candidate]) -> tuple[list[tuple[Candidate, float]], list[tuple[Candidate, float]]]:
    """(usable online cameras best first, offline/fault ones best first)."""
    scored = sorted(((c, score(c)) for c in candidates), key=lambda cs: (-cs[1], cs[0].distance_m))
    online = [cs for cs in scored if cs[0].status == "online"]
    others = [cs for cs in scored if cs[0].status != "online"]
    return online, others
