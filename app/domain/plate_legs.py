"""A vehicle's trajectory from its checkpoint passes: the legs between consecutive passes and whether each
is plausible. Pure.

A leg is implausible when its implied speed exceeds the bound (two vehicles with one plate, a cloned or
misread plate) or when no road joins its checkpoints (the leg is then a straight line, ``routed: false``)."""

from __future__ import annotations

from datetime import datetime

DEFAULT_MAX_KMH = 150.0


def leg(t0: datetime, t1: datetime, distance_m: float, routed: bool, max_kmh: float = DEFAULT_MAX_KMH) -> dict:
    """Time gap, implied speed and the verdict of one leg (``t1`` not before ``t0``: passes in time order)."""
    gap_s = max((t1 - t0).total_seconds(), 0.0)
    if gap_s > 0:
        speed = distance_m / gap_s * 3.6
    else:  # two passes in the same second: only plausible at the same place
        speed = 0.0 if distance_m < 1.0 else None
    implausible = not routed or speed is None or speed > max_kmh
    return {"distance_m": round(distance_m, 1), "gap_s": round(gap_s, 1),
            "speed_kmh": None if speed is None else round(speed, 1), "routed": routed, "implausible": implausible}
