"""Per-target event detection: pure functions over a small immutable state.

The taxonomy is deliberately small and explicit (traccar habit); every event carries the position
that caused it. Area enter/exit is the difference between the previous and the current set of
containing key areas, so an area is never entered twice without an exit in between.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

import numpy as np
import shapely
from shapely import STRtree

NO_AREAS: frozenset[int] = frozenset()


class EventKind(StrEnum):
    AREA_ENTER = "area_enter"
    AREA_EXIT = "area_exit"
    OVERSPEED = "overspeed"  # speed went above the limit
    OVERSPEED_END = "overspeed_end"  # back below limit − hysteresis
    STALE = "stale"  # no valid fix for ``stale_after``
    RESUMED = "resumed"  # first valid fix after being stale
    SOS = "sos"  # emergency button: raises an incident


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    target: tuple[str, str]  # (protocol, device id)
    at: datetime
    lon: float | None = None
    lat: float | None = None
    area_id: int | None = None
    detail: dict = field(default_factory=dict, compare=False)

    def to_message(self) -> dict:
        return {
            "kind": self.kind.value,
            "protocol": self.target[0],
            "device_id": self.target[1],
            "time": self.at.isoformat(),
            "lon": self.lon,
            "lat": self.lat,
            "area_id": self.area_id,
            **self.detail,
        }


@dataclass(frozen=True, slots=True)
class Rules:
    speed_limit_kmh: float = 120.0
    hysteresis_kmh: float = 10.0
    stale_after: timedelta = timedelta(minutes=5)


# Not ``frozen`` (a frozen dataclass's ``__init__`` costs an ``object.__setattr__`` per field, and a state
# is built per target per batch): treat it as immutable all the same (``replace`` makes the next one).
@dataclass(slots=True, unsafe_hash=True)
class TargetState:
    target: tuple[str, str]
    areas: frozenset[int] = frozenset()
    overspeed: bool = False
    sos: bool = False
    stale: bool = False
    last_fix_at: datetime | None = None
    last_lon: float | None = None
    last_lat: float | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """What the detectors need of one fix (kept apart from ``Fix`` so timelines are easy to write)."""

    at: datetime
    lon: float
    lat: float
    speed_kmh: float | None = None
    sos: bool = False
    valid: bool = True


def area_events(state: TargetState, obs: Observation, current: frozenset[int]) -> list[Event]:
    exits = [
        Event(EventKind.AREA_EXIT, state.target, obs.at, obs.lon, obs.lat, a)
        for a in sorted(state.areas - current)
    ]
    enters = [
        Event(EventKind.AREA_ENTER, state.target, obs.at, obs.lon, obs.lat, a)
        for a in sorted(current - state.areas)
    ]
    return exits + enters


def overspeed_after(state: TargetState, speed_kmh: float | None, rules: Rules) -> bool:
    """Hysteresis: on above the limit, off only below limit − hysteresis; unknown speed changes nothing."""
    if speed_kmh is None:
        return state.overspeed
    if state.overspeed:
        return speed_kmh >= rules.speed_limit_kmh - rules.hysteresis_kmh
    return speed_kmh > rules.speed_limit_kmh


def on_fix(
    state: TargetState, obs: Observation, areas: frozenset[int], rules: Rules = Rules()
) -> tuple[TargetState, list[Event]]:
    """Advance the state by one fix; return the new state and the events it caused."""
    events: list[Event] = []
    sos = obs.sos
    if sos and not state.sos:  # the rising edge only: a held button is one emergency
        # Without a GNSS fix the reported coordinates are meaningless: use the last known position.
        lon, lat = (obs.lon, obs.lat) if obs.valid else (state.last_lon, state.last_lat)
        events.append(Event(EventKind.SOS, state.target, obs.at, lon, lat, detail={"located": obs.valid}))
    in_order = state.last_fix_at is None or obs.at > state.last_fix_at
    if not (obs.valid and in_order):
        # No usable position (no GNSS fix) or a late/backfilled fix: positional detectors keep their state.
        return replace(state, sos=sos), events
    if state.stale:
        events.append(
            Event(
                EventKind.RESUMED,
                state.target,
                obs.at,
                obs.lon,
                obs.lat,
                detail={"since": state.last_fix_at.isoformat() if state.last_fix_at else None},
            )
        )
    events += area_events(state, obs, areas)
    overspeed = overspeed_after(state, obs.speed_kmh, rules)
    if overspeed != state.overspeed:
        kind = EventKind.OVERSPEED if overspeed else EventKind.OVERSPEED_END
        events.append(
            Event(
                kind,
                state.target,
                obs.at,
                obs.lon,
                obs.lat,
                detail={"speed_kmh": obs.speed_kmh, "limit_kmh": rules.speed_limit_kmh},
            )
        )
    return TargetState(state.target, areas, overspeed, sos, False, obs.at, obs.lon, obs.lat), events


def on_tick(state: TargetState, now: datetime, rules: Rules = Rules()) -> tuple[TargetState, list[Event]]:
    """Called periodically: a target without a valid fix for ``stale_after`` becomes stale, once."""
    if state.stale or state.last_fix_at is None or now - state.last_fix_at < rules.stale_after:
        return state, []
    event = Event(
        EventKind.STALE,
        state.target,
        now,
        state.last_lon,
        state.last_lat,
        detail={"last_fix_at": state.last_fix_at.isoformat()},
    )
    return replace(state, stale=True), [event]


class AreaIndex:
    """Which key areas contain a point: an STRtree over the area polygons (lon/lat), vectorised."""

    def __init__(self, areas: Iterable[tuple[int, shapely.Geometry]]) -> None:
        pairs = list(areas)
        self.ids = np.array([a for a, _ in pairs], dtype=np.int64)
        self.tree = STRtree([g for _, g in pairs])

    def containing(self, lons: Sequence[float], lats: Sequence[float]) -> list[frozenset[int]]:
        lons, lats = np.asarray(lons, dtype=float), np.asarray(lats, dtype=float)
        out: list[frozenset[int]] = [NO_AREAS] * len(lons)  # one shared empty set: most points are outside
        if not len(self.ids) or not len(lons):
            return out
        # "intersects": a point on the boundary counts as inside (no flicker along a fence). One query
        # for the whole batch; only the points inside something get a set of their own.
        point_idx, area_idx = self.tree.query(shapely.points(lons, lats), predicate="intersects")
        hits: dict[int, set[int]] = {}
        for p, a in zip(point_idx.tolist(), self.ids[area_idx].tolist(), strict=True):
            hits.setdefault(p, set()).add(a)
        for p, found in hits.items():
            out[p] = frozenset(found)
        return out
