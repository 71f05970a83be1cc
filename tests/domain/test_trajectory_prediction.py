"""Track simplification, stops, summary and prediction (pure, synthetic tracks)."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import LineString

from app.domain.metric import LocalFrame
from app.domain.prediction import (
    LAST_STEP_TAU_S,
    LAST_STEP_WEIGHT,
    ConstantVelocityKalman,
    estimate_motion,
    predict_along_road,
    predict_cv,
    predict_motion,
    travel_m,
)
from app.domain.trajectory import segments, simplify_indices, summarize, tolerance_m

FRAME = LocalFrame(116.39, 39.9)
RNG = np.random.default_rng(4)


def track_from_xy(xs, ys):
    lon, lat = FRAME.to_lonlat(np.asarray(xs, float), np.asarray(ys, float))
    return lon, lat


def dist_m(lon1, lat1, lon2, lat2):
    x1, y1 = FRAME.to_xy(lon1, lat1)
    x2, y2 = FRAME.to_xy(lon2, lat2)
    return float(np.hypot(x1 - x2, y1 - y2))


def test_tolerance_per_zoom():
    assert tolerance_m(0, 0) == pytest.approx(156543.03, rel=1e-6)
    assert tolerance_m(16, 60) == pytest.approx(156543.03 / 2**16 / 2, rel=1e-6)


def test_simplify_keeps_ends_and_more_detail_when_zoomed_in():
    t = np.arange(200)
    xs, ys = t * 10.0, 30 * np.sin(t / 15) + RNG.normal(0, 0.5, t.size)
    lon, lat = track_from_xy(xs, ys)
    coarse, fine = simplify_indices(lon, lat, 10), simplify_indices(lon, lat, 19)
    assert coarse[0] == 0 and coarse[-1] == 199 and np.all(np.diff(coarse) > 0)
    assert len(coarse) <= 3 < len(simplify_indices(lon, lat, 15)) < len(fine)
    assert list(simplify_indices(lon[:2], lat[:2], 5)) == [0, 1]


def stop_and_go():
    t1 = np.arange(0, 300, 10.0)  # 10 m/s east for 300 s
    t2 = np.arange(300, 600, 10.0)  # parked, GPS jitter 5 m
    t3 = np.arange(600, 900, 10.0)  # 10 m/s north
    xs = np.concatenate(
        [t1 * 10, np.full(t2.size, 3000.0) + RNG.normal(0, 5, t2.size), np.full(t3.size, 3000.0)]
    )
    ys = np.concatenate([np.zeros(t1.size), RNG.normal(0, 5, t2.size), (t3 - 590) * 10])
    return np.concatenate([t1, t2, t3]), *track_from_xy(xs, ys)


def test_stops_and_moves():
    t, lon, lat = stop_and_go()
    segs = segments(t, lon, lat, stop_radius_m=50, min_stop_s=120)
    assert [s.kind for s in segs] == ["move", "stop", "move"]
    stop = segs[1]
    assert 280 <= stop.duration_s <= 320 and dist_m(stop.lon, stop.lat, *track_from_xy(3000, 0)) < 10
    assert segs[0].end == stop.start and segs[2].start == stop.end
    assert segments([], [], []) == [] and segments([0.0], [1.0], [1.0])[0].kind == "move"


def test_summary():
    t, lon, lat = stop_and_go()
    s = summarize(t, lon, lat)
    assert s.points == t.size and s.stops == 1 and s.duration_s == 890
    assert 5900 < s.distance_m < 6400 and 280 <= s.stopped_s <= 320
    assert s.avg_moving_speed_kmh == pytest.approx(36, rel=0.1)
    assert summarize(t, lon, lat, speeds_kmh=[None] * (t.size - 1) + [50.0]).max_speed_kmh == 50
    assert summarize([], [], []).points == 0


def test_kalman_constant_velocity():
    t = np.arange(0, 120, 5.0)
    xs, ys = 8.0 * t + RNG.normal(0, 5, t.size), 6.0 * t + RNG.normal(0, 5, t.size)
    lon, lat = track_from_xy(xs, ys)
    preds = predict_cv(t, lon, lat)
    for p in preds:
        truth = track_from_xy(8.0 * (t[-1] + p.horizon_s), 6.0 * (t[-1] + p.horizon_s))
        err = dist_m(p.lon, p.lat, *truth)
        assert err < p.radius_m and err < 0.15 * 10 * p.horizon_s
    assert preds[0].radius_m < preds[1].radius_m < preds[2].radius_m
    kf = ConstantVelocityKalman()
    with pytest.raises(ValueError):
        kf.predict(1)
    with pytest.raises(ValueError):
        predict_cv([], [], [])


def test_road_continuation_follows_the_bend_and_stops_at_the_end():
    road = LineString(np.column_stack(track_from_xy([0, 500, 500], [0, 0, 1000])))
    lon, lat = track_from_xy(200, 8)  # 8 m off the road, 200 m along
    preds = predict_along_road(float(lon), float(lat), 10.0, road, (10, 60, 300), damping_s=None)
    assert dist_m(preds[0].lon, preds[0].lat, *track_from_xy(300, 0)) < 1
    assert dist_m(preds[1].lon, preds[1].lat, *track_from_xy(500, 300)) < 1  # round the corner
    assert dist_m(preds[2].lon, preds[2].lat, *track_from_xy(500, 1000)) < 1  # held at the end
    assert preds[0].radius_m < preds[1].radius_m < preds[2].radius_m


def test_motion_heading_from_the_track_and_an_agreeing_course():
    t = np.arange(0, 100, 10.0)
    xs, ys = 10.0 * t, np.zeros(t.size)  # east at 10 m/s
    m = estimate_motion(t, xs, ys)
    assert m.heading_deg == pytest.approx(90) and m.speed_ms == pytest.approx(10)
    assert estimate_motion(t, xs, ys, course_deg=110).heading_deg == pytest.approx(110)  # within 45°: device
    assert estimate_motion(t, xs, ys, course_deg=200).heading_deg == pytest.approx(90)  # stale course: track
    assert estimate_motion(t, xs, ys, speed_ms=4.0).speed_ms == 4.0  # the device's speed when it has one
    lone = estimate_motion([0.0], [0.0], [0.0], speed_ms=5.0, course_deg=0.0)
    assert lone.heading_deg == pytest.approx(0) and lone.speed_ms == 5.0
    still = estimate_motion([0.0], [0.0], [0.0])
    assert still.heading_deg is None and still.speed_ms == 0.0


def test_motion_stop_and_go_uses_the_speed_over_five_minutes():
    # 150 s at 10 m/s, then 150 s standing at a stop, then 20 s moving again: the last step says 10 m/s,
    # the last 5 minutes say ~5 m/s, which is what such a vehicle makes on average.
    t = np.concatenate([np.arange(0, 150, 10.0), np.arange(150, 300, 10.0), [310.0, 320.0]])
    xs = np.concatenate([10 * np.arange(0, 150, 10.0), np.full(15, 1500.0), [1600.0, 1700.0]])
    m = estimate_motion(t, xs, np.zeros(t.size))
    assert 4.5 < m.speed_ms < 6.5 and m.heading_deg == pytest.approx(90)


def test_free_prediction_is_damped_and_its_radius_grows():
    t = np.arange(0, 120, 20.0)  # fixes 20 s apart at 10 m/s: no blend with the last step (LAST_STEP_MAX_S)
    lon, lat = track_from_xy(8.0 * t, 6.0 * t)  # 10 m/s, bearing ~53°
    preds = predict_motion(t, lon, lat)
    for p in preds:
        d = dist_m(p.lon, p.lat, lon[-1], lat[-1])
        assert d == pytest.approx(travel_m(10.0, p.horizon_s), rel=1e-3) and d < 10.0 * p.horizon_s
    assert preds[0].radius_m < preds[1].radius_m < preds[2].radius_m
    later = predict_motion(t, lon, lat, (30.0,), now=float(t[-1]) + 30)[0]  # 30 s since the last fix
    assert dist_m(later.lon, later.lat, lon[-1], lat[-1]) == pytest.approx(travel_m(10.0, 60.0), rel=1e-3)
    with pytest.raises(ValueError):
        predict_motion([], [], [])


def test_a_densely_sampled_target_starts_at_its_recent_pace():
    # A walker at 1 m/s for 270 s who starts running at 3 m/s, one fix a second: the next half minute
    # follows the running pace (not the 5-min mean of 1.2 m/s), two minutes relax towards the mean.
    t = np.arange(0, 301, 1.0)
    xs = np.where(t <= 270, t, 270 + 3 * (t - 270))
    lon, lat = track_from_xy(xs, np.zeros(t.size))
    p30, p60, p120 = (dist_m(p.lon, p.lat, lon[-1], lat[-1]) for p in predict_motion(t, lon, lat))
    mean = estimate_motion(t, xs, np.zeros(t.size)).speed_ms
    assert 1.1 < mean < 1.3
    assert p30 > 30 * mean + 30 and p60 - p30 > 30 * mean and p120 < 3 * 120
    # The same walk every 20 s is too sparse for a recent pace, but its last 20 s step at 3 m/s is on-foot
    # pace: blended with the 5-min speed as for a watch's 1 s step (ON_FOOT_MAX_MS).
    sparse = t[::20]
    slon, slat = track_from_xy(xs[::20], np.zeros(sparse.size))
    s30 = predict_motion(sparse, slon, slat, (30.0,))[0]
    m = estimate_motion(sparse, xs[::20], np.zeros(sparse.size))
    assert m.recent_ms is None and m.last_v == pytest.approx((3.0, 0.0))
    w = LAST_STEP_WEIGHT * np.exp(-30.0 / LAST_STEP_TAU_S)
    blended = (1 - w) * travel_m(m.speed_ms, 30.0) + w * 3.0 * 30.0
    assert dist_m(s30.lon, s30.lat, slon[-1], slat[-1]) == pytest.approx(blended, rel=1e-3)


def test_a_sparse_step_joins_the_blend_only_at_on_foot_pace():
    # One fix every 20 s: a walker's step (1.5 m/s) is blended, a bus's (8 m/s) is not (stop-and-go), and
    # no step over ON_FOOT_STEP_MAX_S is (AIS at 60 s and more).
    for step_s, speed, blended in ((20.0, 1.5, True), (20.0, 8.0, False), (60.0, 1.5, False), (10.0, 8.0, True)):
        t = np.arange(0, 200, step_s)
        m = estimate_motion(t, speed * t, np.zeros(t.size))
        assert (m.last_v is not None) == blended, (step_s, speed)
