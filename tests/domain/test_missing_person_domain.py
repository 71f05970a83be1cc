"""Missing person search, the pure part: reach, node distances through either end of the start edge,
arrival at a stretch of an edge, the reached part of an edge, and the cameras' order and windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain import missing_person as mp
from app.domain.errors import InvalidInput

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def test_reach_is_speed_times_elapsed_bounded():
    assert mp.reach_m(T0, T0 + timedelta(minutes=10)) == pytest.approx(840.0)
    assert mp.reach_m(T0, T0 + timedelta(hours=5)) == mp.MAX_RADIUS_M
    assert mp.reach_m(T0, T0 + timedelta(minutes=10), 1.0, 300) == 300
    for args in ((T0, T0), (T0, T0 - timedelta(1)), (T0, T0 + timedelta(days=4)),
                 (T0, T0 + timedelta(1), 0.0), (T0, T0 + timedelta(1), 1.4, 0), (T0, T0 + timedelta(1), 1.4, 9e9)):
        with pytest.raises(InvalidInput):
            mp.reach_m(*args)


def test_node_costs_through_the_nearer_end():
    start = mp.Start(edge_id=7, fraction=0.25, offset_m=10.0)  # 100 m edge: 25 m to source, 75 m to target
    costs = mp.node_costs(start, 100.0, {1: 0.0, 3: 200.0}, {2: 0.0, 3: 50.0}, source=1, target=2)
    assert costs == {1: 35.0, 2: 85.0, 3: 135.0}  # node 3: via target (85 + 50) beats via source (35 + 200)


def test_edge_arrival_from_either_end_or_along_the_start_edge():
    assert mp.edge_arrival_m(100.0, 400.0, 200.0, 0.5, 0.75) == 200.0  # 100 + 0.5 × 200
    assert mp.edge_arrival_m(None, 10.0, 200.0, 0.5, 0.75) == 60.0  # 10 + 0.25 × 200
    assert mp.edge_arrival_m(None, None, 200.0, 0.0, 1.0) is None
    s = mp.Start(1, 0.6, 5.0)
    assert mp.edge_arrival_m(500.0, 500.0, 200.0, 0.5, 0.75, s) == 5.0  # the view covers the start
    assert mp.edge_arrival_m(500.0, 500.0, 200.0, 0.8, 0.9, s) == pytest.approx(45.0)


def test_reachable_part_of_an_edge():
    assert mp.reachable_part(0.0, None, 100.0, 40.0) == [(0.0, 0.4)]
    assert mp.reachable_part(0.0, 20.0, 100.0, 60.0) == [(0.0, 1.0)]  # both ends' stretches meet
    assert mp.reachable_part(None, None, 100.0, 20.0, mp.Start(1, 0.5, 10.0)) == [(0.4, 0.6)]
    assert mp.reachable_part(90.0, 95.0, 100.0, 50.0) == []


def test_sightings_earliest_first_with_their_windows():
    until = T0 + timedelta(minutes=20)
    out = mp.sightings({3: 280.0, 1: 140.0, 2: 5000.0, 4: 140.0}, T0, until, 1.4, 1680.0)
    assert [s.camera_id for s in out] == [1, 4, 3]  # 2 is beyond reach
    assert out[0].earliest == T0 + timedelta(seconds=100) and out[2].earliest == T0 + timedelta(seconds=200)
    assert all(s.end == until for s in out)
