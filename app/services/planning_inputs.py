"""Loading the planner's inputs from PostGIS into shapely arrays (WGS-84), and bulk-writing results.

Reads are plain indexed SQL returning WKB; writes go through ``unnest`` of arrays, one statement per
table, so tens of thousands of rows cost one round trip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.osm_tags import MAIN_ROAD_CLASSES

MODES = ("all", "online")
MAIN_ROADS = sorted(MAIN_ROAD_CLASSES)


def _status_filter(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    return "c.status = 'online'" if mode == "online" else "c.status <> 'planned'"


@dataclass
class Cameras:
    id: np.ndarray
    point: np.ndarray
    view: np.ndarray
    range_m: np.ndarray
    kind: np.ndarray
    fov_deg: np.ndarray
    heading_deg: np.ndarray  # NaN where the camera was mapped without one

    def __len__(self) -> int:
        return len(self.id)

    @property
    def view_known(self) -> np.ndarray:
        """Whether the stored view is what the camera sees: a PTZ/dome turns all round; a fixed camera
        mapped without a heading is drawn all round too, but sees only a sector of that disc."""
        return (self.kind != "fixed") | ~np.isnan(self.heading_deg)


def _arr(rows, i, dtype=object):
    return np.array([r[i] for r in rows], dtype=dtype) if rows else np.empty(0, dtype=dtype)


def _geoms(rows, i) -> np.ndarray:
    return shapely.from_wkb(_arr(rows, i)) if rows else np.empty(0, dtype=object)


async def cameras(conn: AsyncConnection, mode: str, *, touching: str | None = None, meets: str | None = None,
                  params=None) -> Cameras:
    """Cameras of a mode; ``touching`` is an optional SQL geometry expression their view (``c.view``) must
    meet, ``meets`` an optional SQL condition on ``c``."""
    where = _status_filter(mode)
    if touching:
        where += f" AND ST_Intersects(c.view, {touching})"
    if meets:
        where += f" AND {meets}"
    rows = (
        await conn.execute(
            text(
                "SELECT c.id, ST_AsBinary(c.location), ST_AsBinary(c.view), c.range_m, c.kind, c.fov_deg,"
                " coalesce(c.heading_deg, 'NaN') "
                f"FROM camera c WHERE {where} ORDER BY c.id"
            ),
            params or {},
        )
    ).all()
    return Cameras(
        _arr(rows, 0, np.int64),
        _geoms(rows, 1),
        _geoms(rows, 2),
        _arr(rows, 3, float),
        _arr(rows, 4, object),
        _arr(rows, 5, float),
        _arr(rows, 6, float),
    )


async def id_geoms(conn: AsyncConnection, sql: str, params=None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, geometries) from a query selecting ``id, ST_AsBinary(geom)``."""
    rows = (await conn.execute(text(sql), params or {})).all()
    return _arr(rows, 0, np.int64), _geoms(rows, 1)


KEY_AREAS = "SELECT k.id, ST_AsBinary(k.area) FROM key_area k"
# Drivable junctions: every road_node is on the drivable network (the loader keeps only those ways).
INTERSECTIONS = "SELECT n.id, ST_AsBinary(n.location) FROM road_node n WHERE n.degree >= 3"
MAIN_ROAD_EDGES = "SELECT e.id, ST_AsBinary(e.geom) FROM road_edge e WHERE e.highway = ANY(:main)"
BUILDINGS = "SELECT b.id, ST_AsBinary(b.footprint) FROM building b"


async def buildings_near(conn: AsyncConnection, views: np.ndarray) -> np.ndarray:
    """Footprints within the bounding box of the views (an indexed && query)."""
    if len(views) == 0:
        return np.empty(0, dtype=object)
    x0, y0, x1, y1 = shapely.total_bounds(views)
    _, g = await id_geoms(
        conn,
        BUILDINGS + " WHERE b.footprint && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)",
        {"x0": x0, "y0": y0, "x1": x1, "y1": y1},
    )
    return g


def wkb_hex(geoms) -> list[str | None]:
    geoms = np.asarray(geoms, dtype=object)
    out = shapely.to_wkb(geoms, hex=True)
    return [None if g is None else str(g) for g in out]


def int_arrays(groups, ids: np.ndarray) -> list[str]:
    """Per-row camera id lists as PostgreSQL array literals (unnest cannot take ragged arrays)."""
    return ["{" + ",".join(map(str, ids[g].tolist())) + "}" for g in groups]
