"""Vector tiles made by PostGIS (ST_AsMVT), cached by (layer, data version, z/x/y, scope) in
``app.services.tile_cache`` (in-process, and shared through Redis when there is one).

One query template per layer: ``ST_TileEnvelope`` + GiST filter (``&&`` on a margin envelope) +
``ST_AsMVTGeom`` + explicit ``LIMIT``. Scoped layers filter by the caller's division subtree and
secrecy, and the scope is part of the cache key, so one district never gets another's tile.
Writes bump a per-layer version (``TileCache.bump``); a bumped version makes old entries unreachable.
Warm tiles are answered before the API's dependencies run (``app.api.tile_fastpath``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Integer, Select, and_, bindparam, case, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import Camera, Division, KeyArea, RoadEdge
from app.db.models_basemap import BaseGreen, BasePoi, BaseRail, BaseRoadLabel, BaseWater
from app.db.models_planning import Building, KeyAreaCoverage
from app.db.scoping import OPEN, division_filter, figure_filter, scope_filter
from app.domain import basemap_tags
from app.domain.access import Scope
from app.domain.errors import InvalidInput, NotFound
from app.services.divisions import visible_filter
from app.services.tile_cache import INVALIDATES, Tile, TileCache

__all__ = ["INVALIDATES", "LAYERS", "Layer", "Tile", "TileCache", "check_tile", "get_tile", "render", "style"]

EXTENT = 4096
BUFFER = 64
WORLD_M = 40075016.685578488
MAJOR_ROADS = ("motorway", "trunk", "primary", "motorway_link", "trunk_link", "primary_link")
MEDIUM_ROADS = (*MAJOR_ROADS, "secondary", "tertiary", "secondary_link", "tertiary_link")


@dataclass(frozen=True, slots=True)
class Layer:
    name: str
    kind: str  # line | fill | point — for the style description
    minzoom: int
    maxzoom: int
    limit: int
    scoped: bool
    build: Callable[[int, Scope], tuple[object, list, list]]  # geometry column, properties, filters
    description: str


def _roads(z: int, scope: Scope):
    conds = []
    if z < 12:
        conds.append(RoadEdge.highway.in_(MAJOR_ROADS))
    elif z < 14:
        conds.append(RoadEdge.highway.in_(MEDIUM_ROADS))
    return RoadEdge.geom_, [RoadEdge.id, RoadEdge.name, RoadEdge.highway], conds


def _divisions(z: int, scope: Scope):
    return (Division.boundary, [Division.code, Division.name, Division.name_en, Division.level],
            [Division.boundary.isnot(None), visible_filter(scope)])


def _key_areas(z: int, scope: Scope):
    # The wall colours key areas by coverage: from the stored planning results (all cameras), the figure
    # without secret cameras where the reader may not see them all (the scope is in the tile's cache key).
    frac = (select(KeyAreaCoverage.fraction)
            .where(KeyAreaCoverage.key_area_id == KeyArea.id, KeyAreaCoverage.mode.in_(("all", "all" + OPEN)),
                   figure_filter(KeyAreaCoverage, scope)).scalar_subquery())
    status = case((frac.is_(None), "unknown"), (frac >= 0.999, "covered"), (frac > 0, "partial"),
                  else_="uncovered").label("coverage_status")
    return (KeyArea.area,
            [KeyArea.id, KeyArea.name, KeyArea.name_en, KeyArea.category, KeyArea.division_code, status],
            [division_filter(KeyArea.division_code, scope)])


def _buildings(z: int, scope: Scope):
    return Building.footprint, [Building.id], []


def _camera_filters(scope: Scope) -> list:
    return [scope_filter(Camera.division_code, scope, Camera.secrecy)]


def _cameras(z: int, scope: Scope):
    return (Camera.location, [Camera.id, Camera.gb_id, Camera.name, Camera.cls, Camera.kind, Camera.status,
                              Camera.heading_deg, Camera.fov_deg, Camera.range_m, Camera.hd, Camera.networked,
                              Camera.division_code], _camera_filters(scope))


def _camera_views(z: int, scope: Scope):
    return Camera.view, [Camera.id, Camera.status, Camera.cls], _camera_filters(scope)


def _water(z: int, scope: Scope):
    return BaseWater.area, [BaseWater.id, BaseWater.kind, BaseWater.name], []


def _green(z: int, scope: Scope):
    return BaseGreen.area, [BaseGreen.id, BaseGreen.kind, BaseGreen.name], []


def _rail(z: int, scope: Scope):
    return BaseRail.line, [BaseRail.id, BaseRail.kind, BaseRail.tunnel, BaseRail.name], []


def _poi(z: int, scope: Scope):
    # Only landmarks (stations, public buildings) until close up, sights next: shops would be a carpet.
    top = "public" if z < 17 else "tourism" if z < 18 else None
    conds = [BasePoi.rank <= basemap_tags.poi_rank(top)] if top else []
    return (BasePoi.location, [BasePoi.id, BasePoi.cls, BasePoi.subtype, BasePoi.name, BasePoi.name_en,
                               BasePoi.rank], conds)


def _road_labels(z: int, scope: Scope):
    conds = [] if z >= 15 else [BaseRoadLabel.highway.in_(MEDIUM_ROADS) | (BaseRoadLabel.way_length_m > 400)]
    return (BaseRoadLabel.location, [BaseRoadLabel.id, BaseRoadLabel.name, BaseRoadLabel.name_en,
                                     BaseRoadLabel.highway, BaseRoadLabel.angle], conds)


LAYERS: dict[str, Layer] = {layer.name: layer for layer in (
    Layer("roads", "line", 10, 22, 20000, False, _roads, "OSM road network"),
    Layer("divisions", "line", 0, 22, 2000, True, _divisions, "administrative division boundaries"),
    Layer("buildings", "fill", 14, 22, 20000, False, _buildings, "building footprints (OSM)"),
    Layer("key_areas", "fill", 10, 22, 5000, True, _key_areas, "key public areas, with coverage status"),
    Layer("cameras", "point", 10, 22, 20000, True, _cameras, "cameras (scoped)"),
    Layer("camera_views", "fill", 16, 22, 20000, True, _camera_views, "camera view sectors (scoped)"),
    # The base map's public geography (issue #20), unscoped like roads and buildings.
    Layer("water", "fill", 10, 22, 5000, False, _water, "water areas (OSM)"),
    Layer("green", "fill", 11, 22, 10000, False, _green, "parks, woods and grass (OSM)"),
    Layer("rail", "line", 11, 22, 10000, False, _rail, "railway, tram and metro lines (OSM)"),
    Layer("road_labels", "point", 14, 22, 5000, False, _road_labels, "road-name label points with angle (OSM)"),
    Layer("poi", "point", 15, 22, 3000, False, _poi, "named points of interest (OSM)"),
)}


def tile_query(layer: Layer, z: int, x: int, y: int, scope: Scope) -> Select:
    geom, props, conds = layer.build(z, scope)
    env = func.ST_TileEnvelope(z, x, y)
    margin = WORLD_M / (1 << z) * BUFFER / EXTENT
    search = func.ST_Transform(func.ST_Expand(env, margin), 4326)
    inner = (select(func.ST_AsMVTGeom(func.ST_Transform(geom, 3857), env, EXTENT, BUFFER, True).label("geom"),
                    *props)
             .where(and_(geom.op("&&")(search), *conds))
             .limit(layer.limit)
             .subquery("t"))
    return (select(func.ST_AsMVT(literal_column("t"), layer.name, EXTENT, "geom"))
            .select_from(inner).where(inner.c.geom.isnot(None)))


def check_tile(layer: str, z: int, x: int, y: int) -> Layer:
    spec = LAYERS.get(layer)
    if spec is None:
        raise NotFound(f"unknown tile layer '{layer}'")
    if not 0 <= z <= 22 or not (0 <= x < (1 << z) and 0 <= y < (1 << z)):
        raise InvalidInput("tile coordinates out of range", field="z/x/y")
    return spec


# The tile's SQL compiled once per (layer, z, scope rules): building and compiling the SQLAlchemy statement
# cost ~1.5 ms of CPU per tile, three times the query's own client-side cost; only x and y vary after that.
_SQL: dict[tuple, tuple[str, tuple[str, ...], dict]] = {}
_SQL_MAX = 4096


def _compiled(conn: AsyncConnection, layer: Layer, z: int, scope: Scope) -> tuple[str, tuple[str, ...], dict]:
    key = (layer.name, z, scope.key if layer.scoped else ())
    hit = _SQL.get(key)
    if hit is None:
        stmt = tile_query(layer, z, bindparam("tile_x", 0, Integer), bindparam("tile_y", 0, Integer), scope)
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        procs = compiled._bind_processors
        consts = {name: procs[name](value) if name in procs else value for name, value in compiled.params.items()
                  if name not in ("tile_x", "tile_y")}
        hit = (compiled.string, tuple(compiled.positiontup or ()), consts)
        if len(_SQL) >= _SQL_MAX:
            _SQL.clear()
        _SQL[key] = hit
    return hit


async def render(conn: AsyncConnection, layer: Layer, z: int, x: int, y: int, scope: Scope) -> bytes:
    if not layer.minzoom <= z <= layer.maxzoom:
        return b""
    sql, order, consts = _compiled(conn, layer, z, scope)
    xy = {"tile_x": x, "tile_y": y}
    data = (await conn.exec_driver_sql(sql, tuple(xy[n] if n in xy else consts[n] for n in order))).scalar()
    return bytes(data) if data else b""


async def get_tile(conn: AsyncConnection, cache: TileCache, layer: Layer, z: int, x: int, y: int,
                   scope: Scope) -> Tile:
    key = cache.key(layer, z, x, y, scope)  # before rendering: a write during the query bumps past it
    tile = await cache.lookup(key)
    if tile is None:
        tile = await cache.store(key, await render(conn, layer, z, x, y, scope))
    return tile


def style(base_url: str = "/tiles") -> dict:
    """What exists, for the frontend: layer names, geometry kind, zoom range and URL template."""
    return {
        "version": 1,
        "attribution": "© OpenStreetMap contributors",
        "tile_size": 512,
        "layers": [{"id": spec.name, "kind": spec.kind, "minzoom": spec.minzoom, "maxzoom": spec.maxzoom,
                    "scoped": spec.scoped, "description": spec.description,
                    "url": f"{base_url}/{spec.name}/{{z}}/{{x}}/{{y}}.pbf"} for spec in LAYERS.values()],
    }
