"""The ingest pipeline: decode → validate → enrich → detect events → persist → publish.

Each step is an async callable over one ``Batch``; the pipeline runs them in order and a failing step
is logged and counted without stopping the others. Whether the batch was stored is explicit
(``batch.persisted``): protocol handlers acknowledge a device only then (``Pipeline.sink``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.fix import Fix, FixRejected, validate_fix
from app.domain.tracking import AreaIndex, Event, EventKind, Observation, Rules, TargetState, on_fix, on_tick
from app.ingest.event_store import store_events
from app.ingest.writer import BatchWriter

log = logging.getLogger(__name__)
Publish = Callable[[str, dict], Awaitable[object]]
Decoder = Callable[[Any], list[Fix]]
POSITION_TOPIC, EVENT_TOPIC = "position", "event"


class NotStored(RuntimeError):
    """The batch could not be persisted: the device must not be acknowledged."""


@dataclass
class Batch:
    fixes: list[Fix] = field(default_factory=list)
    raw: Any = None
    decoder: Decoder | None = None
    rejected: list[FixRejected] = field(default_factory=list)
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
            try:
                await step(batch)
            except Exception:
                self.errors[name] += 1
                batch.failed.append(name)
                log.exception("ingest step %r failed on %d fixes", name, len(batch.fixes))
        self.rejected.update(r.reason for r in batch.rejected)
        return batch

    async def submit(self, fixes: list[Fix]) -> Batch:
        return await self.run(Batch(list(fixes)))

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
        now, kept = clock(), []
        for fix in batch.fixes:
            try:
                kept.append(validate_fix(fix, now))
            except FixRejected as exc:
                batch.rejected.append(exc)
        batch.fixes = kept

    return validate


def enrich_step(areas: Callable[[], AreaIndex | None]) -> Step:
    async def enrich(batch: Batch) -> None:
        index = areas()
        if index is None or not batch.fixes:
            batch.areas = [frozenset()] * len(batch.fixes)
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
        areas = batch.areas if len(batch.areas) == len(batch.fixes) else [frozenset()] * len(batch.fixes)
        order = sorted(range(len(batch.fixes)), key=lambda i: batch.fixes[i].fix_time)
        for i in order:
            batch.events += self.observe(batch.fixes[i], areas[i])


def persist_step(writer: BatchWriter) -> Step:
    async def persist(batch: Batch) -> None:
        # Fixes without GNSS lock are not positions; their alarms have been seen by the detectors.
        located = [f for f in batch.fixes if f.valid]
        if located:
            await writer.add_many(located)
        batch.persisted = True

    return persist


def position_message(fix: Fix, areas: frozenset[int], target_id: int | None) -> dict:
    return {
        "target_id": target_id,
        "protocol": fix.protocol,
        "device_id": fix.device_id,
        "time": fix.fix_time.isoformat(),
        "lon": fix.lon,
        "lat": fix.lat,
        "speed_kmh": fix.speed_kmh,
        "course_deg": fix.course_deg,
        "accuracy_m": fix.accuracy_m,
        "sos": fix.sos,
        "areas": sorted(areas),
    }


def publish_step(publish: Publish, writer: BatchWriter | None = None, live: Callable[[], bool] = lambda: True) -> Step:
    async def publish_all(batch: Batch) -> None:
        if not live():
            return  # nobody to tell (no live bus in this process): do not build a message per fix
        failures = 0
        areas = batch.areas if len(batch.areas) == len(batch.fixes) else [frozenset()] * len(batch.fixes)
        messages = [
            (POSITION_TOPIC, position_message(f, a, writer.target_id(f.key) if writer else None))
            for f, a in zip(batch.fixes, areas, strict=True)
            if f.valid
        ]
        messages += [(EVENT_TOPIC, e.to_message()) for e in batch.events]
        for topic, message in messages:
            try:
                await publish(topic, message)
            except Exception:
                failures += 1  # one lost live update must not stop the others
        if failures:
            raise RuntimeError(f"{failures} of {len(messages)} messages not published")

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
    steps.append(("publish", publish_step(publish, writer, live)))
    return Pipeline(steps, tracker=tracker, publish=publish)
