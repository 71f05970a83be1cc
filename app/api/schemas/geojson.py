"""GeoJSON responses with typed properties: ``Feature[CameraProperties]``, ``FeatureCollection[...]``."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from app.api.schemas.base import Public

P = TypeVar("P")

# Geometries stay plain GeoJSON objects (Point, Polygon, MultiPolygon, LineString... as stored).
Geometry = dict[str, Any]


class Feature(Public, Generic[P]):
    type: Literal["Feature"] = "Feature"
    id: int | str
    geometry: Geometry | None
    properties: P


class FeatureCollection(Public, Generic[P]):
    """A page of features: ``total`` matching, this page from ``offset``, at most ``limit``."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    total: int
    limit: int
    offset: int
    features: list[Feature[P]]


class LayerFeature(Feature[dict[str, Any]]):
    pass


class Layer(Public):
    """A whole layer (no paging), properties as the layer defines them."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[LayerFeature]
