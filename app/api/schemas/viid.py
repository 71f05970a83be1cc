"""The plate search's answer: checkpoint passes as GeoJSON points (the checkpoint's position); a plate's
trajectory: those points and the road legs between them."""

from __future__ import annotations

from typing import Literal

from app.api.schemas.base import Instant, Public
from app.api.schemas.geojson import Feature, FeatureCollection


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
    lane_name: str | None = None  # the checkpoint's lane of this LaneNo (/VIID/Lanes), when described
    lane_direction: str | None = None
    lane_max_speed: int | None = None  # km/h
    device_name: str | None = None  # the capture device's name (/VIID/APEs), when described
    images: list[PassImage]


class PlatePasses(FeatureCollection[PlatePass]):
    """A plate's checkpoint passes in time order; a pass at a checkpoint without a position has no geometry."""


class TrajectoryPass(PlatePass):
    kind: Literal["pass"] = "pass"


class TrajectoryLeg(Public):
    """From one visible pass to the next, along the roads (``routed``) or, when no road joins the two
    checkpoints, the straight line; ``implausible`` when unrouted or faster than the configured bound."""

    kind: Literal["leg"] = "leg"
    from_record_id: str
    to_record_id: str
    from_tollgate_id: str | None
    to_tollgate_id: str | None
    from_time: Instant
    to_time: Instant
    distance_m: float
    gap_s: float
    speed_kmh: float | None
    routed: bool
    implausible: bool


class PlateTrajectory(Public):
    """A plate's passes (Point features, time order) then its legs (LineString features); ``total`` counts
    the passes, ``max_kmh`` is the speed bound the legs were judged by."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    total: int
    limit: int
    offset: int
    max_kmh: float
    features: list[Feature[TrajectoryPass] | Feature[TrajectoryLeg]]
