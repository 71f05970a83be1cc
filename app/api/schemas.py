"""Request/response schemas (pydantic). Geometry bodies are GeoJSON dicts validated by app.domain.geojson."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CameraKind = Literal["fixed", "ptz", "dome"]
CameraStatus = Literal["online", "offline", "fault", "planned"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    division_code: str | None = Field(default=None, pattern=r"^([0-9]{6}|[0-9]{9}|[0-9]{12})$")
    kind: CameraKind = "fixed"
    heading_deg: float | None = Field(default=None, ge=0, le=360)
    fov_deg: float = Field(default=60.0, ge=1, le=360)
    range_m: float = Field(default=60.0, gt=0, le=5000)
    cls: int = Field(default=3, ge=1, le=3, description="一类/二类/三类")
    site_category: str | None = Field(default=None, max_length=40)
    owner: str | None = Field(default=None, max_length=200)
    hd: bool = True
    networked: bool = True
    status: CameraStatus = "online"
    stream_url: str | None = Field(default=None, max_length=2000, pattern=r"^(https?|rtsp|rtmp|webrtc)://")
    retention_days: int = Field(default=30, ge=1, le=3650)
    secrecy: int = Field(default=0, ge=0, le=9)


class CameraUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    gb_id: str | None = Field(default=None, pattern=r"^[0-9]{20}$")
    division_code: str | None = Field(default=None, pattern=r"^([0-9]{6}|[0-9]{9}|[0-9]{12})$")
    kind: CameraKind | None = None
    heading_deg: float | None = Field(default=None, ge=0, le=360)
    fov_deg: float | None = Field(default=None, ge=1, le=360)
    range_m: float | None = Field(default=None, gt=0, le=5000)
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
    division_code: str | None = Field(default=None, pattern=r"^([0-9]{6}|[0-9]{9}|[0-9]{12})$")
    required_retention_days: int | None = Field(default=None, ge=1, le=3650)


class KeyAreaUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, min_length=1, max_length=40)
    geometry: dict[str, Any] | None = None
    required_retention_days: int | None = Field(default=None, ge=1, le=3650)


class Created(BaseModel):
    id: int | str


class FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    total: int
    limit: int
    offset: int
    features: list[dict[str, Any]]


class Feature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: int | str
    geometry: dict[str, Any] | None
    properties: dict[str, Any]
