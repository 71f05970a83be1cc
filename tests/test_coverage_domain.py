"""Coverage analysis on hand-built cases with known answers (metric coordinates)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from app.domain import coverage, occlusion
from app.domain.geom_ops import group_union


def test_square_half_covered():
    area = shapely.box(0, 0, 100, 100)
    view = shapely.box(-50, -50, 50, 150)  # covers exactly the western half
    cov = coverage.area_coverage([area], [view])
    assert cov.area_m2[0] == pytest.approx(10_000)
    assert cov.covered_m2[0] == pytest.approx(5_000)
    assert cov.fraction[0] == pytest.approx(0.5)
    assert shapely.equals(cov.uncovered[0].normalize(), shapely.box(50, 0, 100, 100).normalize())
    assert list(cov.cameras[0]) == [0]


def test_overlapping_views_counted_once_and_uncovered_area():
    areas = [shapely.box(0, 0, 100, 100), shapely.box(500, 500, 510, 510)]
    views = [shapely.box(0, 0, 60, 100), shapely.box(40, 0, 80, 100), shapely.box(1000, 0, 1001, 1)]
    cov = coverage.area_coverage(areas, views)
    assert cov.fraction[0] == pytest.approx(0.8)
    assert cov.fraction[1] == 0.0
    assert cov.uncovered[1].area == pytest.approx(100)
    full = coverage.area_coverage([shapely.box(0, 0, 10, 10)], [shapely.box(-1, -1, 11, 11)])
    assert full.fraction[0] == pytest.approx(1.0) and full.uncovered[0] is None


def test_intersections_covered_or_blind():
    nodes = shapely.points([(0, 0), (50, 0), (200, 200)])
    views = [shapely.Point(0, 0).buffer(30), shapely.Point(10, 0).buffer(30)]
    pc = coverage.point_coverage(nodes, views)
    assert list(pc.count) == [2, 0, 0]
    assert list(pc.covered) == [True, False, False]
    assert sorted(pc.cameras[0]) == [0, 1]


def test_main_road_blind_stretches():
    road = shapely.LineString([(0, 0), (300, 0)])
    views = [shapely.box(0, -10, 100, 10), shapely.box(95, -10, 200, 10), shapely.box(203, -10, 300, 10)]
    lc = coverage.line_coverage([road], views, min_gap_m=10)
    assert lc.length_m[0] == pytest.approx(300)
    assert lc.blind_m[0] == 0  # the 3 m hole is below the threshold
    lc = coverage.line_coverage([road], views[:2], min_gap_m=10)
    assert lc.blind_m[0] == pytest.approx(100)
    assert shapely.equals(lc.blind[0], shapely.LineString([(200, 0), (300, 0)]))


def test_duplicates_one_of_a_pair_and_chains():
    a = shapely.Point(0, 0).buffer(50)
    b = shapely.Point(2, 0).buffer(50)  # almost the same view as a
    c = shapely.Point(0, 0).buffer(20)  # wholly inside a
    d = shapely.Point(500, 0).buffer(50)
    dups = coverage.find_duplicates([a, b, c, d])
    flagged = {x.camera for x in dups}
    assert 3 not in flagged
    assert 2 in flagged  # c is wholly inside a (and b)
    assert not {0, 1} <= flagged  # never both of a mutual pair
    by = {x.camera: x for x in dups}
    assert by[2].overlap == pytest.approx(1.0)


def test_group_union_matches_union_all():
    rng = np.random.default_rng(1)
    polys = shapely.buffer(shapely.points(rng.uniform(0, 100, (60, 2))), 8)
    groups = rng.integers(0, 5, 60)
    out = group_union(polys, groups, 6)
    for g in range(5):
        assert out[g].area == pytest.approx(shapely.union_all(polys[groups == g]).area)
    assert out[5] is None


def test_building_blocks_what_is_behind():
    cam = shapely.Point(0, 0)
    view = cam.buffer(100, quad_segs=64)
    wall = shapely.box(20, -10, 30, 10)  # a block east of the camera
    seen = occlusion.occlude(np.array([cam]), np.array([view]), np.array([100.0]), np.array([wall]))[0]
    assert not seen.contains(shapely.Point(60, 0))  # behind the block
    assert not seen.contains(shapely.Point(25, 0))  # inside it
    assert seen.contains(shapely.Point(10, 0)) and seen.contains(shapely.Point(-60, 0))
    assert seen.contains(shapely.Point(60, 40))  # beside the shadow cone (tan⁻¹ 10/20 ≈ 26.6°)
    # The shadow is the cone between the rays through the block's near corners, beyond it.
    cone = shapely.Polygon([(20, -10), (20, 10), (100, 50), (100, -50)]).intersection(view)
    hidden = view.area - seen.area
    assert hidden == pytest.approx(cone.area + 0, rel=0.02)


def test_camera_mounted_on_building_is_not_blinded_by_it():
    cam = shapely.Point(0, 0)
    view = shapely.Polygon([(0, 0), (-50, 100), (50, 100)])
    host = shapely.box(-20, -20, 20, 0)  # the camera sits on its northern wall
    seen = occlusion.occlude(np.array([cam]), np.array([view]), np.array([112.0]), np.array([host]))[0]
    assert seen.area == pytest.approx(view.area)


def test_occluded_coverage_of_a_key_area():
    area = shapely.box(40, -20, 80, 20)
    cam = shapely.Point(0, 0)
    view = cam.buffer(100, quad_segs=64)
    wall = shapely.LineString([(30, -30), (30, 30)]).buffer(0.5)  # a wall between camera and area
    seen = occlusion.occlude(np.array([cam]), np.array([view]), np.array([100.0]), np.array([wall]))
    assert coverage.area_coverage([area], [view]).fraction[0] == pytest.approx(1.0)
    assert coverage.area_coverage([area], seen).fraction[0] == pytest.approx(0.0, abs=1e-6)


def test_area_coverage_matches_union_of_views():
    """Peeling (sequential differences) gives the same covered area and uncovered polygon as a union."""
    rng = np.random.default_rng(3)
    lo = rng.uniform(0, 200, (2, 30))
    hi = lo + rng.uniform(20, 80, (2, 30))
    areas = shapely.box(lo[0], lo[1], hi[0], hi[1])
    views = shapely.buffer(shapely.points(rng.uniform(0, 280, (80, 2))), rng.uniform(5, 40, 80), quad_segs=6)
    views[:5] = areas[:5]  # a view identical to its area
    cov = coverage.area_coverage(areas, views)
    for k, area in enumerate(areas):
        seen = shapely.intersection(area, shapely.union_all(views))
        assert cov.covered_m2[k] == pytest.approx(seen.area, abs=1e-6)
        left = shapely.difference(area, seen)
        if left.area < 1e-6:
            assert cov.uncovered[k] is None
        else:
            assert shapely.symmetric_difference(cov.uncovered[k], left).area == pytest.approx(0, abs=1e-6)
