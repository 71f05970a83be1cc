"""Grouped geometry operations that shapely lacks as single calls, built from its array functions."""

from __future__ import annotations

import numpy as np
import shapely


def group_union(parts, groups, n: int) -> np.ndarray:
    """Union of polygonal ``parts`` per group id in 0…n-1; None where a group has no area.

    One multipolygon of (possibly overlapping) members per group, made valid with the "structure"
    method, is exactly the union of the members: one GEOS call per group, all inside C.
    """
    out = np.full(n, None, dtype=object)
    parts = np.asarray(parts, dtype=object)
    if len(parts) == 0:
        return out
    polys, idx = shapely.get_parts(parts, return_index=True)  # intersections yield collections
    groups = np.asarray(groups)[idx]
    keep = (shapely.get_type_id(polys) == 3) & (shapely.area(polys) > 0)  # drop touching debris
    polys, groups = polys[keep], groups[keep]
    if len(polys) == 0:
        return out
    order = np.argsort(groups, kind="stable")
    polys, groups = polys[order], groups[order]
    uniq, start, count = np.unique(groups, return_index=True, return_counts=True)
    single = count == 1  # a lone piece is its own union
    out[uniq[single]] = polys[start[single]]
    many = ~single
    if many.any():
        sel = np.isin(groups, uniq[many])
        _, inverse = np.unique(groups[sel], return_inverse=True)
        multi = shapely.multipolygons(polys[sel], indices=inverse)
        out[uniq[many]] = shapely.make_valid(multi, method="structure", keep_collapsed=False)
    return out


def polygonal(geoms) -> np.ndarray:
    """Only the polygonal part of each geometry (None when nothing is left), as (multi)polygons."""
    geoms = np.asarray(geoms, dtype=object)
    parts, idx = shapely.get_parts(geoms, return_index=True)
    keep = shapely.get_type_id(parts) == 3
    out = np.full(len(geoms), None, dtype=object)
    if keep.any():
        uniq, inv = np.unique(idx[keep], return_inverse=True)
        out[uniq] = shapely.multipolygons(parts[keep], indices=inv)
    return out
