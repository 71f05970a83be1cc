"""The plate search's answer: checkpoint passes as GeoJSON points (the checkpoint's position)."""

from __future__ import annotations

from app.api.schemas.base import Instant, Public
from app.api.schemas.geojson import FeatureCollection


class PassImage(Public):
    """An image of a pass: in the platform's store (``sha256``) or at the device (``url``)."""

    type: str | None
    format: str | None
    width: int | None
    height: int | None
    sha256: str | None
    bytes: int | None
    url: str | None


class PlatePass(Public):
    record_id: str
    pass_time: Instant
    plate_no: str | None
    plate_color: str | None
    plate_class: str | None
    vehicle_class: str | None
    vehicle_color: str | None
    vehicle_brand: str | None
    lane_no: int | None
    direction: str | None
    speed_kmh: float | None
    device_id: str | None
    tollgate_id: str | None
    tollgate_name: str | None
    division_code: str | None
    images: list[PassImage]


class PlatePasses(FeatureCollection[PlatePass]):
    """A plate's checkpoint passes in time order; a pass at a checkpoint without a position has no geometry."""
