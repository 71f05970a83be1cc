"""Per-target detection for the pipeline's ``detect`` step: the states of this process's targets, advanced
by the pure functions of ``domain.tracking`` (area enter/exit, overspeed, stale, SOS)."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import TYPE_CHECKING

from app.domain.fix import Fix
from app.domain.tracking import (
    NO_AREAS,
    Event,
    Observation,
    Rules,
    TargetState,
    on_fix,
    on_tick,
)

if TYPE_CHECKING:  # the pipeline imports this module: its Batch only for the annotation
    from app.ingest.pipeline import Batch


class Tracker:
    """The per-target states of this process, advanced by the pure functions of ``domain.tracking``."""

    def __init__(self, rules: Rules = Rules()) -> None:
        self.rules = rules
        self.states: dict[tuple[str, str], TargetState] = {}

    def observe(self, fix: Fix, areas: frozenset[int]) -> list[Event]:
        state = self.states.get(fix.key) or TargetState(fix.key)
        obs = Observation(fix.fix_time, fix.lon, fix.lat, fix.speed_kmh, fix.sos, fix.valid)
        self.states[fix.key], events = on_fix(state, obs, areas, self.rules)
        return events

    def tick(self, now: datetime) -> list[Event]:
        out: list[Event] = []
        for key, state in self.states.items():
            self.states[key], events = on_tick(state, now, self.rules)
            out += events
        return out

    def split_history(self, fixes: list[Fix], cutoff: datetime) -> tuple[list[Fix], list[Fix]]:
        """(live, history): history is flagged by the device, older than ``cutoff``, or a located fix not
        newer than its target's last live fix. A report without GNSS lock is judged by the first two only:
        terminals often repeat the last fix's time in it, and its alarm (an SOS) is live all the same.
        A few comparisons per fix in the usual case (all live)."""
        states = self.states
        get = states.get
        for f in fixes:  # the key spelled out: this loop runs per fix of every batch
            if f.history or f.fix_time < cutoff:
                break
            if f.valid and (s := get((f.protocol, f.device_id))) is not None and s.last_fix_at is not None \
                    and f.fix_time <= s.last_fix_at:
                break
        else:
            return fixes, []
        live: list[Fix] = []
        history: list[Fix] = []
        for f in fixes:
            s = states.get(f.key)
            old = f.history or f.fix_time < cutoff or (f.valid and s is not None and s.last_fix_at is not None
                                                       and f.fix_time <= s.last_fix_at)
            (history if old else live).append(f)
        return live, history

    async def detect(self, batch: Batch) -> None:
        batch.events += self.detect_batch(batch.fixes, batch.areas)

    def detect_per_fix(self, fixes: list[Fix], areas: list[frozenset[int]]) -> list[Event]:
        """The reference: every fix through ``on_fix``, in time order."""
        areas = areas if len(areas) == len(fixes) else [NO_AREAS] * len(fixes)
        events: list[Event] = []
        for i in sorted(range(len(fixes)), key=lambda i: fixes[i].fix_time):
            events += self.observe(fixes[i], areas[i])
        return events

    def detect_batch(self, fixes: list[Fix], areas: list[frozenset[int]]) -> list[Event]:
        """Same states and events as ``detect_per_fix``, per target instead of per fix.

        A target whose fixes of this batch cannot cause an event (no SOS, not stale, the same key areas,
        no overspeed edge — the usual case) only moves its state to its newest in-order fix; the others
        go through ``on_fix`` fix by fix. Events come out in the order of their fixes' times.
        """
        n = len(fixes)
        if len(areas) != n:
            areas = [NO_AREAS] * n
        groups: dict[tuple[str, str], list[int]] = {}
        for i, f in enumerate(fixes):
            key = f.key
            g = groups.get(key)
            if g is None:
                groups[key] = [i]
            else:
                g.append(i)
        rules, states = self.rules, self.states
        above, below = rules.speed_limit_kmh, rules.speed_limit_kmh - rules.hysteresis_kmh
        tagged: list[tuple[datetime, int, int, Event]] = []
        for key, idx in groups.items():
            if len(idx) > 1 and any(fixes[a].fix_time > fixes[b].fix_time
                                    for a, b in itertools.pairwise(idx)):
                idx.sort(key=lambda i: fixes[i].fix_time)  # stable: equal times keep their input order
            state = states.get(key)
            if state is None:
                state = TargetState(key)
            last_t, cur_areas, over = state.last_fix_at, state.areas, state.overspeed
            newest: Fix | None = None
            simple = True
            for i in idx:
                f = fixes[i]
                if f.sos:
                    simple = False
                    break
                if f.valid and (last_t is None or f.fix_time > last_t):
                    speed = f.speed_kmh
                    if (state.stale or areas[i] != cur_areas
                            or (speed is not None and (speed < below if over else speed > above))):
                        simple = False
                        break
                    last_t, newest = f.fix_time, f
            if simple:
                if newest is not None:
                    states[key] = TargetState(key, cur_areas, over, False, False, last_t, newest.lon, newest.lat)
                elif state.sos or key not in states:
                    states[key] = TargetState(key, state.areas, over, False, state.stale, state.last_fix_at,
                                              state.last_lon, state.last_lat)
                continue
            for i in idx:
                f = fixes[i]
                for k, e in enumerate(self.observe(f, areas[i])):
                    tagged.append((f.fix_time, i, k, e))
        tagged.sort(key=lambda t: t[:3])
        return [t[3] for t in tagged]
