"""A mobile device's camera replayed: its track over a window and its recordings of that window."""

from __future__ import annotations

from typing import Literal

from app.api.schemas.base import Public
from app.api.schemas.recordings import Span


class TrackRecordings(Public):
    # answered: the device listed its recordings; no_answer: it did not (offline, timed out), ``reason`` says why
    state: Literal["answered", "no_answer"]
    reason: str | None = None
    complete: bool | None = None
    segments: list[Span]
    gaps: list[Span]
    recorded_s: float


class CameraTrack(Public):
    camera_id: int
    gb_id: str
    name: str
    device_id: str  # the id the device reports its fixes under
    target_id: int | None  # its track; None before its first fix
    start: str
    end: str
    t: list[float]  # epoch seconds, ascending
    lon: list[float]
    lat: list[float]
    speed_kmh: list[float | None]
    course_deg: list[float | None]
    truncated: bool  # the window held more fixes than one answer carries
    recordings: TrackRecordings
