"""The ground area a camera sees: a sector (fixed) or a disc (PTZ / dome), built in metres.

The polygon is built in a local azimuthal-equidistant projection centred on the camera (exact
distances and bearings from it), then returned in WGS-84 for storage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import Polygon

from app.domain.errors import InvalidInput

KINDS = ("fixed", "ptz", "dome")
# Defaults when a source says nothing (OSM rarely does): typical urban bullet / dome cameras.
DEFAULT_FOV_DEG = 60.0
DEFAULT_RANGE_M = {"fixed": 60.0, "ptz": 100.0, "dome": 40.0}


@dataclass(frozen=True, slots=True)
class ViewSpec:
    lon: float
    lat: float
    kind: str = "fixed"
    heading_deg: float | None = None
    fov_deg: float = DEFAULT_FOV_DEG
    range_m: float = DEFAULT_RANGE_M["fixed"]


def validate(spec: ViewSpec) -> ViewSpec:
    if not (-180.0 <= spec.lon <= 180.0) or not (-90.0 <= spec.lat <= 90.0):
        raise InvalidInput("coordinates out of range (lon −180…180, lat −90…90)", field="location")
    if spec.kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")
    if spec.heading_deg is not None and not (0.0 <= spec.heading_deg <= 360.0):
        raise InvalidInput("heading must be within 0–360°", field="heading_deg")
    if not (1.0 <= spec.fov_deg <= 360.0):
        raise InvalidInput("field of view must be within 1–360°", field="fov_deg")
    if not (1.0 <= spec.range_m <= 5000.0):
        raise InvalidInput("range must be within 1–5000 m", field="range_m")
    return spec


@lru_cache(maxsize=4096)
def _to_wgs84(lon: float, lat: float) -> Transformer:
    local = CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m")
    return Transformer.from_crs(local, "EPSG:4326", always_xy=True)


def sees_all_around(spec: ViewSpec) -> bool:
    return spec.kind in ("ptz", "dome") or spec.heading_deg is None or spec.fov_deg >= 360.0


def local_polygon(spec: ViewSpec, segments: int = 32) -> Polygon:
    """The view in metres around the camera at (0, 0); x east, y north."""
    if sees_all_around(spec):
        return shapely.Point(0.0, 0.0).buffer(spec.range_m, quad_segs=max(4, segments // 4))
    half = math.radians(spec.fov_deg) / 2.0
    centre = math.radians(spec.heading_deg or 0.0)
    n = max(2, int(segments * spec.fov_deg / 360.0) + 2)
    az = np.linspace(centre - half, centre + half, n)  # compass bearings: 0 north, clockwise
    xs = spec.range_m * np.sin(az)
    ys = spec.range_m * np.cos(az)
    return Polygon([(0.0, 0.0), *zip(xs, ys, strict=True), (0.0, 0.0)])


def view_polygon(spec: ViewSpec, segments: int = 32) -> Polygon:
    """The view polygon in WGS-84 (lon, lat)."""
    validate(spec)
    poly = local_polygon(spec, segments)
    tr = _to_wgs84(round(spec.lon, 7), round(spec.lat, 7))
    coords = np.asarray(poly.exterior.coords)
    lon, lat = tr.transform(coords[:, 0], coords[:, 1])
    return Polygon(np.column_stack([lon, lat]))
