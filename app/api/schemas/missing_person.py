"""Missing person search: the request (with its reason) and the answer."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from app.api.schemas.base import Public, Strict
from app.api.schemas.recordings import Span


class MissingPersonIn(Strict):
    lon: Annotated[float, Field(ge=-180, le=180)]
    lat: Annotated[float, Field(ge=-90, le=90)]
    last_seen: AwareDatetime
    until: AwareDatetime | None = None  # default: now
    speed_ms: Annotated[float, Field(ge=0.2, le=4.0)] = 1.4  # walking pace, m/s
    max_radius_m: Annotated[float, Field(gt=0, le=5000)] = 5000.0
    reason: Annotated[str, Field(min_length=1, max_length=2000)]  # why (kept in the audit log)
    incident_id: int | None = None


class PersonRecord(Public):
    id: int
    kind: Literal["face", "person"]
    record_id: str
    device_id: str | None
    tollgate_id: str | None
    division_code: str | None
    shot_time: str
    images: list[dict]


class MissingPersonCamera(Public):
    camera_id: int
    gb_id: str | None
    name: str
    kind: str
    status: str
    lon: float
    lat: float
    arrival_m: float  # along the roads from the last-seen point to the nearest point of the camera's view
    start: str  # the earliest the person could have been in view
    end: str
    state: Literal["answered", "no_answer", "not_recording_device"]
    reason: str | None = None
    complete: bool | None = None
    segments: list[Span]
    recorded_s: float
    records: list[PersonRecord]


class MissingPersonOut(Public):
    point: list[float]
    snapped_m: float
    last_seen: str
    until: str
    speed_ms: float
    reach_m: float
    area: dict | None  # GeoJSON MultiLineString: the streets within reach
    cameras: list[MissingPersonCamera]
