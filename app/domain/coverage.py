"""Coverage analysis in a metric CRS: key areas, intersections, main-road gaps, duplicated cameras.

Each analysis is one STRtree query for the candidate pairs followed by array operations over the
pairs; per-entity unions use ``group_union`` (key areas are peeled instead, see ``area_coverage``).
Inputs are numpy arrays of shapely geometries.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import shapely

from app.domain.geom_ops import group_union, polygonal

# Seed §14: a camera whose view lies this much inside one other camera's view duplicates it.
DUPLICATE_OVERLAP = 0.8
# Main-road gaps shorter than this are rounding noise between neighbouring views, not blind stretches.
MIN_GAP_M = 10.0


def _groups(first: np.ndarray, second: np.ndarray, n: int) -> list[np.ndarray]:
    """For pairs (first[k], second[k]) sorted by first: the array of ``second`` per id 0…n-1."""
    order = np.argsort(first, kind="stable")
    bounds = np.searchsorted(first[order], np.arange(n + 1)).tolist()
    ordered = second[order]
    return [ordered[lo:hi] for lo, hi in pairwise(bounds)]  # plain slices: np.split costs µs per piece


@dataclass(frozen=True)
class AreaCoverage:
    area_m2: np.ndarray
    covered_m2: np.ndarray
    uncovered: np.ndarray  # (multi)polygon or None when fully covered
    cameras: list[np.ndarray]  # view indices touching each area

    @property
    def fraction(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.area_m2 > 0, self.covered_m2 / self.area_m2, 1.0)


def area_coverage(areas, views, tree: shapely.STRtree | None = None) -> AreaCoverage:
    """Covered area and uncovered polygons of each key area, exact (GEOS overlay, no snapping).

    Instead of clipping every (area, view) pair and unioning the pieces per area, each area is peeled:
    its remainder starts as the area and the views touching it are subtracted one round at a time,
    biggest expected bite first (one vectorised ``difference`` per round over all areas). A view whose
    envelope misses what is left costs nothing, an area is done as soon as its remainder is empty, and
    the remainder *is* the uncovered polygon, so neither union nor final difference is needed.
    """
    areas = np.asarray(areas, dtype=object)
    views = np.asarray(views, dtype=object)
    n = len(areas)
    tree = tree or shapely.STRtree(views)
    ai, vi = tree.query(areas, predicate="intersects")  # sorted by area
    area_m2 = shapely.area(areas)
    rem = areas.copy()
    if len(ai):
        rb, vb = shapely.bounds(areas), shapely.bounds(views)
        # Biggest expected bite first (envelope overlap × how much of its envelope the view fills), so
        # the remainder empties early or shrinks out of reach of the other views' envelopes.
        fill = shapely.area(views[vi]) / np.maximum((vb[vi, 2] - vb[vi, 0]) * (vb[vi, 3] - vb[vi, 1]), 1e-300)
        dx = np.minimum(rb[ai, 2], vb[vi, 2]) - np.maximum(rb[ai, 0], vb[vi, 0])
        dy = np.minimum(rb[ai, 3], vb[vi, 3]) - np.maximum(rb[ai, 1], vb[vi, 1])
        order = np.lexsort((-(dx * dy * fill), ai))
        pa, pv = ai[order], vi[order]
        rank = np.arange(len(pa)) - np.searchsorted(pa, pa)  # position of the view within its area
        alive = np.ones(n, dtype=bool)
        by_rank = np.argsort(rank, kind="stable")
        cuts = np.searchsorted(rank[by_rank], np.arange(1, rank.max() + 1))
        for sel in np.split(by_rank, cuts):
            a, v = pa[sel], pv[sel]
            keep = alive[a]
            a, v = a[keep], v[keep]
            b, w = rb[a], vb[v]
            meet = (w[:, 0] <= b[:, 2]) & (w[:, 2] >= b[:, 0]) & (w[:, 1] <= b[:, 3]) & (w[:, 3] >= b[:, 1])
            a, v = a[meet], v[meet]
            if len(a) == 0:
                continue
            left = shapely.difference(rem[a], views[v])
            rem[a] = left
            rb[a] = shapely.bounds(left)
            alive[a[shapely.is_empty(left)]] = False
    has = shapely.is_geometry(rem) & ~shapely.is_empty(rem)
    covered_m2 = area_m2 - np.where(has, shapely.area(rem), 0.0)
    uncovered = polygonal(np.where(has, rem, None))
    uncovered[shapely.is_empty(uncovered) | (shapely.area(uncovered) < 1e-6)] = None
    return AreaCoverage(area_m2, covered_m2, uncovered, _groups(ai, vi, n))


@dataclass(frozen=True)
class PointCoverage:
    count: np.ndarray  # views containing each point
    cameras: list[np.ndarray]

    @property
    def covered(self) -> np.ndarray:
        return self.count > 0


def point_coverage(points, views, tree: shapely.STRtree | None = None) -> PointCoverage:
    points = np.asarray(points, dtype=object)
    views = np.asarray(views, dtype=object)
    tree = tree or shapely.STRtree(views)
    if len(points) and np.all(shapely.get_type_id(points) == 0) and not shapely.is_empty(points).any():
        # Envelope candidates, then the exact point-in-view test on raw coordinates: cheaper than a
        # predicate query, which would prepare every point (boundary counts as seen, as intersects).
        pi, vi = tree.query(points)
        xy = shapely.get_coordinates(points)
        hit = shapely.intersects_xy(views[vi], xy[pi, 0], xy[pi, 1])
        pi, vi = pi[hit], vi[hit]
    else:
        pi, vi = tree.query(points, predicate="intersects")
    return PointCoverage(np.bincount(pi, minlength=len(points)), _groups(pi, vi, len(points)))


@dataclass(frozen=True)
class LineCoverage:
    length_m: np.ndarray
    blind_m: np.ndarray
    blind: np.ndarray  # (multi)linestring of stretches ≥ min_gap_m, or None
    cameras: list[np.ndarray]


def line_coverage(
    lines, views, min_gap_m: float = MIN_GAP_M, tree: shapely.STRtree | None = None
) -> LineCoverage:
    lines = np.asarray(lines, dtype=object)
    views = np.asarray(views, dtype=object)
    n = len(lines)
    tree = tree or shapely.STRtree(views)
    li, vi = tree.query(lines, predicate="intersects")
    seen = group_union(views[vi], li, n)
    has = shapely.is_geometry(seen)
    blind = lines.copy()
    blind[has] = shapely.difference(lines[has], seen[has])
    # Keep stretches long enough to matter; merge the pieces of each line back into runs.
    parts, idx = shapely.get_parts(blind, return_index=True)
    keep = (shapely.get_type_id(parts) == 1) & (shapely.length(parts) >= min_gap_m)
    out = np.full(n, None, dtype=object)
    if keep.any():
        uniq, inv = np.unique(idx[keep], return_inverse=True)
        out[uniq] = shapely.line_merge(shapely.multilinestrings(parts[keep], indices=inv))
    blind_m = np.where(shapely.is_geometry(out), shapely.length(out), 0.0)
    return LineCoverage(shapely.length(lines), blind_m, out, _groups(li, vi, n))


@dataclass(frozen=True)
class Duplicate:
    camera: int  # index of the redundant camera
    other: int  # the camera whose view contains most of it
    overlap: float  # share of the camera's view inside the other's


def find_duplicates(
    views, threshold: float = DUPLICATE_OVERLAP, tree: shapely.STRtree | None = None
) -> list[Duplicate]:
    """Cameras whose view lies ≥ threshold inside another single camera's view.

    Of two cameras that duplicate each other only one is reported (the more contained one, ties →
    the later one), so moving every reported camera never leaves a spot unwatched.
    """
    views = np.asarray(views, dtype=object)
    tree = tree or shapely.STRtree(views)
    i, j = tree.query(views, predicate="intersects")
    ne = i != j
    i, j = i[ne], j[ne]
    area = shapely.area(views)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = shapely.area(shapely.intersection(views[i], views[j])) / area[i]
    hit = share >= threshold
    i, j, share = i[hit], j[hit], share[hit]
    order = np.lexsort((-i, -share))  # most contained first, later camera first on ties
    flagged: set[int] = set()
    witnesses: set[int] = set()  # cameras that must stay to keep watching a moved camera's spot
    out: list[Duplicate] = []
    for a, b, s in zip(i[order], j[order], share[order], strict=True):
        if a in flagged or a in witnesses or b in flagged:
            continue
        flagged.add(int(a))
        witnesses.add(int(b))
        out.append(Duplicate(int(a), int(b), float(s)))
    return out
