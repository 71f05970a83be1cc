"""Coverage analysis in a metric CRS: key areas, intersections, main-road gaps, duplicated cameras.

Each analysis is one STRtree query for the candidate pairs followed by array operations over the
pairs; per-entity unions use ``group_union`` (key areas are peeled instead, see ``area_coverage``).
Inputs are numpy arrays of shapely geometries.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import shapely

from app.domain.geom_ops import group_union, polygonal

# Seed §14: a camera whose view lies this much inside one other camera's view duplicates it.
DUPLICATE_OVERLAP = 0.8
# Main-road gaps shorter than this are rounding noise between neighbouring views, not blind stretches.
MIN_GAP_M = 10.0
# Threads for the overlay-heavy analyses when the caller does not say (GEOS runs without the GIL).
MAX_WORKERS = 2


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


def thread_count(workers: int | None = None) -> int:
    """Threads an analysis uses: ``workers`` if given, else the usable cores up to ``MAX_WORKERS``."""
    if workers is not None:
        return max(1, workers)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


def _by_view(fn, views: np.ndarray, v: np.ndarray, *others: np.ndarray) -> np.ndarray:
    """fn(views[v], *others) with the pairs taken in view order, answers in the original order.

    A view array is allocated in index order, so GEOS then reads the views in memory order: measured,
    a predicate over 150,000 (point, view) pairs in view order costs half as much as in the order
    of the first argument; the whole coverage bench run, 4 % less (10 paired runs, 1 thread).
    """
    order = np.argsort(v, kind="stable")
    out = fn(views[v[order]], *(x[order] for x in others))
    res = np.empty_like(out)
    res[order] = out
    return res


def _chunked(fn, n: int, workers: int, min_chunk: int) -> list:
    """fn(lo, hi) over contiguous ranges of 0…n-1, on up to ``workers`` threads (shapely releases the GIL)."""
    k = min(workers * 4, max(1, n // min_chunk)) if workers > 1 else 1
    bounds = np.linspace(0, n, k + 1).astype(int)
    spans = list(pairwise(bounds.tolist()))
    if k == 1:
        return [fn(*spans[0])]
    with ThreadPoolExecutor(min(workers, k)) as ex:
        return list(ex.map(lambda s: fn(*s), spans))


def _peel(areas: np.ndarray, views: np.ndarray, ai: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """The uncovered remainder of each area (None when none is left) for intersecting pairs sorted by area."""
    n = len(areas)
    rem = areas.copy()
    if len(ai) == 0:
        return rem
    rb, vb = shapely.bounds(areas), _by_view(shapely.bounds, views, vi)
    b = rb[ai]
    alive = np.ones(n, dtype=bool)
    # Classify first: a view whose envelope holds the area's is tested for covering it whole (a
    # predicate, no overlay); such areas are done before any subtraction.
    around = (vb[:, 0] <= b[:, 0]) & (vb[:, 1] <= b[:, 1]) & (vb[:, 2] >= b[:, 2]) & (vb[:, 3] >= b[:, 3])
    if around.any():
        cand = np.flatnonzero(around)
        alive[ai[cand[_by_view(shapely.covers, views, vi[cand], areas[ai[cand]])]]] = False
    # Biggest expected bite first (envelope overlap × how much of its envelope the view fills), so
    # the remainder empties early or shrinks out of reach of the other views' envelopes.
    fill = _by_view(shapely.area, views, vi) / np.maximum((vb[:, 2] - vb[:, 0]) * (vb[:, 3] - vb[:, 1]), 1e-300)
    dx = np.minimum(b[:, 2], vb[:, 2]) - np.maximum(b[:, 0], vb[:, 0])
    dy = np.minimum(b[:, 3], vb[:, 3]) - np.maximum(b[:, 1], vb[:, 1])
    order = np.lexsort((-(dx * dy * fill), ai))
    pa, pv, pb = ai[order], vi[order], vb[order]
    rank = np.arange(len(pa)) - np.searchsorted(pa, pa)  # position of the view within its area
    by_rank = np.argsort(rank, kind="stable")
    cuts = np.searchsorted(rank[by_rank], np.arange(1, rank.max() + 1))
    for r, sel in enumerate(np.split(by_rank, cuts)):
        a, v, w = pa[sel], pv[sel], pb[sel]
        keep = alive[a]
        a, v, w = a[keep], v[keep], w[keep]
        b = rb[a]
        meet = (w[:, 0] <= b[:, 2]) & (w[:, 2] >= b[:, 0]) & (w[:, 1] <= b[:, 3]) & (w[:, 3] >= b[:, 1])
        a, v, w, b = a[meet], v[meet], w[meet], b[meet]
        if r and len(a):
            # Predicates instead of overlays where they settle the pair (a predicate costs a fraction of
            # a subtraction): a view whose envelope holds what is left may cover it whole, and a view
            # whose envelope still overlaps the remainder often no longer meets it (it lies in what is
            # already gone).
            around = (w[:, 0] <= b[:, 0]) & (w[:, 1] <= b[:, 1]) & (w[:, 2] >= b[:, 2]) & (w[:, 3] >= b[:, 3])
            if around.any():
                cand = np.flatnonzero(around)
                gone = cand[_by_view(shapely.covers, views, v[cand], rem[a[cand]])]
                alive[a[gone]] = False
                around[gone] = False
                a, v, around = np.delete(a, gone), np.delete(v, gone), np.delete(around, gone)
            hit = around.copy()
            hit[~around] = _by_view(shapely.intersects, views, v[~around], rem[a[~around]])
            a, v = a[hit], v[hit]
        if len(a) == 0:
            continue
        left = shapely.difference(rem[a], views[v])
        rem[a] = left
        rb[a] = shapely.bounds(left)
        alive[a[shapely.is_empty(left)]] = False
    rem[~alive] = None
    return rem


def area_coverage(areas, views, tree: shapely.STRtree | None = None, workers: int | None = None) -> AreaCoverage:
    """Covered area and uncovered polygons of each key area, exact (GEOS overlay, no snapping).

    Instead of clipping every (area, view) pair and unioning the pieces per area, each area is peeled:
    its remainder starts as the area and the views touching it are subtracted one round at a time,
    biggest expected bite first (one vectorised ``difference`` per round over all areas). A view whose
    envelope misses what is left, or that no longer meets it, costs no overlay; an area is done as soon
    as its remainder is empty (or one view covers it whole), and the remainder *is* the uncovered
    polygon, so neither union nor final difference is needed. Measured against unioning clipped pieces
    per area (``union_all`` or a pairwise tree), peeling does under a third of the GEOS work.

    Ranges of areas run on ``workers`` threads (default: the cores, at most ``MAX_WORKERS``); shapely
    releases the GIL inside GEOS, and the answer does not depend on the split.
    """
    areas = np.asarray(areas, dtype=object)
    views = np.asarray(views, dtype=object)
    n = len(areas)
    tree = tree or shapely.STRtree(views)
    if n:
        tree.query(areas[:1])  # builds the tree (lazily built on first query) before threads share it

    def run(lo: int, hi: int):
        sub = areas[lo:hi]
        a, v = tree.query(sub)  # envelope candidates; the exact test below runs in view order
        hit = _by_view(shapely.intersects, views, v, sub[a])
        a, v = a[hit], v[hit]
        if np.any(a[1:] < a[:-1]):
            order = np.argsort(a, kind="stable")
            a, v = a[order], v[order]
        rem = _peel(sub, views, a, v)
        area_m2 = shapely.area(sub)
        has = shapely.is_geometry(rem) & ~shapely.is_empty(rem)
        covered_m2 = area_m2 - np.where(has, shapely.area(rem), 0.0)
        # Normalised, so the polygons do not depend on the order views were subtracted in (or the threads).
        uncovered = shapely.normalize(polygonal(np.where(has, rem, None)))
        uncovered[shapely.is_empty(uncovered) | (shapely.area(uncovered) < 1e-6)] = None
        return area_m2, covered_m2, uncovered, a + lo, v

    parts = _chunked(run, n, thread_count(workers), min_chunk=500)
    area_m2, covered_m2, uncovered, ai, vi = (np.concatenate([p[k] for p in parts]) for k in range(5))
    return AreaCoverage(area_m2, covered_m2, uncovered, _groups(ai, vi, n))


@dataclass(frozen=True)
class PointCoverage:
    count: np.ndarray  # views containing each point
    cameras: list[np.ndarray]

    @property
    def covered(self) -> np.ndarray:
        return self.count > 0


def point_coverage(points, views, tree: shapely.STRtree | None = None, workers: int | None = None) -> PointCoverage:
    points = np.asarray(points, dtype=object)
    views = np.asarray(views, dtype=object)
    tree = tree or shapely.STRtree(views)
    if len(points) and np.all(shapely.get_type_id(points) == 0) and not shapely.is_empty(points).any():
        # Envelope candidates, then the exact point-in-view test on raw coordinates: cheaper than a
        # predicate query, which would prepare every point (boundary counts as seen, as intersects).
        xy = shapely.get_coordinates(points)
        tree.query(points[:1])  # builds the tree (lazily built on first query) before threads share it

        def run(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
            p, v = tree.query(points[lo:hi])
            p += lo
            hit = _by_view(shapely.intersects_xy, views, v, xy[p, 0], xy[p, 1])
            return p[hit], v[hit]

        parts = _chunked(run, len(points), thread_count(workers), min_chunk=5_000)
        pi, vi = (np.concatenate([part[k] for part in parts]) for k in range(2))
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
    views, threshold: float = DUPLICATE_OVERLAP, tree: shapely.STRtree | None = None,
    known: np.ndarray | None = None,
) -> list[Duplicate]:
    """Cameras whose view lies ≥ threshold inside another single camera's view.

    Of two cameras that duplicate each other only one is reported (the more contained one, ties →
    the later one), so moving every reported camera never leaves a spot unwatched.

    ``known`` (default: all) marks the views that are what the camera sees. Only such cameras are
    compared: a fixed camera mapped without a heading is drawn as the whole disc it might look into, so
    two of them on one pole (usually aimed apart; most OSM and many GB/T 28181 catalogues carry no
    heading) would always look like duplicates of each other.
    """
    views = np.asarray(views, dtype=object)
    tree = tree or shapely.STRtree(views)
    i, j = tree.query(views, predicate="intersects")
    ne = i != j
    if known is not None:
        ne &= known[i] & known[j]
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
