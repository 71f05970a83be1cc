"""Evaluate position prediction (+30/+60/+120 s) on a real bus trajectory.

Usage: python bench/eval_prediction.py [path/to/liverpool_bus_route14.csv]

Data: 1,533 fixes (~20 s apart) of the buses of Liverpool route 14 on one afternoon, 16 trips, all
outbound along the same route. Each fix of each trip is taken in turn as "now"; a prediction may only
use what was known at that moment, and is scored against the trip's real position at now + h (linear
interpolation between the two fixes around it, skipped when they are more than 120 s apart).

Methods, all on the same samples:
- last position: the target stays where it was seen (the baseline every method must beat);
- Kalman CV: ``prediction.predict_cv`` over this trip's fixes of the last 10 minutes, with the default
  random acceleration σa = 0.1 m/s² and, to show the sensitivity, 0.7 and 0.03 m/s²;
- road: ``prediction.predict_along_road`` along a road polyline ahead of the bus.

Where the road comes from, honestly: we have no OpenStreetMap extract of Liverpool here, and using
the bus's own future fixes as its "road" would leak the answer. Instead the road ahead is *learned
from earlier traversals*: among all other trips' fixes recorded **before now** (other buses of the
route, or this vehicle's earlier trips), the trip that passed within 40 m of the bus, in the same
direction, and went furthest beyond that point gives the polyline ahead, cut at the match. This is what
a platform would have from its own position history of a fixed route; it stands in for the
map-matched edge sequence the product gets from the road graph. When no earlier trip has covered the
bus's position yet (the first buses of the afternoon), the road method falls back to Kalman CV, and
the coverage is printed. The speed along the road is either the Kalman speed estimate or the bus's
mean speed over the last 3 minutes (which includes dwell time at stops); both are printed.
The "in 95 % radius" column is the share of truths inside each method's predicted radius.
"""

from __future__ import annotations

import csv
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np
from shapely.geometry import LineString

from app.domain.metric import LocalFrame
from app.domain.prediction import HORIZONS_S, Prediction, predict_along_road, predict_cv, run_filter

RELATIVE = Path("shared/data/trajectories/liverpool_bus_route14.csv")
# ../shared next to the repository (or next to a worktree's parent directory).
DEFAULT = next((p / RELATIVE for p in Path(__file__).resolve().parents if (p / RELATIVE).exists()), RELATIVE)
HISTORY_S = 600.0
MATCH_M = 40.0
MAX_GAP_S = 120.0
SPEED_WINDOW_S = 180.0


def load(path: Path):
    trips: dict[tuple[str, str], list[tuple[float, float, float]]] = defaultdict(list)
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            t = datetime.fromisoformat(row["timestamp"]).timestamp()
            trips[(row["vehicle_id"], row["trip_id"])].append(
                (t, float(row["longitude"]), float(row["latitude"]))
            )
    out = {}
    for key, rows in trips.items():
        rows.sort()
        arr = np.array(rows)
        keep = np.concatenate([[True], np.diff(arr[:, 0]) > 0])  # repeated timestamps add nothing
        out[key] = arr[keep]
    return out


def truth_at(trip: np.ndarray, t: float):
    times = trip[:, 0]
    j = int(np.searchsorted(times, t))
    if j == 0 or j >= len(times) or times[j] - times[j - 1] > MAX_GAP_S:
        return None
    w = (t - times[j - 1]) / (times[j] - times[j - 1])
    return trip[j - 1, 3:5] * (1 - w) + trip[j, 3:5] * w  # metric x, y


def learned_road(trips, key, now: float, x: float, y: float, heading: np.ndarray | None, frame: LocalFrame):
    """The polyline ahead of (x, y) from the earlier trip that covered it furthest, or None."""
    best, best_len = None, 0.0
    for other, trip in trips.items():
        if other == key:
            continue
        past = trip[trip[:, 0] < now]
        if len(past) < 3:
            continue
        d = np.hypot(past[:, 3] - x, past[:, 4] - y)
        j = int(d.argmin())
        if d[j] > MATCH_M or j >= len(past) - 1:
            continue
        if heading is not None:
            seg = past[min(j + 1, len(past) - 1), 3:5] - past[j, 3:5]
            if np.linalg.norm(seg) > 1 and float(seg @ heading) < 0:
                continue  # going the other way
        ahead = past[j:, 3:5]
        length = float(np.hypot(*np.diff(ahead, axis=0).T).sum())
        if length > best_len:
            best, best_len = ahead, length
    if best is None:
        return None
    lon, lat = frame.to_lonlat(best[:, 0], best[:, 1])
    return LineString(np.column_stack([lon, lat]))


def main(path: Path) -> None:
    started = time.perf_counter()
    trips = load(path)
    allpts = np.concatenate(list(trips.values()))
    frame = LocalFrame.around(allpts[:, 1], allpts[:, 2])
    for key, trip in trips.items():
        x, y = frame.to_xy(trip[:, 1], trip[:, 2])
        trips[key] = np.column_stack([trip, x, y])  # t, lon, lat, x, y

    methods = [
        "last position",
        "Kalman CV",
        "Kalman CV, σa=0.7 m/s²",
        "Kalman CV, σa=0.03 m/s²",
        "road + Kalman speed",
        "road + 3-min mean speed",
    ]
    errors = {m: {h: [] for h in HORIZONS_S} for m in methods}
    inside = {m: {h: [] for h in HORIZONS_S} for m in methods}
    road_errors_covered = {m: {h: [] for h in HORIZONS_S} for m in methods[4:]}
    samples = covered = 0

    for key, trip in trips.items():
        for i in range(2, len(trip)):
            now = trip[i, 0]
            truths = {h: truth_at(trip, now + h) for h in HORIZONS_S}
            if all(v is None for v in truths.values()):
                continue
            hist = trip[(trip[:, 0] > now - HISTORY_S) & (trip[:, 0] <= now)]
            samples += 1
            t, lon, lat, x, y = hist.T
            kf = run_filter(t, lon, lat, frame)
            cv = predict_cv(t, lon, lat)
            heading = hist[-1, 3:5] - hist[-2, 3:5] if len(hist) >= 2 else None
            window = hist[hist[:, 0] >= now - SPEED_WINDOW_S]
            mean_speed = (
                (
                    float(np.hypot(*np.diff(window[:, 3:5], axis=0).T).sum())
                    / max(window[-1, 0] - window[0, 0], 1.0)
                )
                if len(window) >= 2
                else kf.speed_ms
            )
            road = learned_road(trips, key, now, x[-1], y[-1], heading, frame)
            preds: dict[str, list[Prediction]] = {
                "last position": [Prediction(h, lon[-1], lat[-1], 0.0) for h in HORIZONS_S],
                "Kalman CV": cv,
                "Kalman CV, σa=0.7 m/s²": predict_cv(t, lon, lat, accel_sigma=0.7),
                "Kalman CV, σa=0.03 m/s²": predict_cv(t, lon, lat, accel_sigma=0.03),
            }
            if road is not None:
                covered += 1
                preds["road + Kalman speed"] = predict_along_road(lon[-1], lat[-1], kf.speed_ms, road)
                preds["road + 3-min mean speed"] = predict_along_road(lon[-1], lat[-1], mean_speed, road)
            else:
                preds["road + Kalman speed"] = preds["road + 3-min mean speed"] = cv
            for m in methods:
                for p in preds[m]:
                    truth = truths[p.horizon_s]
                    if truth is None:
                        continue
                    px, py = frame.to_xy(p.lon, p.lat)
                    err = float(np.hypot(px - truth[0], py - truth[1]))
                    errors[m][p.horizon_s].append(err)
                    inside[m][p.horizon_s].append(err <= p.radius_m)
                    if road is not None and m in road_errors_covered:
                        road_errors_covered[m][p.horizon_s].append(err)
                        if m == "road + Kalman speed":
                            for other in methods[:4]:
                                q = next(q for q in preds[other] if q.horizon_s == p.horizon_s)
                                qx, qy = frame.to_xy(q.lon, q.lat)
                                road_errors_covered.setdefault(other, {h: [] for h in HORIZONS_S})[
                                    p.horizon_s
                                ].append(float(np.hypot(qx - truth[0], qy - truth[1])))

    print(f"data: {path.name}: {len(allpts)} fixes, {len(trips)} trips; {samples} prediction instants")
    print(
        f"learned road ahead available at {covered} of {samples} instants ({covered / samples:.0%}); "
        "elsewhere the road method falls back to Kalman CV\n"
    )
    head = "".join(f"{f'+{int(h)} s':>10}" for h in HORIZONS_S)
    print(f"median error (m), all instants      {head}   | in 95 % radius")
    for m in methods:
        med = "".join(f"{np.median(errors[m][h]):10.0f}" for h in HORIZONS_S)
        cov = " ".join(f"{np.mean(inside[m][h]):.0%}" for h in HORIZONS_S) if m != "last position" else "-"
        print(f"  {m:<34}{med}   | {cov}")
    print(f"\nmedian error (m), instants with a learned road {head}")
    for m in methods:
        med = "".join(f"{np.median(road_errors_covered[m][h]):10.0f}" for h in HORIZONS_S)
        print(f"  {m:<34}{med}")
    n = {h: len(errors["Kalman CV"][h]) for h in HORIZONS_S}
    print(f"\nscored samples per horizon: {n}; run time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
