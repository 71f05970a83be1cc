"""Request bodies (pydantic). Geometry bodies are GeoJSON dicts validated by app.domain.geojson."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, Field

from app.api.schemas.base import Patch, Strict

DIVISION_CODE = r"^([0-9]{6}|[0-9]{9}|[0-9]{12})$"  # GB/T 2260 (6) and its township / community extensions
CameraKind = Literal["fixed", "ptz", "dome"]
CameraStatus = Literal["online", "offline", "fault", "planned"]


class LoginIn(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=10, max_length=4096)


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class CameraCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    gb_id: str | None = Field(default=None, pattern=r"^[0-9]{20}$", description="GB/T 28181 id; assigned if absent")
    division_code: str | None = Field(default=None, pattern=DIVISION_CODE)
    kind: CameraKind = "fixed"
    heading_deg: float | None = Field(default=None, ge=0, le=360)
    fov_deg: float = Field(default=60.0, ge=1, le=360)
    range_m: float = Field(default=60.0, ge=1, le=5000, description="metres; below 1 m a view is meaningless")
    cls: int = Field(default=3, ge=1, le=3, description="一类/二类/三类")
    site_category: str | None = Field(default=None, max_length=40)
    owner: str | None = Field(default=None, max_length=200)
    hd: bool = True
    networked: bool = True
    status: CameraStatus = "online"
    stream_url: str | None = Field(default=None, max_length=2000, pattern=r"^(https?|rtsp|rtmp|webrtc)://")
    retention_days: int = Field(default=30, ge=1, le=3650)
    secrecy: int = Field(default=0, ge=0, le=9)


class CameraUpdate(Patch):
    NULLABLE: ClassVar[frozenset[str]] = frozenset(
        {"heading_deg", "site_category", "owner", "stream_url", "division_code"})
    name: str | None = Field(default=None, min_length=1, max_length=200)
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    gb_id: str | None = Field(default=None, pattern=r"^[0-9]{20}$")
    division_code: str | None = Field(default=None, pattern=DIVISION_CODE)
    kind: CameraKind | None = None
    heading_deg: float | None = Field(default=None, ge=0, le=360)
    fov_deg: float | None = Field(default=None, ge=1, le=360)
    range_m: float | None = Field(default=None, ge=1, le=5000)
    cls: int | None = Field(default=None, ge=1, le=3)
    site_category: str | None = Field(default=None, max_length=40)
    owner: str | None = Field(default=None, max_length=200)
    hd: bool | None = None
    networked: bool | None = None
    status: CameraStatus | None = None
    stream_url: str | None = Field(default=None, max_length=2000, pattern=r"^(https?|rtsp|rtmp|webrtc)://")
    retention_days: int | None = Field(default=None, ge=1, le=3650)
    secrecy: int | None = Field(default=None, ge=0, le=9)


class KeyAreaCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    category: str = Field(min_length=1, max_length=40)
    geometry: dict[str, Any]
    division_code: str | None = Field(default=None, pattern=DIVISION_CODE)
    required_retention_days: int | None = Field(default=None, ge=1, le=3650)


class KeyAreaUpdate(Patch):
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"name_en"})
    name: str | None = Field(default=None, min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, min_length=1, max_length=40)
    geometry: dict[str, Any] | None = None
    required_retention_days: int | None = Field(default=None, ge=1, le=3650)


UnitKind = Literal["patrol_car", "officer", "drone", "vehicle"]


class TrackerIn(Strict):
    """The device that reports the unit's position: a JT/T 808 terminal (its phone number), an
    OsmAnd/Traccar phone (its device id), a GB/T 28181 body camera (its 20-digit id)."""
    protocol: Literal["osmand", "jt808", "gb28181", "api"]
    external_id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")


class UnitCreate(Strict):
    callsign: str = Field(min_length=1, max_length=40, description="呼号, e.g. 巡逻1")
    kind: UnitKind = "patrol_car"
    division_code: str = Field(pattern=DIVISION_CODE)
    tracker: TrackerIn | None = None
    officer: str | None = Field(default=None, min_length=1, max_length=64, description="the officer's username")


class UnitUpdate(Patch):
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"tracker", "officer"})
    callsign: str | None = Field(default=None, min_length=1, max_length=40)
    kind: UnitKind | None = None
    division_code: str | None = Field(default=None, pattern=DIVISION_CODE)
    tracker: TrackerIn | None = None
    officer: str | None = Field(default=None, min_length=1, max_length=64)
    status: Literal["available", "off_duty"] | None = Field(default=None, description="on or off duty")


class UserCreate(Strict):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    password: str = Field(min_length=8, max_length=256)
    role: str = Field(min_length=1, max_length=32)
    division_code: str = Field(pattern=DIVISION_CODE)
    display_name: str | None = Field(default=None, max_length=200)


class GrantCreate(Strict):
    role_name: str = Field(min_length=1, max_length=32)
    division_code: str = Field(pattern=DIVISION_CODE)
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    max_secrecy: int = Field(default=0, ge=0, le=9)
    reason: str | None = Field(default=None, max_length=2000)


class UserActive(Strict):
    is_active: bool


class AccessRequestIn(Strict):
    division_code: str = Field(pattern=DIVISION_CODE)
    hours: float = Field(gt=0, le=720)
    reason: str = Field(min_length=4, max_length=2000)
    role: Literal["commander", "dispatcher", "planner"] = "commander"


class Decision(Strict):
    approve: bool


class IncidentCreate(Strict):
    type: str = Field(min_length=1, max_length=32)
    priority: int = Field(default=3, ge=1, le=4, description="1 highest … 4 lowest")
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    description: str | None = Field(default=None, max_length=4000)
    reporter: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=300)
    camera_id: int | None = Field(default=None, ge=1, le=2_147_483_647)


class StatusChange(Strict):
    status: str = Field(min_length=1, max_length=16)


class CallupIn(Strict):
    camera_ids: list[int] = Field(min_length=1, max_length=16)
    reason: str = Field(min_length=2, max_length=2000, description="why the video is opened (audited)")
    incident_id: int | None = Field(default=None, ge=1, le=2_147_483_647)


class PlaybackIn(Strict):
    camera_id: int = Field(ge=1, le=2_147_483_647)
    start: AwareDatetime
    end: AwareDatetime
    speed: float = Field(default=1.0, ge=0.25, le=16, description="playback speed (MANSRTSP Scale)")
    download: bool = Field(default=False, description="the range as a file (s=Download), not played")
    reason: str = Field(min_length=2, max_length=2000, description="why the recording is opened (audited)")
    incident_id: int | None = Field(default=None, ge=1, le=2_147_483_647)


class AssignIn(Strict):
    unit_ids: list[int] = Field(min_length=1, max_length=20)


class PtzIn(Strict):
    action: Literal["left", "right", "up", "down", "zoom_in", "zoom_out", "stop", "goto"]
    speed: int = Field(default=5, ge=1, le=15)
    bearing_deg: float | None = Field(default=None, ge=0, le=360, description="for goto")
    reason: str = Field(min_length=2, max_length=2000)
