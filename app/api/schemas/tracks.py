"""Moving targets: last position, tracks as arrays, summary, replay, events, prediction."""

from __future__ import annotations

from typing import Any

from app.api.schemas.base import Public


class TargetPublic(Public):
    id: int
    protocol: str
    external_id: str
    kind: str
    name: str | None
    division_code: str | None
    last_fix_at: str | None
    lon: float | None
    lat: float | None
    last_speed_kmh: float | None
    last_course_deg: float | None
    unit_id: int | None
    callsign: str | None
    unit_status: str | None
    stale: bool
    age_s: float | None


class TrackArrays(Public):
    """One array per quantity, index i = fix i (epoch seconds ascending)."""

    target_id: int
    points: int
    raw_points: int
    truncated: bool
    t: list[float]
    lon: list[float]
    lat: list[float]
    speed_kmh: list[float | None]
    course_deg: list[float | None]


class ReplayTrack(TrackArrays):
    offset_s: list[float]


class Replay(Public):
    start: str
    end: str
    tracks: list[ReplayTrack]


class TrackSegment(Public):
    kind: str
    start: int
    end: int
    start_time: float
    end_time: float
    distance_m: float
    lon: float
    lat: float
    duration_s: float


class TrackSummary(Public):
    target_id: int
    start: str
    end: str
    points: int
    duration_s: float
    distance_m: float
    moving_s: float
    stopped_s: float
    stops: int
    avg_moving_speed_kmh: float | None
    max_speed_kmh: float | None
    segments: list[TrackSegment]


class TargetEvent(Public):
    id: int
    at: str
    type: str
    detail: dict[str, Any] | None
    position_time: str | None


class PredictedPoint(Public):
    horizon_s: float
    lon: float
    lat: float
    radius_m: float


class PredictionMethods(Public):
    cv: list[PredictedPoint]
    road: list[PredictedPoint] | None


class Prediction(Public):
    target_id: int
    from_time: str
    lon: float
    lat: float
    speed_kmh: float
    heading_deg: float | None
    fixes_used: int
    methods: PredictionMethods
    road_match: dict[str, Any] | None
    stale: bool
