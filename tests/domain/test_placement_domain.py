"""Placement: lazy greedy vs exact MILP on small instances with known optima."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from app.domain import kpi, placement


def instance(cover, weight, cost=None, site=None):
    ptr = np.r_[0, np.cumsum([len(c) for c in cover])]
    return placement.Instance(
        np.asarray(weight, float),
        ptr,
        np.concatenate(cover).astype(int),
        np.ones(len(cover)) if cost is None else np.asarray(cost, float),
        np.arange(len(cover)) if site is None else np.asarray(site),
    )


def test_greedy_trap_milp_finds_known_optimum():
    # Candidate 0 looks best alone (6.5) but candidates 1 + 2 together cover 10: the optimum for K = 2.
    inst = instance([[0, 1, 2, 3, 6], [0, 1, 4], [2, 3, 5]], [1, 1, 1, 1, 3, 3, 2.5])
    g = placement.lazy_greedy(inst, 2)
    m = placement.milp(inst, 2, warm=g)
    assert g.chosen[0] == 0 and g.value == pytest.approx(9.5)
    assert m.optimal and sorted(m.chosen) == [1, 2] and m.value == pytest.approx(10.0)
    assert placement.optimality_gap(g, m) == pytest.approx(0.05)


def test_budget_with_costs_and_one_heading_per_site():
    # Two headings at site 0 (cost 2), one cheap site 1; budget 3 allows site 0 once plus site 1.
    inst = instance([[0, 1], [2, 3], [4]], [5, 5, 4, 4, 3], cost=[2, 2, 1], site=[0, 0, 1])
    m = placement.milp(inst, 3)
    g = placement.lazy_greedy(inst, 3)
    assert m.value == pytest.approx(13) and m.cost <= 3
    assert len({inst.site[c] for c in m.chosen}) == len(m.chosen)
    assert g.value == pytest.approx(13)


def test_geometric_instance_greedy_matches_milp():
    # Three blind junctions on a line 100 m apart; discs of 60 m at the junctions: K = 2 covers two.
    pts = shapely.points([(0, 0), (100, 0), (200, 0)])
    views, site, _heading = placement.candidate_views(pts, 360, 60)
    inst = placement.build_instance(views, pts, [400, 400, 400], site=site)
    g = placement.lazy_greedy(inst, 2)
    m = placement.milp(inst, 2)
    assert g.value == m.value == 800


def test_candidates_and_area_samples():
    road = shapely.LineString([(0, 0), (100, 0)])
    _sites, kinds = placement.candidate_sites(
        shapely.points([(0, 0)]), [road], [shapely.box(0, 0, 20, 20)], 50
    )
    assert list(kinds).count("intersection") == 1 and list(kinds).count("road") == 2
    assert list(kinds).count("key_area_edge") == 1
    _pts, w = placement.sample_area(
        [shapely.box(0, 0, 100, 50), shapely.box(500, 500, 503, 503)], spacing_m=10
    )
    assert w.sum() == pytest.approx(5000 + 9)
    views, _site, heading = placement.candidate_views(shapely.points([(0, 0)]), 60, 50, 4)
    assert len(views) == 4 and list(heading) == [0, 90, 180, 270]
    assert views[0].contains(shapely.Point(0, 40)) and not views[0].contains(shapely.Point(0, -40))


def test_kpi_rollup_through_levels():
    own = {
        "110108001001": {**kpi.empty(), "cameras": 2, "networked": 1},
        "110108": {**kpi.empty(), "cameras": 2, "networked": 2},
    }
    codes = ["110000", "110100", "110108", "110108001", "110108001001"]
    out = kpi.rollup(own, codes, road_m={"110108001": 1000.0, "110100": 5000.0})
    assert out["110000"]["cameras"] == 4 and out["110108001"]["cameras"] == 2
    assert kpi.rates(out["110108"])["networked_rate"] == pytest.approx(0.75)
    assert out["110108"]["main_road_m"] == 1000.0 and out["110000"]["main_road_m"] == 5000.0
    assert kpi.rates(out["110108001"])["cameras_per_main_road_km"] == pytest.approx(2.0)


def test_milp_when_no_candidate_covers_anything():
    """Candidates whose views reach no element (a 1 m range): nothing to gain, no solver error (was a 500)."""
    inst = instance([[], []], [1.0, 2.0])
    m = placement.milp(inst, 2, time_limit_s=1e-9)
    assert m.optimal and m.chosen == [] and m.value == 0.0
