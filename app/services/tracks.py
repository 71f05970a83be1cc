"""Track queries: a target's track in a window (simplified per zoom), its summary, and several targets
replayed on a shared clock. Functions take the connection explicitly (the caller owns the transaction).

Arrays rather than point objects: the replay panel feeds them straight into deck.gl binary attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.errors import InvalidInput, NotFound
from app.domain.trajectory import Segment, Summary, segments, simplify_indices, summarize

MAX_WINDOW = timedelta(days=31)
MAX_POINTS = 200_000
MAX_TARGETS = 50

_ROWS = """
SELECT target_id, extract(epoch FROM fix_time)::float8 AS t, ST_X(location) AS lon, ST_Y(location) AS lat,
       speed_kmh, course_deg
FROM position WHERE target_id IN :ids AND fix_time >= :start AND fix_time < :end
ORDER BY target_id, fix_time LIMIT :limit"""
_QUERY = text(_ROWS).bindparams(bindparam("ids", expanding=True))
_TARGETS = text("SELECT id FROM target WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))


@dataclass
class Track:
    target_id: int
    t: list[float] = field(default_factory=list)  # epoch seconds, ascending
    lon: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    speed_kmh: list[float | None] = field(default_factory=list)
    course_deg: list[float | None] = field(default_factory=list)
    raw_points: int = 0  # before simplification
    truncated: bool = False  # the window held more than the point limit

    def take(self, idx: np.ndarray) -> None:
        for name in ("t", "lon", "lat", "speed_kmh", "course_deg"):
            values = getattr(self, name)
            setattr(self, name, [values[i] for i in idx.tolist()])


@dataclass
class TrackSummary:
    target_id: int
    summary: Summary
    segments: list[Segment]


@dataclass
class Replay:
    start: datetime  # the shared clock: offsets are seconds since ``start``
    end: datetime
    tracks: dict[int, Track]

    def offsets(self, target_id: int) -> list[float]:
        t0 = self.start.timestamp()
        return [t - t0 for t in self.tracks[target_id].t]


def _check_window(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("start and end need a time zone", field="start")
    if end <= start:
        raise InvalidInput("end must be after start", field="end")
    if end - start > MAX_WINDOW:
        raise InvalidInput(f"window longer than {MAX_WINDOW.days} days", field="end")


async def _fetch(
    conn: AsyncConnection, ids: list[int], start: datetime, end: datetime, limit: int
) -> dict[int, Track]:
    _check_window(start, end)
    known = {r[0] for r in await conn.execute(_TARGETS, {"ids": ids})}
    missing = sorted(set(ids) - known)
    if missing:
        raise NotFound(f"unknown target(s): {', '.join(map(str, missing))}", field="target_id")
    tracks = {i: Track(i) for i in ids}
    rows = await conn.execute(_QUERY, {"ids": ids, "start": start, "end": end, "limit": limit + 1})
    n = 0
    for target_id, t, lon, lat, speed, course in rows:
        n += 1
        if n > limit:
            for tr in tracks.values():
                tr.truncated = True
            break
        tr = tracks[target_id]
        tr.t.append(t)
        tr.lon.append(lon)
        tr.lat.append(lat)
        tr.speed_kmh.append(speed)
        tr.course_deg.append(course)
    for tr in tracks.values():
        tr.raw_points = len(tr.t)
    return tracks


def _simplify(track: Track, zoom: float | None) -> Track:
    if zoom is not None and len(track.t) > 2:
        track.take(simplify_indices(track.lon, track.lat, zoom))
    return track


async def get_track(
    conn: AsyncConnection,
    target_id: int,
    start: datetime,
    end: datetime,
    *,
    zoom: float | None = None,
    limit: int = MAX_POINTS,
) -> Track:
    """Fixes of one target in [start, end), time-ascending; simplified for ``zoom`` when given."""
    tracks = await _fetch(conn, [target_id], start, end, min(limit, MAX_POINTS))
    return _simplify(tracks[target_id], zoom)


async def get_summary(
    conn: AsyncConnection,
    target_id: int,
    start: datetime,
    end: datetime,
    *,
    stop_radius_m: float = 50.0,
    min_stop_s: float = 120.0,
) -> TrackSummary:
    """Distance, durations, speeds, and the stop / move segments of one target in the window."""
    tr = (await _fetch(conn, [target_id], start, end, MAX_POINTS))[target_id]
    opts = {"stop_radius_m": stop_radius_m, "min_stop_s": min_stop_s}
    return TrackSummary(
        target_id,
        summarize(tr.t, tr.lon, tr.lat, tr.speed_kmh, **opts),
        segments(tr.t, tr.lon, tr.lat, **opts),
    )


async def get_replay(
    conn: AsyncConnection,
    target_ids: list[int],
    start: datetime,
    end: datetime,
    *,
    zoom: float | None = None,
    limit: int = MAX_POINTS,
) -> Replay:
    """Several targets over one window: per-target arrays sorted by time, on the clock of ``start``."""
    ids = list(dict.fromkeys(target_ids))
    if not ids:
        raise InvalidInput("at least one target", field="target_ids")
    if len(ids) > MAX_TARGETS:
        raise InvalidInput(f"at most {MAX_TARGETS} targets in one replay", field="target_ids")
    tracks = await _fetch(conn, ids, start, end, min(limit, MAX_POINTS))
    return Replay(start, end, {i: _simplify(tr, zoom) for i, tr in tracks.items()})
