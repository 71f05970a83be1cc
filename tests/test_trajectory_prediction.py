"""Track simplification, stops, summary and prediction (pure, synthetic tracks)."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import LineString

from app.domain.metric import LocalFrame
from app.domain.prediction import ConstantVelocityKalman, predict_along_road, predict_cv
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
    preds = predict_along_road(float(lon), float(lat), 10.0, road, (10, 60, 300))
    assert dist_m(preds[0].lon, preds[0].lat, *track_from_xy(300, 0)) < 1
    assert dist_m(preds[1].lon, preds[1].lat, *track_from_xy(500, 300)) < 1  # round the corner
    assert dist_m(preds[2].lon, preds[2].lat, *track_from_xy(500, 1000)) < 1  # held at the end
    assert preds[0].radius_m < preds[1].radius_m < preds[2].radius_m
