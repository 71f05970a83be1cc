"""Coverage analysis on hand-built cases with known answers (metric coordinates)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import coverage, occlusion, placement
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


def test_duplicates_only_among_views_that_are_known():
    # Two fixed cameras on one pole, mapped without a heading: each drawn as the disc it might look into.
    # They are not duplicates of each other (on a pole they usually look apart), nor is a PTZ beside them
    # a duplicate of their guessed discs; two PTZs with the same reach are.
    pole_a, pole_b = shapely.Point(0, 0).buffer(60), shapely.Point(0.5, 0).buffer(60)
    ptz_1, ptz_2 = shapely.Point(1, 0).buffer(60), shapely.Point(1.5, 0).buffer(60)
    views = [pole_a, pole_b, ptz_1, ptz_2]
    assert {x.camera for x in coverage.find_duplicates(views)} & {0, 1}  # without the rule: the pole too
    dups = coverage.find_duplicates(views, known=np.array([False, False, True, True]))
    assert [(x.camera, x.other) for x in dups] in ([(2, 3)], [(3, 2)])


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


def test_one_view_covering_the_area_whole_and_one_partial_view():
    """The classified cases: no view, a view covering the area whole, exactly one partial view."""
    areas = [shapely.box(0, 0, 10, 10), shapely.box(100, 0, 110, 10), shapely.box(200, 0, 210, 10)]
    views = [
        shapely.Point(5, 5).buffer(20),  # covers area 0 whole
        shapely.Polygon([(100, 0), (110, 0), (100, 10)]),  # half of area 1, on its diagonal
        shapely.box(5, 5, 6, 6),  # inside area 0 too, adds nothing
    ]
    cov = coverage.area_coverage(areas, views)
    assert list(cov.covered_m2) == pytest.approx([100, 50, 0])
    assert cov.uncovered[0] is None
    assert shapely.equals(cov.uncovered[1], shapely.Polygon([(110, 0), (110, 10), (100, 10)]))
    assert shapely.equals(cov.uncovered[2], areas[2])
    assert [sorted(c) for c in cov.cameras] == [[0, 2], [1], []]


def test_views_touching_an_area_only_on_its_boundary():
    area = shapely.box(0, 0, 10, 10)
    views = [shapely.box(10, 0, 20, 10), shapely.box(-5, -5, 0, 0), shapely.box(2, 2, 4, 4)]
    cov = coverage.area_coverage([area], views)
    assert cov.covered_m2[0] == pytest.approx(4)
    assert sorted(cov.cameras[0]) == [0, 1, 2]  # touching counts as touching, as the predicate says


def test_workers_do_not_change_the_answer():
    rng = np.random.default_rng(5)
    lo = rng.uniform(0, 2000, (2, 1500))
    areas = shapely.box(lo[0], lo[1], lo[0] + 60, lo[1] + 40)
    views = shapely.buffer(shapely.points(rng.uniform(0, 2000, (6000, 2))), 30, quad_segs=4)
    one = coverage.area_coverage(areas, views, workers=1)
    two = coverage.area_coverage(areas, views, workers=2)
    assert np.array_equal(one.covered_m2, two.covered_m2)
    assert np.array_equal(shapely.is_geometry(one.uncovered), shapely.is_geometry(two.uncovered))
    has = shapely.is_geometry(one.uncovered)
    assert shapely.equals_exact(one.uncovered[has], two.uncovered[has], 0).all()
    assert all(np.array_equal(a, b) for a, b in zip(one.cameras, two.cameras, strict=True))
    nodes = shapely.points(rng.uniform(0, 2000, (30_000, 2)))
    assert np.array_equal(
        coverage.point_coverage(nodes, views, workers=1).count, coverage.point_coverage(nodes, views, workers=2).count
    )


# Random small cities: coordinates on a 0.5 m grid so shared edges, touching corners and collinear
# overlaps happen often; views are sectors, discs, boxes, triangles and occluded (non-convex, holed) views.
_coord = st.integers(0, 240).map(lambda k: k / 2)


@st.composite
def _polygon(draw, kind):
    x, y = draw(_coord), draw(_coord)
    if kind == "box":
        w, h = draw(st.integers(1, 120)) / 2, draw(st.integers(1, 120)) / 2
        return shapely.box(x, y, x + w, y + h)
    if kind == "disc":
        return shapely.Point(x, y).buffer(draw(st.integers(2, 80)) / 2, quad_segs=draw(st.integers(1, 8)))
    if kind == "sector":
        fov, reach = draw(st.sampled_from([30, 60, 90, 200])), draw(st.integers(5, 60))
        return shapely.Polygon(np.add(placement.sector_template(fov, reach, draw(st.integers(0, 359))), (x, y)))
    if kind == "triangle":
        pts = [(draw(_coord), draw(_coord)) for _ in range(3)]
        tri = shapely.Polygon(pts)
        return tri if tri.area > 0 else shapely.box(x, y, x + 1, y + 1)
    # occluded: a disc with a block cut out of it (notch or hole)
    disc = shapely.Point(x, y).buffer(draw(st.integers(10, 80)) / 2, quad_segs=4)
    bx, by = draw(_coord), draw(_coord)
    cut = disc.difference(shapely.box(bx, by, bx + draw(st.integers(1, 30)), by + draw(st.integers(1, 30))))
    return cut if not cut.is_empty else disc


_view = st.sampled_from(["box", "disc", "sector", "triangle", "occluded"]).flatmap(_polygon)
_area = st.sampled_from(["box", "box", "triangle", "disc"]).flatmap(_polygon)


@settings(max_examples=150, deadline=None)
@given(st.lists(_area, min_size=1, max_size=6), st.lists(_view, min_size=0, max_size=12), st.sampled_from([1, 2]))
def test_area_coverage_matches_plain_union_then_intersection(areas, views, workers):
    """The fast path (classification, peeling, predicates, threads) against a plain per-area union_all."""
    areas = np.array(areas, dtype=object)
    views = np.array(views, dtype=object)
    cov = coverage.area_coverage(areas, views, workers=workers)
    for k, area in enumerate(areas):
        touching = [j for j, v in enumerate(views) if shapely.intersects(area, v)]
        assert sorted(cov.cameras[k].tolist()) == touching
        seen = shapely.intersection(area, shapely.union_all(views[touching])) if touching else shapely.Polygon()
        assert cov.area_m2[k] == pytest.approx(area.area)
        assert cov.covered_m2[k] == pytest.approx(seen.area, abs=1e-6)
        left = shapely.difference(area, seen)
        if left.area < 1e-6:
            assert cov.uncovered[k] is None
        else:
            assert cov.uncovered[k].geom_type == "MultiPolygon" and cov.uncovered[k].is_valid
            assert shapely.symmetric_difference(cov.uncovered[k], left).area == pytest.approx(0, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_coord, _coord), min_size=1, max_size=30), st.lists(_view, min_size=0, max_size=12))
def test_point_coverage_matches_plain_predicate(points, views):
    nodes = shapely.points(np.array(points, dtype=float))
    views = np.array(views, dtype=object)
    pc = coverage.point_coverage(nodes, views, workers=2)
    for k, p in enumerate(nodes):
        seen = [j for j, v in enumerate(views) if shapely.intersects(v, p)]
        assert pc.count[k] == len(seen) and sorted(pc.cameras[k].tolist()) == seen
