"""The ingest pipeline: decode → validate → enrich → detect events → persist → publish.

Each step is an async callable over one ``Batch``; the pipeline runs them in order and a failing step
is logged and counted without stopping the others. Whether the batch was stored is explicit
(``batch.persisted``): protocol handlers acknowledge a device only then (``Pipeline.sink``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.fix import Fix, FixRejected, Validator
from app.domain.tracking import (
    NO_AREAS,
    AreaIndex,
    Event,
    EventKind,
    Observation,
    Rules,
    TargetState,
    on_fix,
    on_tick,
)
from app.ingest.event_store import store_events
from app.ingest.writer import BatchWriter

log = logging.getLogger(__name__)
Publish = Callable[[str, dict], Awaitable[object]]
PublishMany = Callable[[str, list[dict]], Awaitable[object]]
Decoder = Callable[[Any], list[Fix]]
POSITION_TOPIC, EVENT_TOPIC = "position", "event"
# A step over this many fixes holds the event loop for a while (~1 ms): before it, the loop gets a turn to
# feed the writer's COPY, take commit replies and send answers, so the database is not left waiting.
YIELD_ROWS = 100


class NotStored(RuntimeError):
    """The batch could not be persisted: the device must not be acknowledged."""


@dataclass
class Batch:
    fixes: list[Fix] = field(default_factory=list)
    raw: Any = None
    decoder: Decoder | None = None
    rejected: list[FixRejected] = field(default_factory=list)
    validated: bool = False  # the decoder validated already (one pass): the validate step skips
    areas: list[frozenset[int]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    persisted: bool = False
    failed: list[str] = field(default_factory=list)


Step = Callable[[Batch], Awaitable[None]]


class Pipeline:
    def __init__(
        self, steps: list[tuple[str, Step]], *, tracker: Tracker | None = None, publish: Publish | None = None
    ) -> None:
        self.steps = steps
        self.tracker = tracker
        self.publish = publish
        self.errors: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()

    async def run(self, batch: Batch) -> Batch:
        for name, step in self.steps:
            if len(batch.fixes) >= YIELD_ROWS:
                await asyncio.sleep(0)
            try:
                await step(batch)
            except Exception:
                self.errors[name] += 1
                batch.failed.append(name)
                log.exception("ingest step %r failed on %d fixes", name, len(batch.fixes))
        self.rejected.update(r.reason for r in batch.rejected)
        return batch

    async def submit(self, fixes: list[Fix], *, validated: bool = False) -> Batch:
        return await self.run(Batch(list(fixes), validated=validated))

    async def submit_raw(self, decoder: Decoder, raw: Any) -> Batch:
        return await self.run(Batch(raw=raw, decoder=decoder))

    async def check_stale(self, now: datetime | None = None) -> list[Event]:
        """Run periodically (e.g. every 10 s): publish a ``stale`` event per target gone quiet."""
        if self.tracker is None:
            return []
        events = self.tracker.tick(now or datetime.now(UTC))
        for e in events:
            if self.publish is not None:
                try:
                    await self.publish(EVENT_TOPIC, e.to_message())
                except Exception:
                    self.errors["publish"] += 1
                    log.exception("publishing %s failed", e.kind)
        return events

    async def sink(self, fixes: list[Fix]) -> None:
        """For protocol servers: raise unless stored (rejected fixes are final, not a failure)."""
        batch = await self.submit(fixes)
        if batch.fixes and not batch.persisted:
            raise NotStored(f"{len(batch.fixes)} fixes not stored (failed steps: {batch.failed})")


# -- the standard steps --------------------------------------------------------------------------


async def decode_step(batch: Batch) -> None:
    if batch.decoder is None:
        return
    try:
        batch.fixes = list(batch.decoder(batch.raw))
    except FixRejected as exc:
        batch.rejected.append(exc)


def validate_step(clock: Callable[[], datetime]) -> Step:
    async def validate(batch: Batch) -> None:
        if batch.validated:
            return
        check, kept = Validator(clock()), []
        for fix in batch.fixes:
            try:
                kept.append(check(fix))
            except FixRejected as exc:
                batch.rejected.append(exc)
        batch.fixes = kept
        batch.validated = True

    return validate


def enrich_step(areas: Callable[[], AreaIndex | None]) -> Step:
    async def enrich(batch: Batch) -> None:
        index = areas()
        if index is None or not batch.fixes or not len(index.ids):
            batch.areas = [NO_AREAS] * len(batch.fixes)
            return
        batch.areas = index.containing([f.lon for f in batch.fixes], [f.lat for f in batch.fixes])

    return enrich


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


def persist_step(writer: BatchWriter) -> Step:
    async def persist(batch: Batch) -> None:
        # Fixes without GNSS lock are not positions; their alarms have been seen by the detectors.
        located = [f for f in batch.fixes if f.valid]
        if located:
            await writer.add_many(located)
        batch.persisted = True

    return persist


def position_message(fix: Fix, areas: frozenset[int], target_id: int | None, time: str | None = None) -> dict:
    return {
        "target_id": target_id,
        "protocol": fix.protocol,
        "device_id": fix.device_id,
        "time": time or fix.fix_time.isoformat(),
        "lon": fix.lon,
        "lat": fix.lat,
        "speed_kmh": fix.speed_kmh,
        "course_deg": fix.course_deg,
        "accuracy_m": fix.accuracy_m,
        "sos": fix.sos,
        "areas": sorted(areas) if areas else [],
    }


def position_messages(fixes: list[Fix], areas: list[frozenset[int]],
                      target_id: Callable[[tuple[str, str]], int | None]) -> list[dict]:
    """The ``position`` messages of a batch's located fixes (``position_message`` of each; fixes of one
    batch often share their time: each distinct time is formatted once)."""
    iso = {t: t.isoformat() for t in {f.fix_time for f in fixes}}
    return [{"target_id": target_id((f.protocol, f.device_id)), "protocol": f.protocol, "device_id": f.device_id,
             "time": iso[f.fix_time], "lon": f.lon, "lat": f.lat, "speed_kmh": f.speed_kmh,
             "course_deg": f.course_deg, "accuracy_m": f.accuracy_m, "sos": f.sos,
             "areas": sorted(a) if a else []}
            for f, a in zip(fixes, areas, strict=True) if f.valid]


def publish_step(publish: Publish, writer: BatchWriter | None = None, live: Callable[[], bool] = lambda: True,
                 publish_many: PublishMany | None = None) -> Step:
    """Positions of a batch go out together (``publish_many``: one bus message) when the publisher
    can take a batch; events one by one (few, and never coalesced downstream)."""

    async def publish_all(batch: Batch) -> None:
        if not live():
            return  # nobody to tell (no live bus in this process): do not build a message per fix
        failures = total = 0
        fixes = batch.fixes
        areas = batch.areas if len(batch.areas) == len(fixes) else [NO_AREAS] * len(fixes)
        # The live map shows where a target is now (the hub keeps the latest per target and tick): of the
        # fixes of one target in this batch only the latest received goes out.
        latest = {(f.protocol, f.device_id): i for i, f in enumerate(fixes) if f.valid}
        if len(latest) < len(fixes):
            keep = sorted(latest.values())
            fixes, areas = [fixes[i] for i in keep], [areas[i] for i in keep]
        positions = position_messages(fixes, areas, writer.target_ids.get if writer else lambda _key: None)
        total += len(positions)
        if publish_many is not None:
            try:
                await publish_many(POSITION_TOPIC, positions)
            except Exception:
                failures += len(positions)
            messages = [(EVENT_TOPIC, e.to_message()) for e in batch.events]
        else:
            messages = [(POSITION_TOPIC, m) for m in positions] + [(EVENT_TOPIC, e.to_message()) for e in batch.events]
        total += len(batch.events)
        for topic, message in messages:
            try:
                await publish(topic, message)
            except Exception:
                failures += 1  # one lost live update must not stop the others
        if failures:
            raise RuntimeError(f"{failures} of {total} messages not published")

    return publish_all


_SOS_INCIDENT = text("""
INSERT INTO incident (type, priority, source, location, target_id, description)
SELECT 'sos', 1, 'device', ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), t.id, :description
FROM (SELECT 1) one LEFT JOIN target t ON t.protocol = :protocol AND t.external_id = :device_id""")


def sos_incident_step(engine: AsyncEngine) -> Step:
    """An SOS is an emergency: it becomes a priority-1 incident (after persist, so the target exists)."""

    async def raise_incidents(batch: Batch) -> None:
        sos = [e for e in batch.events if e.kind is EventKind.SOS]
        for e in sos:
            if e.lon is None:
                log.warning("SOS from %s with no position ever known: no incident location", e.target)
        sos = [e for e in sos if e.lon is not None]
        if not sos:
            return
        async with engine.begin() as conn:
            for e in sos:
                await conn.execute(
                    _SOS_INCIDENT,
                    {
                        "lon": e.lon,
                        "lat": e.lat,
                        "protocol": e.target[0],
                        "device_id": e.target[1],
                        "description": f"SOS from {e.target[0]} device {e.target[1]} at {e.at.isoformat()}",
                    },
                )

    return raise_incidents


def events_step(engine: AsyncEngine) -> Step:
    async def store(batch: Batch) -> None:
        await store_events(engine, batch.events)

    return store


def build_pipeline(
    *,
    writer: BatchWriter,
    publish: Publish,
    tracker: Tracker | None = None,
    areas: Callable[[], AreaIndex | None] = lambda: None,
    engine: AsyncEngine | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    live: Callable[[], bool] = lambda: True,
    publish_many: PublishMany | None = None,
) -> Pipeline:
    """The standard order. ``areas`` returns the current key-area index (reloaded by its owner)."""
    tracker = tracker or Tracker()
    steps: list[tuple[str, Step]] = [
        ("decode", decode_step),
        ("validate", validate_step(clock)),
        ("enrich", enrich_step(areas)),
        ("detect", tracker.detect),
        ("persist", persist_step(writer)),
    ]
    if engine is not None:
        steps.append(("events", events_step(engine)))
        steps.append(("incidents", sos_incident_step(engine)))
    steps.append(("publish", publish_step(publish, writer, live, publish_many)))
    return Pipeline(steps, tracker=tracker, publish=publish)
