"""Missing person (走失人员查找): from a last-seen point and time, where the person could have walked since,
along the roads, and which cameras could have seen them, each from the earliest moment they could have come
into its view until the end of the search.

Distances are metres along the walking graph (every street either way: a pedestrian ignores one-way); a
time is ``last_seen + metres / walking speed``. The reach is bounded (``MAX_RADIUS_M``): past a few
kilometres a search without other clues lists a city's cameras, not leads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.domain.errors import InvalidInput

WALK_MS = 1.4  # a typical adult's walking pace
MIN_SPEED_MS, MAX_SPEED_MS = 0.2, 4.0  # a frail walk … a steady run
MAX_RADIUS_M = 5000.0
MAX_ELAPSED = timedelta(days=3)


def reach_m(last_seen: datetime, until: datetime, speed_ms: float = WALK_MS,
            max_radius_m: float = MAX_RADIUS_M) -> float:
    """How far along the roads the person could have walked from ``last_seen`` to ``until``, bounded."""
    if until <= last_seen:
        raise InvalidInput("until must be after the last-seen time", field="until")
    if until - last_seen > MAX_ELAPSED:
        raise InvalidInput(f"at most {MAX_ELAPSED.days} days after the last-seen time", field="until")
    if not (MIN_SPEED_MS <= speed_ms <= MAX_SPEED_MS) or not math.isfinite(speed_ms):
        raise InvalidInput(f"walking speed must be {MIN_SPEED_MS}–{MAX_SPEED_MS} m/s", field="speed_ms")
    if not (0 < max_radius_m <= MAX_RADIUS_M):
        raise InvalidInput(f"max radius must be in (0, {MAX_RADIUS_M:.0f}] m", field="max_radius_m")
    return min(speed_ms * (until - last_seen).total_seconds(), max_radius_m)


@dataclass(frozen=True, slots=True)
class Start:
    """Where the person was put on the graph: the edge, the fraction along it, the walk to it (m)."""

    edge_id: int
    fraction: float
    offset_m: float


def node_costs(start: Start, length_m: float, from_source: dict[int, float], from_target: dict[int, float],
               source: int, target: int) -> dict[int, float]:
    """Metres to each node: through the start edge's source end or its target end, whichever is shorter.
    ``from_*``: the graph distances from that end node (a driving-distance search from each)."""
    to_source = start.offset_m + start.fraction * length_m
    to_target = start.offset_m + (1.0 - start.fraction) * length_m
    out: dict[int, float] = {}
    for costs, base in ((from_source, to_source), (from_target, to_target)):
        for node, c in costs.items():
            d = base + c
            if d < out.get(node, math.inf):
                out[node] = d
    out[source] = min(out.get(source, math.inf), to_source)
    out[target] = min(out.get(target, math.inf), to_target)
    return out


def edge_arrival_m(cost_source: float | None, cost_target: float | None, length_m: float, f0: float, f1: float,
                   start: Start | None = None) -> float | None:
    """Metres to the nearest point of the stretch [f0, f1] (fractions) of an edge: entered from either end
    node, or walked to along the edge itself when the person started on it. None: not reachable."""
    lo, hi = min(f0, f1), max(f0, f1)
    best = math.inf
    if cost_source is not None:
        best = min(best, cost_source + lo * length_m)
    if cost_target is not None:
        best = min(best, cost_target + (1.0 - hi) * length_m)
    if start is not None:
        gap = 0.0 if lo <= start.fraction <= hi else min(abs(start.fraction - lo), abs(start.fraction - hi))
        best = min(best, start.offset_m + gap * length_m)
    return None if math.isinf(best) else best


def reachable_part(cost_source: float | None, cost_target: float | None, length_m: float, reach: float,
                   start: Start | None = None) -> list[tuple[float, float]]:
    """The fractions of an edge within ``reach`` metres: a stretch from each reached end, and around the
    start; overlapping stretches merged."""
    if length_m <= 0:
        return []
    parts: list[tuple[float, float]] = []
    if cost_source is not None and cost_source <= reach:
        parts.append((0.0, min(1.0, (reach - cost_source) / length_m)))
    if cost_target is not None and cost_target <= reach:
        parts.append((max(0.0, 1.0 - (reach - cost_target) / length_m), 1.0))
    if start is not None and start.offset_m <= reach:
        r = (reach - start.offset_m) / length_m
        parts.append((max(0.0, start.fraction - r), min(1.0, start.fraction + r)))
    parts.sort()
    merged: list[tuple[float, float]] = []
    for a, b in parts:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


@dataclass(frozen=True, slots=True)
class Sighting:
    camera_id: int
    arrival_m: float
    earliest: datetime  # the first moment the person could have been in the camera's view
    end: datetime


def sightings(arrivals: dict[int, float], last_seen: datetime, until: datetime, speed_ms: float,
              reach: float) -> list[Sighting]:
    """The cameras whose view the person could have reached, earliest first (then by id), each with the
    window [earliest arrival, until] in which they could have been in view."""
    out = [Sighting(cid, round(m, 1), last_seen + timedelta(seconds=m / speed_ms), until)
           for cid, m in arrivals.items() if m <= reach]
    out.sort(key=lambda s: (s.arrival_m, s.camera_id))
    return out
