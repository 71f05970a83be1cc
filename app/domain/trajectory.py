"""Tracks: simplification for a zoom level, stops vs moving segments, speed and distance summary.

All work happens in a local metric frame (``metric.LocalFrame``). Times are epoch seconds (float
arrays); lon/lat are WGS-84 degrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from app.domain.metric import LocalFrame

EARTH_M_PER_PX_Z0 = 156_543.033_92  # Web-Mercator metres per 256-px tile pixel at zoom 0, equator


def tolerance_m(zoom: float, lat: float, pixels: float = 1.0) -> float:
    """Ground size of ``pixels`` screen pixels at ``zoom``: detail below it cannot be seen."""
    return pixels * EARTH_M_PER_PX_Z0 * math.cos(math.radians(lat)) / 2.0**zoom


def simplify_indices(lons, lats, zoom: float, pixels: float = 1.0) -> np.ndarray:
    """Indices of the fixes to keep (Douglas–Peucker in metres); first and last are always kept."""
    lons, lats = np.asarray(lons, dtype=float), np.asarray(lats, dtype=float)
    n = len(lons)
    if n < 3:
        return np.arange(n)
    x, y = LocalFrame.around(lons, lats).to_xy(lons, lats)
    # The index rides along as Z: GEOS keeps the Z of the vertices it retains.
    line = shapely.linestrings(np.column_stack([x, y, np.arange(n, dtype=float)]))
    kept = shapely.simplify(line, tolerance_m(zoom, float(np.median(lats)), pixels), preserve_topology=False)
    return shapely.get_coordinates(kept, include_z=True)[:, 2].astype(np.int64)


def step_distances(lons, lats) -> np.ndarray:
    """Metres between consecutive fixes (length n−1)."""
    lons, lats = np.asarray(lons, dtype=float), np.asarray(lats, dtype=float)
    if len(lons) < 2:
        return np.zeros(0)
    x, y = LocalFrame.around(lons, lats).to_xy(lons, lats)
    return np.hypot(np.diff(x), np.diff(y))


@dataclass(frozen=True, slots=True)
class Segment:
    kind: str  # "stop" | "move"
    start: int  # index of the first fix
    end: int  # index of the last fix (inclusive)
    start_time: float
    end_time: float
    distance_m: float
    lon: float  # stops: the centroid; moves: the start
    lat: float

    @property
    def duration_s(self) -> float:
        return self.end_time - self.start_time


def segments(times, lons, lats, *, stop_radius_m: float = 50.0, min_stop_s: float = 120.0) -> list[Segment]:
    """Split a track into stops (stayed within ``stop_radius_m`` for ≥ ``min_stop_s``) and moves.

    Stay-point detection: from fix i, extend j while fix j is within the radius of fix i.
    """
    t = np.asarray(times, dtype=float)
    lons, lats = np.asarray(lons, dtype=float), np.asarray(lats, dtype=float)
    n = len(t)
    if n == 0:
        return []
    x, y = LocalFrame.around(lons, lats).to_xy(lons, lats)
    cum = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    stops: list[tuple[int, int]] = []
    i = 0
    while i < n:
        j = i + 1
        while j < n and math.hypot(x[j] - x[i], y[j] - y[i]) <= stop_radius_m:
            j += 1
        if t[j - 1] - t[i] >= min_stop_s:
            stops.append((i, j - 1))
            i = j
        else:
            i += 1

    out: list[Segment] = []

    def move(a: int, b: int) -> None:
        if b > a:
            out.append(Segment("move", a, b, t[a], t[b], float(cum[b] - cum[a]), lons[a], lats[a]))

    prev = 0
    for a, b in stops:
        move(prev, a)  # a move ends where the stop begins (shared fix)
        out.append(
            Segment(
                "stop",
                a,
                b,
                t[a],
                t[b],
                float(cum[b] - cum[a]),
                float(lons[a : b + 1].mean()),
                float(lats[a : b + 1].mean()),
            )
        )
        prev = b
    move(prev, n - 1)
    if not out:  # a single fix
        out.append(Segment("move", 0, 0, t[0], t[0], 0.0, lons[0], lats[0]))
    return out


@dataclass(frozen=True, slots=True)
class Summary:
    points: int
    duration_s: float
    distance_m: float
    moving_s: float
    stopped_s: float
    stops: int
    avg_moving_speed_kmh: float | None
    max_speed_kmh: float | None


def summarize(times, lons, lats, speeds_kmh=None, **segment_options) -> Summary:
    """Distance, durations and speeds of a track. ``max_speed_kmh`` prefers device-reported speeds
    (GNSS Doppler) over speeds derived from positions, which noisy fixes inflate."""
    t = np.asarray(times, dtype=float)
    if len(t) == 0:
        return Summary(0, 0.0, 0.0, 0.0, 0.0, 0, None, None)
    segs = segments(t, lons, lats, **segment_options)
    stopped = sum(s.duration_s for s in segs if s.kind == "stop")
    moving = sum(s.duration_s for s in segs if s.kind == "move")
    moving_m = sum(s.distance_m for s in segs if s.kind == "move")
    steps = step_distances(lons, lats)
    max_speed = None
    if speeds_kmh is not None:
        v = np.asarray([np.nan if s is None else s for s in speeds_kmh], dtype=float)
        if np.isfinite(v).any():
            max_speed = float(np.nanmax(v))
    if max_speed is None and len(steps):
        dt = np.diff(t)
        ok = dt > 0
        if ok.any():
            max_speed = float((steps[ok] / dt[ok]).max() * 3.6)
    return Summary(
        len(t),
        float(t[-1] - t[0]),
        float(steps.sum()),
        float(moving),
        float(stopped),
        sum(1 for s in segs if s.kind == "stop"),
        moving_m / moving * 3.6 if moving > 0 else None,
        max_speed,
    )
