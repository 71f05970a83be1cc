"""Map objects: cameras, key areas, divisions (GeoJSON properties)."""

from __future__ import annotations

from app.api.schemas.base import Public
from app.api.schemas.geojson import Feature, FeatureCollection


class CameraProperties(Public):
    id: int
    gb_id: str | None
    name: str
    division_code: str | None
    cls: int | None
    site_category: str | None
    owner: str | None
    kind: str
    heading_deg: float | None
    fov_deg: float | None
    range_m: float | None
    hd: bool | None
    networked: bool | None
    status: str
    last_seen_at: str | None
    retention_days: int | None
    secrecy: int
    source: str | None


class KeyAreaProperties(Public):
    id: int
    name: str
    name_en: str | None
    category: str
    division_code: str | None
    required_retention_days: int | None
    source: str | None


class DivisionProperties(Public):
    code: str
    name: str
    name_en: str | None
    level: int
    parent_code: str | None


# Named subclasses: readable names in the OpenAPI document (and the TypeScript generated from it).
class CameraFeature(Feature[CameraProperties]):
    pass


class CameraCollection(FeatureCollection[CameraProperties]):
    pass


class KeyAreaFeature(Feature[KeyAreaProperties]):
    pass


class KeyAreaCollection(FeatureCollection[KeyAreaProperties]):
    pass


class DivisionFeature(Feature[DivisionProperties]):
    pass


class DivisionCollection(FeatureCollection[DivisionProperties]):
    pass
