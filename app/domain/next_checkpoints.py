"""Where to intercept a watched vehicle: the checkpoints it is likely to pass next after a hit. Pure.

A candidate is a checkpoint other than the hit's, with its driving time from the hit along the road
network (None: no road reaches it) and how often vehicles seen at the hit's checkpoint were seen there
next (observed transitions, the platform's own history). Reachable ones only, within ``MAX_ETA_S``;
those vehicles were seen going to first (most often first), then the rest by driving time: a checkpoint
that traffic from here actually reaches beats a nearer one on a road it seldom takes. At each, the free
units that get there before the vehicle (``interceptors``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_ETA_S = 20 * 60.0
DEFAULT_COUNT = 3


@dataclass(frozen=True, slots=True)
class Candidate:
    tollgate_id: str
    name: str | None
    lon: float
    lat: float
    eta_s: float | None
    seen_next: int = 0  # passes at the hit's checkpoint followed next by one here


def rank(hit_tollgate: str | None, candidates: Iterable[Candidate], count: int = DEFAULT_COUNT,
         max_eta_s: float = MAX_ETA_S) -> list[Candidate]:
    usable = [c for c in candidates
              if c.tollgate_id != hit_tollgate and c.eta_s is not None and c.eta_s <= max_eta_s]
    usable.sort(key=lambda c: (-c.seen_next, c.eta_s, c.tollgate_id))
    return usable[:count]


@dataclass(frozen=True, slots=True)
class Unit:
    unit_id: int
    callsign: str
    eta_s: float | None  # by road to the checkpoint


def interceptors(vehicle_eta_s: float, elapsed_s: float, units: Iterable[Unit], count: int = DEFAULT_COUNT
                 ) -> list[Unit]:
    """The units that reach the checkpoint before the vehicle does: it left the hit ``elapsed_s`` ago (the
    alarm's delay, or an old alarm looked at later), so it is ``vehicle_eta_s - elapsed_s`` away. Soonest first."""
    left = vehicle_eta_s - max(elapsed_s, 0.0)
    fast = [u for u in units if u.eta_s is not None and u.eta_s < left]
    return sorted(fast, key=lambda u: (u.eta_s, u.unit_id))[:count]
