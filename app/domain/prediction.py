"""Where will a target be in 30, 60, 120 s, and how sure are we?

Two methods:
- ``predict_cv``: a constant-velocity Kalman filter (white-noise acceleration) over the recent fixes,
  in a local metric frame; the radius is the 95 % circle of the predicted position covariance.
- ``predict_along_road``: continue along the road polyline ahead (the caller map-matches and hands over
  the edge sequence), at a given speed; the radius grows with the speed uncertainty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, Point

from app.domain.metric import LocalFrame

HORIZONS_S = (30.0, 60.0, 120.0)
CHI2_95_2D = 5.991  # 95 % quantile of χ² with 2 degrees of freedom


@dataclass(frozen=True, slots=True)
class Prediction:
    horizon_s: float
    lon: float
    lat: float
    radius_m: float


class ConstantVelocityKalman:
    """State (x, y, vx, vy) in metres and m/s. ``accel_sigma`` is the random acceleration (m/s²).

    The default 0.1 m/s² is low on purpose: urban vehicles stop and go, and a filter that follows every
    acceleration extrapolates the last burst of speed; a smooth velocity (which averages over stops)
    predicts better at 30–120 s. bench/eval_prediction.py shows the sensitivity on real bus data.
    """

    def __init__(self, accel_sigma: float = 0.1) -> None:
        self.q = accel_sigma**2
        self.x: np.ndarray | None = None
        self.P = np.zeros((4, 4))
        self.t: float | None = None

    @staticmethod
    def _f(dt: float) -> np.ndarray:
        f = np.eye(4)
        f[0, 2] = f[1, 3] = dt
        return f

    def _q(self, dt: float) -> np.ndarray:
        a, b, c = dt**4 / 4, dt**3 / 2, dt**2
        return self.q * np.array([[a, 0, b, 0], [0, a, 0, b], [b, 0, c, 0], [0, b, 0, c]])

    def predict(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        if self.x is None:
            raise ValueError("no fix yet")
        f = self._f(dt)
        return f @ self.x, f @ self.P @ f.T + self._q(dt)

    def update(self, t: float, x: float, y: float, sigma_m: float = 10.0) -> None:
        r = np.eye(2) * sigma_m**2
        if self.x is None or self.t is None:
            self.x = np.array([x, y, 0.0, 0.0])
            self.P = np.diag([sigma_m**2, sigma_m**2, 15.0**2, 15.0**2])  # speed unknown: ±15 m/s
            self.t = t
            return
        dt = max(t - self.t, 0.0)
        xp, pp = self.predict(dt)
        h = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
        s = h @ pp @ h.T + r
        k = pp @ h.T @ np.linalg.inv(s)
        self.x = xp + k @ (np.array([x, y]) - h @ xp)
        self.P = (np.eye(4) - k @ h) @ pp
        self.t = max(t, self.t)

    @property
    def speed_ms(self) -> float:
        return 0.0 if self.x is None else float(np.hypot(self.x[2], self.x[3]))


def radius_95(cov2: np.ndarray) -> float:
    return float(np.sqrt(CHI2_95_2D * np.linalg.eigvalsh(cov2).max()))


def run_filter(
    times,
    lons,
    lats,
    frame: LocalFrame,
    accuracies_m=None,
    accel_sigma: float = 0.1,
    default_sigma_m: float = 10.0,
) -> ConstantVelocityKalman:
    xs, ys = frame.to_xy(lons, lats)
    kf = ConstantVelocityKalman(accel_sigma)
    acc = accuracies_m if accuracies_m is not None else [None] * len(xs)
    for t, x, y, a in zip(times, xs, ys, acc, strict=True):
        kf.update(float(t), float(x), float(y), float(a) if a else default_sigma_m)
    return kf


def predict_cv(
    times,
    lons,
    lats,
    horizons: Sequence[float] = HORIZONS_S,
    *,
    accuracies_m=None,
    accel_sigma: float = 0.1,
    now: float | None = None,
) -> list[Prediction]:
    """Kalman constant-velocity prediction from the fixes (oldest first) to ``now`` + each horizon."""
    if len(times) == 0:
        raise ValueError("need at least one fix")
    frame = LocalFrame.around(lons, lats)
    kf = run_filter(times, lons, lats, frame, accuracies_m, accel_sigma)
    base = float(times[-1]) if now is None else float(now)
    out = []
    for h in horizons:
        x, p = kf.predict(base - float(times[-1]) + h)
        lon, lat = frame.to_lonlat(x[0], x[1])
        out.append(Prediction(float(h), float(lon), float(lat), radius_95(p[:2, :2])))
    return out


def predict_along_road(
    lon: float,
    lat: float,
    speed_ms: float,
    road: LineString,
    horizons: Sequence[float] = HORIZONS_S,
    *,
    speed_sigma_ms: float | None = None,
    position_sigma_m: float = 10.0,
) -> list[Prediction]:
    """Continue along ``road`` (lon/lat, oriented in the direction of travel) from the point's projection.

    Past the end of the polyline the target is held at the end (we know nothing beyond) and the radius
    keeps growing. ``speed_sigma_ms`` defaults to 40 % of the speed, at least 1 m/s.
    """
    coords = np.asarray(road.coords)
    frame = LocalFrame(float(coords[:, 0].mean()), float(coords[:, 1].mean()))
    rx, ry = frame.to_xy(coords[:, 0], coords[:, 1])
    line = LineString(np.column_stack([rx, ry]))
    px, py = frame.to_xy(lon, lat)
    s0 = line.project(Point(float(px), float(py)))
    sigma_v = max(1.0, 0.4 * speed_ms) if speed_sigma_ms is None else speed_sigma_ms
    out = []
    for h in horizons:
        s = min(s0 + max(speed_ms, 0.0) * h, line.length)
        p = shapely.line_interpolate_point(line, s)
        plon, plat = frame.to_lonlat(p.x, p.y)
        sigma = float(np.hypot(sigma_v * h, position_sigma_m))
        out.append(Prediction(float(h), float(plon), float(plat), float(np.sqrt(CHI2_95_2D)) * sigma))
    return out
