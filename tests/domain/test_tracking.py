"""Event detection over synthetic timelines (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shapely.geometry import Point, box

from app.domain.tracking import (
    AreaIndex,
    EventKind,
    Observation,
    Rules,
    TargetState,
    on_fix,
    on_tick,
)

T0 = datetime(2026, 1, 26, 8, 0, tzinfo=UTC)
KEY = ("jt808", "13900000001")
RULES = Rules(speed_limit_kmh=60, hysteresis_kmh=5, stale_after=timedelta(seconds=60))
INDEX = AreaIndex([(1, box(0, 0, 10, 10)), (2, box(5, 0, 15, 10)), (3, Point(100, 0).buffer(1))])


def run(timeline, state=None):
    """timeline: (seconds, lon, lat, speed, sos, valid); returns all event kinds with area ids."""
    state = state or TargetState(KEY)
    out = []
    for sec, lon, lat, speed, sos, valid in timeline:
        obs = Observation(T0 + timedelta(seconds=sec), lon, lat, speed, sos, valid)
        areas = INDEX.containing([lon], [lat])[0]
        state, events = on_fix(state, obs, areas, RULES)
        out += [(sec, e.kind.value, e.area_id) for e in events]
    return state, out


def test_area_enter_exit_is_set_difference_without_repeats():
    timeline = [
        (0, -5, 5, 10, False, True),
        (10, 2, 5, 10, False, True),
        (20, 3, 5, 10, False, True),
        (30, 7, 5, 10, False, True),
        (40, 12, 5, 10, False, True),
        (50, 20, 5, 10, False, True),
    ]
    state, events = run(timeline)
    assert events == [
        (10, "area_enter", 1),
        (30, "area_enter", 2),
        (40, "area_exit", 1),
        (50, "area_exit", 2),
    ]
    assert state.areas == frozenset()


def test_area_index_vectorised_and_boundary_counts_inside():
    assert INDEX.containing([10, 7, 50, 100.5], [5, 5, 5, 0]) == [
        frozenset({1, 2}),
        frozenset({1, 2}),
        frozenset(),
        frozenset({3}),
    ]
    assert AreaIndex([]).containing([1], [1]) == [frozenset()]


def test_overspeed_hysteresis():
    speeds = [50, 61, 70, 58, 56, 54, 59, 62, None, 50]
    _, events = run([(i * 10, -5, 5, s, False, True) for i, s in enumerate(speeds)])
    assert [(s, k) for s, k, _ in events] == [
        (10, "overspeed"),
        (50, "overspeed_end"),
        (70, "overspeed"),
        (90, "overspeed_end"),
    ]


def test_sos_rising_edge_and_without_fix_uses_last_position():
    _, events = run(
        [
            (0, 1, 1, 0, False, True),
            (10, 0, 0, 0, True, False),
            (20, 2, 2, 0, True, True),
            (30, 2, 2, 0, False, True),
            (40, 3, 3, 0, True, True),
        ]
    )
    assert [(s, k) for s, k, _ in events if k == "sos"] == [(10, "sos"), (40, "sos")]
    obs = Observation(T0 + timedelta(seconds=100), 0, 0, None, True, False)
    _, evs = on_fix(TargetState(KEY, last_lon=1.0, last_lat=1.0, last_fix_at=T0), obs, frozenset(), RULES)
    assert (evs[0].lon, evs[0].lat, evs[0].detail["located"]) == (1.0, 1.0, False)


def test_out_of_order_and_invalid_fixes_do_not_flip_areas():
    state, _ = run([(0, 2, 5, 10, False, True), (20, 2, 5, 10, False, True)])
    state, late = run([(5, -5, 5, 10, False, True), (25, -5, 5, 200, False, False)], state)
    assert late == [] and state.areas == frozenset({1}) and state.last_fix_at == T0 + timedelta(seconds=20)


def test_stale_once_then_resumed():
    state, _ = run([(0, 1, 1, 10, False, True)])
    state, ev = on_tick(state, T0 + timedelta(seconds=30), RULES)
    assert ev == []
    state, ev = on_tick(state, T0 + timedelta(seconds=61), RULES)
    assert [e.kind for e in ev] == [EventKind.STALE] and state.stale
    state, ev = on_tick(state, T0 + timedelta(seconds=200), RULES)
    assert ev == []
    state, events = run([(300, 1, 1, 10, False, True)], state)
    assert events[0][1] == "resumed" and not state.stale
    assert on_tick(TargetState(KEY), T0, RULES) == (TargetState(KEY), [])


def test_event_message_is_plain_json():
    _, ev = on_tick(
        TargetState(KEY, last_fix_at=T0, last_lon=1.0, last_lat=2.0), T0 + timedelta(hours=1), RULES
    )
    msg = ev[0].to_message()
    assert msg["kind"] == "stale" and msg["device_id"] == KEY[1] and msg["last_fix_at"] == T0.isoformat()
