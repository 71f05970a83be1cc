"""Video call-up: cameras seeing a point or a track, play URLs, PTZ."""

from __future__ import annotations

from app.api.schemas.base import Public


class SeeingCamera(Public):
    id: int
    gb_id: str | None
    name: str
    kind: str
    status: str
    hd: bool | None
    cls: int | None
    lon: float
    lat: float
    distance_m: float
    off_axis_deg: float | None
    pan_bearing_deg: float | None
    score: float


class CamerasSeeing(Public):
    point: list[float]
    cameras: list[SeeingCamera]
    unavailable: list[SeeingCamera]


class Sighting(Public):
    camera_id: int
    gb_id: str | None
    name: str
    enter: str
    exit: str


class CamerasAlongTrack(Public):
    target_id: int
    fixes: int
    sightings: list[Sighting]


class PlayStream(Public):
    camera_id: int
    gb_id: str | None
    name: str
    status: str
    url: str
    format: str
    expires: int


class CallupOut(Public):
    streams: list[PlayStream]


class PtzCommand(Public):
    camera_id: int
    gb_id: str | None
    action: str
    speed: int
    bearing_deg: float | None


class PtzAccepted(Public):
    accepted: bool
    command: PtzCommand
