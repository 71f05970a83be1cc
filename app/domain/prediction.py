"""Where will a target be in 30, 60, 120 s, and how sure are we?

- ``estimate_motion`` + ``predict_motion``: the free-space predictor. Heading from the track (or the
  device's course where it agrees with the track), speed from the device or from the path over the last
  5 minutes, travel damped for long horizons; the radius is calibrated on real trajectories.
- ``predict_along_road``: continue along the road polyline ahead (the caller map-matches and hands over
  the edge sequence) over the same damped travel distance.
- ``predict_cv``: the earlier constant-velocity Kalman filter, kept as a reference: on real held-out
  trajectories it is worse than plain constant velocity (bench/eval_prediction.py prints both).

The constants below were tuned on the training split of bench/eval_prediction.py (Liverpool buses at
20 s and 60 s sampling, New York harbour AIS, people on foot at 1–11 s); bench/README.md has the held-out
figures.
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

# Speed over the path of the last 5 min: it includes the dwell at stops, so a stop-and-go vehicle is
# not extrapolated at its last burst of speed (bench/README.md: the last step's speed loses on buses).
SPEED_WINDOW_S = 300.0
# Densely sampled targets (≥ 3 fixes in the last 30 s: phones, watches, people on foot) start from
# their speed over those 30 s, which relaxes to the 5-min speed with this time constant: a runner keeps
# their current pace for the next half minute, less so for two. Sparser tracks (buses at 20 s, AIS) have
# no such speed: one step of a stop-and-go vehicle is what loses there.
RECENT_S = 30.0
RECENT_MIN_STEPS = 3
RECENT_TAU_S = 30.0
# Short-horizon blend with the last step's velocity (direction and speed of the freshest fix): where the
# last step is at most LAST_STEP_MAX_S long, the position at h is LAST_STEP_WEIGHT·e^(−h/LAST_STEP_TAU_S)
# of the way from the predictor's point to straight-on at that velocity (≈ 54 % at +30 s, 38 % at +60 s,
# 20 % at +120 s). A watch's or phone's last step is its freshest turn and change of pace; the longer
# window wins further out. Chosen on the training split (foot: weight 0.5–1, τ 20–90 s); the 12 s gate
# keeps most bus steps (~20 s, stop-and-go: their last step loses) out; 30 s cost bus20 6 m at +30 s.
LAST_STEP_MAX_S = 12.0
# A longer step, up to ON_FOOT_STEP_MAX_S, counts too when it was made at on-foot pace (≤ ON_FOOT_MAX_MS,
# 14 km/h): a phone tracker saving battery reports a walker every 10–30 s, and such a step is already a
# 10–30 s average of the walker's latest heading and pace, while the 5-min speed behind the rest of the
# blend lags a walker who changes pace (the hike's breaks). A vehicle at such a
# pace is stopping or crawling, where its last step does no harm (training split: bus60, AIS and the
# road row unchanged, bus20 within 3 m). AIS steps (60–180 s) stay out. Training foot10 +30 s median
# 9.9 → 9.5 m (CV last fix 9.7), the same for any pace gate of 3–4 m/s; a 40 s gate did worse.
ON_FOOT_STEP_MAX_S = 30.0
ON_FOOT_MAX_MS = 4.0
LAST_STEP_WEIGHT = 0.75
LAST_STEP_TAU_S = 90.0
# Direction from the latest fix at least this far back: GPS jitter at a stop has no direction. 10 m
# rather than 30 m: a pedestrian covers 30 m in 10–30 s and turns in between (same figures on buses/AIS).
HEADING_MIN_M = 10.0
# A device-reported course is used when it agrees with the track's direction within this: some
# transmitters report a fixed or stale course, which is worse than the track's own direction.
COURSE_AGREE_DEG = 45.0
# Travel over h seconds is v·τ(1−e^(−h/τ)): targets stop and turn, so the straight line at full speed
# overshoots more often the longer the horizon (−1 % of the distance at +30 s, −5 % at +120 s).
DAMPING_S = 1200.0
# Radius = travel + 30 m + 2 m/s · h: the smallest of this form with 95 % of the training errors inside
# for every data set and horizon. The 2 m/s term is for targets that set off or turn: even a target
# standing still gets 270 m at +120 s, because that is what was measured.
RADIUS_BASE_M = 30.0
RADIUS_GROWTH_MS = 2.0


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


@dataclass(frozen=True, slots=True)
class Motion:
    """The last fix in the caller's metric frame, the unit direction of travel, and the speed."""

    x: float
    y: float
    ux: float
    uy: float
    speed_ms: float
    recent_ms: float | None = None  # speed over the last RECENT_S where the track is dense enough
    last_v: tuple[float, float] | None = None  # velocity of the last step where it is short (LAST_STEP_MAX_S)

    @property
    def heading_deg(self) -> float | None:
        if self.ux == 0.0 and self.uy == 0.0:
            return None
        return float(np.degrees(np.arctan2(self.ux, self.uy)) % 360.0)


def _unit(dx: float, dy: float) -> tuple[float, float]:
    n = float(np.hypot(dx, dy))
    return (dx / n, dy / n) if n > 0 else (0.0, 0.0)


def estimate_motion(times, xs, ys, speed_ms: float | None = None, course_deg: float | None = None) -> Motion:
    """Motion at the last fix from fixes oldest first (metres, epoch s); ``speed_ms`` and ``course_deg``
    are what the device reported with the last fix, if anything."""
    t = np.asarray(times, dtype=float)
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if len(t) == 0:
        raise ValueError("need at least one fix")
    px, py = float(x[-1]), float(y[-1])
    recent_speed = None
    far = np.nonzero(np.hypot(px - x, py - y) >= HEADING_MIN_M)[0]
    if len(far):
        ux, uy = _unit(px - x[far[-1]], py - y[far[-1]])
    elif len(t) >= 2:
        ux, uy = _unit(px - x[-2], py - y[-2])
    else:
        ux = uy = 0.0
    if course_deg is not None and np.isfinite(course_deg):
        cx, cy = float(np.sin(np.radians(course_deg))), float(np.cos(np.radians(course_deg)))
        # Checked against the track where there is one; a lone fix has only the device's word.
        if (ux == 0.0 and uy == 0.0) or cx * ux + cy * uy >= np.cos(np.radians(COURSE_AGREE_DEG)):
            ux, uy = cx, cy
    if speed_ms is not None and np.isfinite(speed_ms):
        speed = max(float(speed_ms), 0.0)
    elif len(t) >= 2:
        recent = np.nonzero(t[1:] > t[-1] - SPEED_WINDOW_S)[0]
        if len(recent) == 0:
            recent = np.array([len(t) - 2])
        path = float(np.hypot(np.diff(x), np.diff(y))[recent].sum())
        speed = path / max(float(t[-1] - t[recent[0]]), 1e-6)
        j = int(np.searchsorted(t, t[-1] - RECENT_S, side="left"))
        if len(t) - 1 - j >= RECENT_MIN_STEPS:
            recent_speed = float(np.hypot(np.diff(x[j:]), np.diff(y[j:])).sum()) / float(t[-1] - t[j])
    else:
        speed = 0.0
    last_v = None
    if len(t) >= 2 and 0.0 < t[-1] - t[-2] <= max(LAST_STEP_MAX_S, ON_FOOT_STEP_MAX_S):
        dt = float(t[-1] - t[-2])
        vx, vy = float(px - x[-2]) / dt, float(py - y[-2]) / dt
        if dt <= LAST_STEP_MAX_S or np.hypot(vx, vy) <= ON_FOOT_MAX_MS:  # see ON_FOOT_MAX_MS
            last_v = (vx, vy)
    if ux == 0.0 and uy == 0.0:
        speed = 0.0  # no direction known: the prediction stays put and its radius grows
        recent_speed = last_v = None
    return Motion(px, py, ux, uy, speed, recent_speed, last_v)


def travel_m(speed_ms: float, horizon_s: float, damping_s: float | None = DAMPING_S) -> float:
    """Distance covered in ``horizon_s`` at ``speed_ms``, damped (see ``DAMPING_S``)."""
    if damping_s is None:
        return speed_ms * horizon_s
    return speed_ms * damping_s * (1.0 - float(np.exp(-horizon_s / damping_s)))


def radius_m(travel: float, horizon_s: float) -> float:
    """The 95 % radius around a prediction ``travel`` metres ahead (see ``RADIUS_GROWTH_MS``)."""
    return travel + RADIUS_BASE_M + RADIUS_GROWTH_MS * horizon_s


def predict_motion(
    times,
    lons,
    lats,
    horizons: Sequence[float] = HORIZONS_S,
    *,
    speeds_ms=None,
    courses_deg=None,
    now: float | None = None,
) -> list[Prediction]:
    """Free-space prediction from the fixes (oldest first) to ``now`` + each horizon.

    ``speeds_ms`` / ``courses_deg``: what the device reported per fix (None or NaN where it did not).
    """
    if len(times) == 0:
        raise ValueError("need at least one fix")
    frame = LocalFrame.around(lons, lats)
    xs, ys = frame.to_xy(lons, lats)
    last = lambda v: None if v is None or v[-1] is None else float(v[-1])  # noqa: E731
    m = estimate_motion(times, xs, ys, last(speeds_ms), last(courses_deg))
    gap = 0.0 if now is None else max(float(now) - float(times[-1]), 0.0)
    out = []
    for h in horizons:
        d = travel_m(m.speed_ms, gap + float(h))
        if m.recent_ms is not None:  # see RECENT_TAU_S
            d = max(d + (m.recent_ms - m.speed_ms) * travel_m(1.0, gap + float(h), RECENT_TAU_S), 0.0)
        dx, dy = m.ux * d, m.uy * d
        if m.last_v is not None:  # see LAST_STEP_TAU_S
            w = LAST_STEP_WEIGHT * float(np.exp(-(gap + float(h)) / LAST_STEP_TAU_S))
            dx = (1.0 - w) * dx + w * m.last_v[0] * (gap + float(h))
            dy = (1.0 - w) * dy + w * m.last_v[1] * (gap + float(h))
            d = float(np.hypot(dx, dy))
        lon, lat = frame.to_lonlat(m.x + dx, m.y + dy)
        out.append(Prediction(float(h), float(lon), float(lat), radius_m(d, gap + float(h))))
    return out


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
    damping_s: float | None = DAMPING_S,
) -> list[Prediction]:
    """Continue along ``road`` (lon/lat, oriented in the direction of travel) from the point's projection,
    over ``travel_m`` (damped like the free-space prediction), with the free-space radius (measured to
    hold ≥ 95 % on the road too).

    Past the end of the polyline the target is held at the end (we know nothing beyond) and the radius
    keeps growing.
    """
    coords = np.asarray(road.coords)
    frame = LocalFrame(float(coords[:, 0].mean()), float(coords[:, 1].mean()))
    rx, ry = frame.to_xy(coords[:, 0], coords[:, 1])
    line = LineString(np.column_stack([rx, ry]))
    px, py = frame.to_xy(lon, lat)
    s0 = line.project(Point(float(px), float(py)))
    out = []
    for h in horizons:
        d = travel_m(max(speed_ms, 0.0), h, damping_s)
        p = shapely.line_interpolate_point(line, min(s0 + d, line.length))
        plon, plat = frame.to_lonlat(p.x, p.y)
        out.append(Prediction(float(h), float(plon), float(plat), radius_m(d, float(h))))
    return out
