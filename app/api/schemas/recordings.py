"""Recordings held by GB/T 28181 devices: a channel's timeline, an incident's evidence."""

from __future__ import annotations

from typing import Literal

from app.api.schemas.base import Public


class Span(Public):
    start: str
    end: str


class Recordings(Public):
    camera_id: int
    start: str
    end: str
    complete: bool  # False: the device's answer stopped short (a part never came)
    segments: list[Span]
    gaps: list[Span]
    recorded_s: float


class EvidenceCamera(Public):
    camera_id: int
    gb_id: str | None
    name: str
    distance_m: float
    # answered: the device listed its recordings; no_answer: it did not (offline, timed out);
    # not_recording_device: a camera the platform cannot ask (not a GB/T 28181 channel)
    state: Literal["answered", "no_answer", "not_recording_device"]
    reason: str | None = None
    complete: bool | None = None
    segments: list[Span]
    recorded_s: float


class Evidence(Public):
    incident_id: int
    start: str
    end: str
    cameras: list[EvidenceCamera]


class PlaybackOut(Public):
    camera_id: int
    url: str  # the recording as live MPEG-TS (format "ts"), through the platform; expires
    format: Literal["ts"]
    start: str
    end: str
    speed: float
    download: bool
    expires: int
