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
