"""Evaluate position prediction (+30/+60/+120 s) on real trajectories, held out, against constant velocity.

Usage: PYTHONPATH=. python bench/eval_prediction.py [--split train|held-out|all]

Data (real, public):
- ``bus20``: Liverpool bus route 14 (UK Bus Open Data Service, OGL), 1,533 fixes ~20 s apart, 16 trips,
  with the GPS bearing (no speed): ``../shared/data/trajectories/liverpool_bus_route14.csv``;
- ``bus60``: the same trips thinned to every 3rd fix (~60 s), the sampling of cheap trackers;
- ``ais``: New York harbour AIS, 2020-06-30 00:00–01:00 (US MarineCadastre, public domain), as shipped
  in the ``tracktable-data`` wheel (BSD-2; test extra): 74 vessels that moved ≥ 500 m, fixes 60–180 s
  apart, with the reported speed and course over ground;
- ``bus20+road``: the ``bus20`` instants where a road ahead is known (see below).
- ``foot``: people on foot, vendored in ``tests/data/foot_tracks.csv`` (MIT / Apache-2.0, sources in
  ``tests/data/README.md``): a 39-min run in Los Angeles and a 2 h 12 min run in Kent at 1 s (GPS
  watches), a 3 h 43 min hike in Slovenia at ~11 s (median; 9–39 s); cut at gaps over 2 min and into
  pieces of at most 15 min, which are the trajectories of the split (so a held-out piece may come from
  the same outing as a training piece); "now" every 5 s or more, truth interpolated over ≤ 60 s;
- ``foot10``: the same thinned to one fix every ≥ 10 s, the sampling of a phone tracker saving battery.
No walking-only set at 1–5 s (the GeoLife samples are in no package we could reach: movingpandas,
traja, scikit-mobility, pymove, trackintel, ptrail download theirs at run time or ship none).

Split: by trajectory, ``crc32(id) % 3 == 0`` is held out (8 of 16 bus trips, 19 of 74 vessels); the
constants of ``app.domain.prediction`` were tuned on the other trajectories only. Each fix of a
trajectory is taken in turn as "now"; a method may only use the fixes of the last 10 minutes up to now,
and is scored against the real position at now + h (linear interpolation between the two fixes around
it, skipped when they are more than ``max_gap`` apart). All methods are scored on the same samples.

Methods:
- CV last fix: velocity of the last step, straight on (baseline);
- CV smoothed: velocity over the last 3 steps, straight on (baseline);
- Kalman CV (before): ``prediction.predict_cv``, the platform's predictor until issue #15;
- predictor: ``prediction.predict_motion`` (what the platform uses now), with what the devices report;
- predictor, positions only: the same without the device's speed and course;
- predictor + road (``bus20+road``): ``prediction.predict_along_road`` at the predictor's speed.

Where the road comes from: we have no OpenStreetMap extract of Liverpool here, and using the bus's own
future fixes as its road would leak the answer. The road ahead is *learned from earlier traversals*:
among the other trips' fixes recorded **before now**, the trip that passed within 40 m of the bus in the
same direction and went furthest beyond gives the polyline ahead. It stands in for the map-matched edge
sequence the product gets from the road graph.
"""

from __future__ import annotations

import argparse
import csv
import importlib.resources
import zlib
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from shapely.geometry import LineString

from app.domain.metric import LocalFrame
from app.domain.prediction import HORIZONS_S, estimate_motion, predict_along_road, predict_cv, predict_motion

FOOT_CSV = Path(__file__).resolve().parents[1] / "tests" / "data" / "foot_tracks.csv"
PIECE_S = 900.0
RELATIVE = Path("shared/data/trajectories/liverpool_bus_route14.csv")
# ../shared next to the repository (or next to a worktree's parent directory).
BUS_CSV = next((p / RELATIVE for p in Path(__file__).resolve().parents if (p / RELATIVE).exists()), RELATIVE)
HISTORY_S = 600.0
MATCH_M = 40.0
KNOT_MS = 0.514444

BASELINES = ("CV last fix", "CV smoothed")
PREDICTOR = "predictor"
ROAD = "predictor + road"
METHODS = (*BASELINES, "Kalman CV (before)", PREDICTOR, "predictor, positions only")


class Trips(dict):
    """trajectory id → array of rows (t, lon, lat, speed m/s, course °, x, y); NaN where not reported."""

    def __init__(self, rows: dict, min_path_m: float = 0.0) -> None:
        super().__init__()
        allp = np.concatenate([np.asarray(v, dtype=float) for v in rows.values()])
        self.frame = LocalFrame.around(allp[:, 1], allp[:, 2])
        for key, v in rows.items():
            a = np.asarray(sorted(v), dtype=float)
            a = a[np.concatenate([[True], np.diff(a[:, 0]) > 0])]  # repeated timestamps add nothing
            x, y = self.frame.to_xy(a[:, 1], a[:, 2])
            if len(a) >= 4 and np.hypot(np.diff(x), np.diff(y)).sum() >= min_path_m:
                self[key] = np.column_stack([a, x, y])


def _utc(s: str) -> float:
    return datetime.fromisoformat(s).replace(tzinfo=UTC).timestamp()


def load_bus(path: Path = BUS_CSV) -> Trips:
    rows = defaultdict(list)
    with path.open(newline="") as fh:
        for r in csv.DictReader(fh):
            course = float(r["bearing"]) if r["bearing"] else np.nan
            rows[f"{r['vehicle_id']}/{r['trip_id']}"].append(
                (_utc(r["timestamp"]), float(r["longitude"]), float(r["latitude"]), np.nan, course)
            )
    return Trips(rows)


def load_ais() -> Trips:
    path = importlib.resources.files("tracktable_data") / "python_example_data/NYHarbor_2020_06_30_first_hour.csv"
    rows = defaultdict(list)
    with path.open(newline="") as fh:
        for r in csv.DictReader(fh):
            cog = float(r["COG"]) if r["COG"] else np.nan
            course = cog % 360.0 if -180.0 <= cog < 360.0 else np.nan  # 360 = "not available"
            speed = float(r["SOG"]) * KNOT_MS if r["SOG"] and float(r["SOG"]) < 102.3 else np.nan
            rows[r["MMSI"]].append((_utc(r["BaseDateTime"]), float(r["LON"]), float(r["LAT"]), speed, course))
    return Trips(rows, min_path_m=500.0)


def load_foot(min_step_s: float = 0.0) -> Trips:
    """Each outing cut at gaps over 2 min and into ≤ 15-min pieces; fixes ≥ ``min_step_s`` apart."""
    outings = defaultdict(list)
    with FOOT_CSV.open(newline="") as fh:
        for r in csv.DictReader(fh):
            outings[r["track"]].append((_utc(r["timestamp"]), float(r["longitude"]), float(r["latitude"])))
    rows = defaultdict(list)
    for name, fixes in outings.items():
        piece, start, last_t = 0, None, None
        for t, lon, lat in sorted(fixes):
            if last_t is not None and (t - last_t > 120.0 or t - start >= PIECE_S):
                piece, start = piece + 1, None
            elif last_t is not None and t - last_t < min_step_s:
                continue
            start = t if start is None else start
            last_t = t
            rows[f"{name}#{piece:02d}"].append((t, lon, lat, np.nan, np.nan))
    return Trips(rows, min_path_m=100.0)


def thin(trips: Trips, every: int) -> Trips:
    out = Trips.__new__(Trips)
    dict.__init__(out, {k: v[::every] for k, v in trips.items() if len(v[::every]) >= 4})
    out.frame = trips.frame
    return out


def held_out(key: str) -> bool:
    return zlib.crc32(key.encode()) % 3 == 0


def datasets() -> dict[str, tuple[Trips, float, float]]:
    """name → (trajectories, longest gap interpolated for the truth s, least time between two "now" s)."""
    bus = load_bus()
    return {
        "bus20": (bus, 120.0, 0.0),
        "bus60": (thin(bus, 3), 200.0, 0.0),
        "ais": (load_ais(), 240.0, 0.0),
        # 1 s fixes: every one as "now" would weigh near-identical instants and take minutes.
        "foot": (load_foot(), 60.0, 5.0),
        "foot10": (load_foot(10.0), 60.0, 0.0),
    }


def truth_at(trip: np.ndarray, t: float, max_gap: float):
    times = trip[:, 0]
    j = int(np.searchsorted(times, t))
    if j == 0 or j >= len(times) or times[j] - times[j - 1] > max_gap:
        return None
    w = (t - times[j - 1]) / (times[j] - times[j - 1])
    return trip[j - 1, 5:7] * (1 - w) + trip[j, 5:7] * w


def learned_road(trips: Trips, key, now: float, x: float, y: float, heading):
    """The polyline ahead of (x, y) from the earlier trip that covered it furthest, or None."""
    best, best_len = None, 0.0
    for other, trip in trips.items():
        if other == key:
            continue
        past = trip[trip[:, 0] < now]
        if len(past) < 3:
            continue
        d = np.hypot(past[:, 5] - x, past[:, 6] - y)
        j = int(d.argmin())
        if d[j] > MATCH_M or j >= len(past) - 1:
            continue
        if heading is not None:
            seg = past[j + 1, 5:7] - past[j, 5:7]
            if np.linalg.norm(seg) > 1 and float(seg @ heading) < 0:
                continue  # going the other way
        ahead = past[j:, 5:7]
        length = float(np.hypot(*np.diff(ahead, axis=0).T).sum())
        if length > best_len:
            best, best_len = ahead, length
    if best is None:
        return None
    lon, lat = trips.frame.to_lonlat(best[:, 0], best[:, 1])
    return LineString(np.column_stack([lon, lat]))


def _cv(hist: np.ndarray, back: int) -> list[tuple[float, float]]:
    j = max(0, len(hist) - 1 - back)
    v = (hist[-1, 5:7] - hist[j, 5:7]) / (hist[-1, 0] - hist[j, 0])
    return [tuple(hist[-1, 5:7] + v * h) for h in HORIZONS_S]


def _xy(trips: Trips, preds) -> list[tuple[float, float, float]]:
    return [(*(float(c) for c in trips.frame.to_xy(p.lon, p.lat)), p.radius_m) for p in preds]


def predictions(trips: Trips, key, hist: np.ndarray, roads: bool) -> dict[str, list]:
    """method → [(x, y, radius or None) per horizon] from the fixes in ``hist`` (oldest first)."""
    t, lon, lat, speed, course = hist[:, :5].T
    out = {
        "CV last fix": [(*p, None) for p in _cv(hist, 1)],
        "CV smoothed": [(*p, None) for p in _cv(hist, 3)],
        "Kalman CV (before)": _xy(trips, predict_cv(t, lon, lat)),
        PREDICTOR: _xy(trips, predict_motion(t, lon, lat, speeds_ms=speed, courses_deg=course)),
        "predictor, positions only": _xy(trips, predict_motion(t, lon, lat)),
    }
    if roads:
        m = estimate_motion(t, hist[:, 5], hist[:, 6], speed[-1], course[-1])
        heading = np.array([m.ux, m.uy]) if m.heading_deg is not None else None
        road = learned_road(trips, key, t[-1], m.x, m.y, heading)
        if road is None:
            return {}
        out[ROAD] = _xy(trips, predict_along_road(lon[-1], lat[-1], m.speed_ms, road))
    return out


def evaluate(trips: Trips, max_gap: float, every_s: float = 0.0, split: str = "held-out", roads: bool = False) -> dict:
    """method → horizon → (errors m, inside the radius?) over every usable instant of the split."""
    errors: dict = defaultdict(lambda: {h: [] for h in HORIZONS_S})
    inside: dict = defaultdict(lambda: {h: [] for h in HORIZONS_S})
    for key, trip in trips.items():
        if split != "all" and held_out(key) != (split == "held-out"):
            continue
        last_now = -np.inf
        for i in range(1, len(trip)):
            now = trip[i, 0]
            if now - last_now < every_s:
                continue
            truths = [truth_at(trip, now + h, max_gap) for h in HORIZONS_S]
            hist = trip[(trip[:, 0] > now - HISTORY_S) & (trip[:, 0] <= now)]
            if all(v is None for v in truths) or len(hist) < 2:
                continue
            last_now = now
            for m, preds in predictions(trips, key, hist, roads).items():
                for h, truth, (x, y, r) in zip(HORIZONS_S, truths, preds, strict=True):
                    if truth is not None:
                        e = float(np.hypot(x - truth[0], y - truth[1]))
                        errors[m][h].append(e)
                        inside[m][h].append(r is None or e <= r)
    return {m: {h: (np.asarray(errors[m][h]), np.asarray(inside[m][h])) for h in HORIZONS_S} for m in errors}


def summary(errors: np.ndarray) -> tuple[float, float]:
    """(median, p90) in metres."""
    return float(np.median(errors)), float(np.percentile(errors, 90))


def run(split: str = "held-out") -> dict[str, dict]:
    sets = datasets()
    out = {name: evaluate(*spec, split) for name, spec in sets.items()}
    out["bus20+road"] = evaluate(*sets["bus20"], split, roads=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=("train", "held-out", "all"), default="held-out")
    split = ap.parse_args().split
    results = run(split)
    head = "".join(f"{f'+{int(h)} s':>14}" for h in HORIZONS_S)
    print(f"split: {split} trajectories; error in metres, median / p90; 'in r95' = truths inside the radius\n")
    for name, res in results.items():
        n = len(res[PREDICTOR][HORIZONS_S[0]][0])
        print(f"{name} ({n} instants at +30 s)      {head}   in r95")
        for m, by_h in res.items():
            cells = "".join(f"{'{:.0f} / {:.0f}'.format(*summary(by_h[h][0])):>14}" for h in HORIZONS_S)
            cover = " ".join(f"{by_h[h][1].mean():.0%}" for h in HORIZONS_S) if m not in BASELINES else "-"
            print(f"  {m:<28}{cells}   {cover}")
        print()


if __name__ == "__main__":
    main()
