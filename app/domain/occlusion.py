"""2D line of sight: building footprints cut what a camera sees; a wall hides everything behind it.

For every (view, building) pair each wall edge a→b casts a shadow: the region between the rays from
the camera through a and through b, beyond the edge. The shadows of all edges plus the footprint
itself are unioned per camera and subtracted from its view. All steps are array operations over the
pairs found by one STRtree query. Works in a metric CRS.
"""

from __future__ import annotations

import numpy as np
import shapely

from app.domain.geom_ops import group_union

# A camera this close to a footprint is mounted on it (wall or roof) and looks over or away from it.
MOUNT_TOLERANCE_M = 1.0


def shadows(
    cam_xy: np.ndarray, cam_idx: np.ndarray, buildings: np.ndarray, range_m: np.ndarray
) -> np.ndarray:
    """Shadow polygons (one per edge, plus the footprints) for pairs (camera cam_idx[k], buildings[k]).

    Returns (pieces, owner) where owner is the camera index of each piece.
    """
    rings = shapely.get_exterior_ring(buildings)
    coords, ring_idx = shapely.get_coordinates(rings, return_index=True)
    same = ring_idx[:-1] == ring_idx[1:]  # consecutive vertices of one ring form an edge
    a, b, pair = coords[:-1][same], coords[1:][same], ring_idx[:-1][same]
    c = cam_xy[cam_idx[pair]]
    da, db = a - c, b - c
    la = np.linalg.norm(da, axis=1)
    lb = np.linalg.norm(db, axis=1)
    ok = (la > 1e-6) & (lb > 1e-6)
    a, b, c, da, db, la, lb, pair = a[ok], b[ok], c[ok], da[ok], db[ok], la[ok], lb[ok], pair[ok]
    ua, ub = da / la[:, None], db / lb[:, None]
    # Far enough that every chord of the far end lies beyond the camera's range (half-angle ≤ 90°).
    far = 2.0 * np.maximum.reduce([range_m[cam_idx[pair]], la, lb])[:, None]
    mid = ua + ub
    mn = np.linalg.norm(mid, axis=1)
    mid = np.where(mn[:, None] > 1e-9, mid / np.maximum(mn, 1e-9)[:, None], np.c_[-ua[:, 1], ua[:, 0]])
    ring = np.stack([a, b, c + ub * far, c + mid * far * 1.5, c + ua * far, a], axis=1)
    pieces = shapely.polygons(ring)
    pieces = shapely.make_valid(pieces)  # zero-area shadows of edges seen edge-on collapse harmlessly
    owners = cam_idx[pair]
    return np.concatenate([pieces, buildings]), np.concatenate([owners, cam_idx])


def occlude(
    cam_points: np.ndarray, views: np.ndarray, range_m: np.ndarray, buildings: np.ndarray
) -> np.ndarray:
    """Views with what buildings hide removed (metric CRS). Inputs are arrays of equal length."""
    views = np.asarray(views, dtype=object).copy()
    buildings = np.asarray(buildings, dtype=object)
    if len(buildings) == 0 or len(views) == 0:
        return views
    tree = shapely.STRtree(buildings)
    vi, bi = tree.query(views, predicate="intersects")
    mounted = shapely.dwithin(buildings[bi], cam_points[vi], MOUNT_TOLERANCE_M)
    vi, bi = vi[~mounted], bi[~mounted]
    if len(vi) == 0:
        return views
    cam_xy = shapely.get_coordinates(cam_points)
    pieces, owner = shadows(cam_xy, vi, buildings[bi], np.asarray(range_m, dtype=float))
    shade = group_union(pieces, owner, len(views))
    hit = np.flatnonzero(shapely.is_geometry(shade))
    views[hit] = shapely.difference(views[hit], shade[hit])
    return views
