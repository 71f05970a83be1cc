"""Which cameras saw a target: where its track crosses each camera's view, with enter/exit times.

The track is a polyline with a time at each vertex; a view's intersection with it is mapped back to
time by linear referencing (distance along the line → interpolated time), so a target that crosses
a view between two fixes still gets the right times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon


@dataclass(frozen=True, slots=True)
class Sighting:
    camera_id: int
    enter: datetime
    exit: datetime


def _parts(geom) -> list[LineString | Point]:
    if geom.is_empty:
        return []
    if geom.geom_type in ("LineString", "Point"):
        return [geom]
    return [g for g in getattr(geom, "geoms", []) for g in _parts(g)]


def sightings(times: list[datetime], lon: np.ndarray, lat: np.ndarray,
              views: dict[int, Polygon]) -> list[Sighting]:
    """Enter/exit intervals per camera, ordered by enter time."""
    if len(times) == 0:
        return []
    t0 = times[0]
    secs = np.array([(t - t0).total_seconds() for t in times])
    if len(times) == 1:
        p = Point(lon[0], lat[0])
        return [Sighting(cid, times[0], times[0]) for cid, v in views.items() if v.intersects(p)]
    line = LineString(np.column_stack([lon, lat]))
    cum = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(lon), np.diff(lat)))])

    def at(dist: float) -> datetime:
        return t0 + timedelta(seconds=float(np.interp(dist, cum, secs)))

    out = []
    ids = list(views)
    hits = shapely.intersection(np.array([views[i] for i in ids], dtype=object), line)
    for cid, inter in zip(ids, hits, strict=True):
        for part in _parts(inter):
            coords = np.asarray(part.coords)
            d = [line.project(Point(xy)) for xy in (coords[0], coords[-1])]
            out.append(Sighting(cid, at(min(d)), at(max(d))))
    return sorted(out, key=lambda s: (s.enter, s.camera_id))
