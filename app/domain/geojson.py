"""Validation of client-supplied GeoJSON geometries (shapely)."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from app.domain.errors import InvalidInput


def polygon(obj: dict, field: str = "geometry") -> MultiPolygon:
    """A valid (Multi)Polygon in lon/lat range, returned as MultiPolygon."""
    if not isinstance(obj, dict) or obj.get("type") not in ("Polygon", "MultiPolygon"):
        raise InvalidInput("geometry must be a GeoJSON Polygon or MultiPolygon", field=field)
    try:
        geom = shape(obj)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise InvalidInput(f"malformed geometry: {exc}", field=field) from exc
    coords = shapely.get_coordinates(geom)
    if coords.size == 0:
        raise InvalidInput("geometry is empty", field=field)
    if not np.isfinite(coords).all() or (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        raise InvalidInput("coordinates out of range (lon −180…180, lat −90…90)", field=field)
    if not geom.is_valid:
        raise InvalidInput(f"invalid polygon: {shapely.is_valid_reason(geom)}", field=field)
    if geom.area == 0:
        raise InvalidInput("polygon has no area", field=field)
    return MultiPolygon([geom]) if isinstance(geom, Polygon) else geom


# A key area is a square, a station, a campus: 50 km² is far beyond the largest (a whole district is
# a division, not a key area), so a world- or country-sized polygon is refused as input, not stored.
MAX_KEY_AREA_KM2 = 50.0
MAX_KEY_AREA_SPAN_DEG = 1.0


def key_area(obj: dict, field: str = "geometry") -> MultiPolygon:
    """A valid polygon of a size a key area can have (geodesic area on WGS-84)."""
    from pyproj import Geod

    geom = polygon(obj, field)
    x1, y1, x2, y2 = geom.bounds
    if x2 - x1 > MAX_KEY_AREA_SPAN_DEG or y2 - y1 > MAX_KEY_AREA_SPAN_DEG:  # geodesic area degenerates at ±180°
        raise InvalidInput(f"a key area spans at most {MAX_KEY_AREA_SPAN_DEG:g}° (this one: "
                           f"{x2 - x1:.1f}° × {y2 - y1:.1f}°)", field=field)
    area_km2 = abs(Geod(ellps="WGS84").geometry_area_perimeter(geom)[0]) / 1e6
    if area_km2 > MAX_KEY_AREA_KM2:
        raise InvalidInput(f"a key area covers at most {MAX_KEY_AREA_KM2:g} km² (this one: {area_km2:,.0f} km²)",
                           field=field)
    return geom
