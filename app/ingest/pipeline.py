"""The ingest pipeline: decode → validate → split history → enrich → detect events → persist → publish.

History (a blind-area backfill, a fix that arrives more than ``LIVE_WINDOW`` late, or one not newer than its
target's last live fix) is stored with its own time but is not live: it skips the area index, the detectors
and the live feed (``batch.history``), and ``target.last_*`` only ever moves forward (writer).

Each step is an async callable over one ``Batch``; the pipeline runs them in order and a failing step
is logged and counted without stopping the others. Whether the batch was stored is explicit
(``batch.persisted``): protocol handlers acknowledge a device only then (``Pipeline.sink``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.events import Topic
from app.domain.fix import LIVE_WINDOW, MAX_AGE, Fix, FixRejected, Validator
from app.domain.tracking import (
    NO_AREAS,
    AreaIndex,
    Event,
    EventKind,
)
from app.ingest.event_store import store_events
from app.ingest.target_meta import DEFAULT_KIND, TargetMeta
from app.ingest.tracker import Tracker
from app.ingest.writer import BatchWriter

log = logging.getLogger(__name__)
Publish = Callable[[str, dict], Awaitable[object]]
PublishMany = Callable[[str, list[dict]], Awaitable[object]]
Decoder = Callable[[Any], list[Fix]]
POSITION_TOPIC, EVENT_TOPIC = Topic.POSITIONS, Topic.EVENTS
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
    history: list[Fix] = field(default_factory=list)  # stored, not live (see the module docstring)
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

    async def sink(self, fixes: list[Fix], *, validated: bool = False) -> None:
        """For protocol servers: raise unless stored. A protocol that acknowledges must validate first
        (``validated=True``: nothing is dropped here after its decision); otherwise rejected fixes are
        final, not a failure."""
        batch = await self.submit(fixes, validated=validated)
        if (batch.fixes or batch.history) and not batch.persisted:
            raise NotStored(f"{len(batch.fixes) + len(batch.history)} fixes not stored "
                            f"(failed steps: {batch.failed})")


# -- the standard steps --------------------------------------------------------------------------


async def decode_step(batch: Batch) -> None:
    if batch.decoder is None:
        return
    try:
        batch.fixes = list(batch.decoder(batch.raw))
    except FixRejected as exc:
        batch.rejected.append(exc)


def validate_step(clock: Callable[[], datetime], max_age: timedelta = MAX_AGE) -> Step:
    async def validate(batch: Batch) -> None:
        if batch.validated:
            return
        check, kept = Validator(clock(), max_age=max_age), []
        for fix in batch.fixes:
            try:
                kept.append(check(fix))
            except FixRejected as exc:
                batch.rejected.append(exc)
        batch.fixes = kept
        batch.validated = True

    return validate


def history_step(tracker: Tracker, clock: Callable[[], datetime], window: timedelta = LIVE_WINDOW) -> Step:
    async def split(batch: Batch) -> None:
        live, history = tracker.split_history(batch.fixes, clock() - window)
        if history:
            batch.fixes, batch.history = live, batch.history + history

    return split


def enrich_step(areas: Callable[[], AreaIndex | None]) -> Step:
    async def enrich(batch: Batch) -> None:
        index = areas()
        if index is None or not batch.fixes or not len(index.ids):
            batch.areas = [NO_AREAS] * len(batch.fixes)
            return
        batch.areas = index.containing([f.lon for f in batch.fixes], [f.lat for f in batch.fixes])

    return enrich


def persist_step(writer: BatchWriter) -> Step:
    async def persist(batch: Batch) -> None:
        # Fixes without GNSS lock are not positions; their alarms have been seen by the detectors.
        located = [f for f in batch.fixes if f.valid]
        located += [f for f in batch.history if f.valid]
        if located:
            await writer.add_many(located)
        batch.persisted = True

    return persist


def position_messages(fixes: list[Fix], areas: list[frozenset[int]], tids: list[int | None],
                      filing: Mapping[int, tuple[float, str | None, str]] | None = None) -> list[dict]:
    """The ``position`` messages of a batch's located fixes, built in one pass (fixes of one batch often
    share their time: each distinct time is formatted once). With ``filing`` (target id → (expires,
    division, kind), ``TargetMeta.filing``) each message also carries what the hub files it under and the
    time ``t`` it went live, and a fix without a target is left out (nobody could be shown it); without it
    the division is unknown (None) and every located fix is kept."""
    iso = {t: t.isoformat() for t in {f.fix_time for f in fixes}}
    t, unknown, keep_unknown = time.time(), (0.0, None, DEFAULT_KIND), filing is None
    filing = filing or {}
    return [{"target_id": tid, "protocol": f.protocol, "device_id": f.device_id, "time": iso[f.fix_time],
             "lon": f.lon, "lat": f.lat, "speed_kmh": f.speed_kmh, "course_deg": f.course_deg,
             "accuracy_m": f.accuracy_m, "sos": f.sos, "areas": sorted(a) if a else [],
             "division": (m := filing.get(tid, unknown))[1], "kind": m[2], "t": t}
            for f, a, tid in zip(fixes, areas, tids, strict=True) if f.valid and (tid is not None or keep_unknown)]


def publish_step(publish: Publish, writer: BatchWriter | None = None, live: Callable[[], bool] = lambda: True,
                 publish_many: PublishMany | None = None, meta: TargetMeta | None = None) -> Step:
    """Positions of a batch go out together (``publish_many``: one bus message) when the publisher
    can take a batch; events one by one (few, and never coalesced downstream). With ``meta`` the
    positions are enriched here, once, with what the hub files them under (division, kind)."""

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
        ids = writer.target_ids if writer else {}
        tids = [ids.get((f.protocol, f.device_id)) for f in fixes]
        filing = None
        if meta is not None:
            try:
                filing = await meta.filing(tids)
            except Exception:  # no division to file them under: these positions are lost, the events not
                failures = sum(f.valid for f in fixes)
        positions = [] if failures else position_messages(fixes, areas, tids, filing)
        total += failures or len(positions)
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


OpenSos = Callable[[list[Event]], Awaitable[list[dict]]]  # SOS events → the bus messages of their incidents


def sos_incident_step(open_sos: OpenSos, publish: Publish) -> Step:
    """An SOS is an emergency: it becomes a priority-1 incident (after persist, so the target exists),
    announced on ``incidents`` with its division like any other (``services.incidents.open_sos``)."""

    async def raise_incidents(batch: Batch) -> None:
        sos = [e for e in batch.events if e.kind is EventKind.SOS]
        for e in sos:
            if e.lon is None:
                log.warning("SOS from %s with no position ever known: no incident location", e.target)
        sos = [e for e in sos if e.lon is not None]
        if not sos:
            return
        for message in await open_sos(sos):
            await publish(Topic.INCIDENTS, message)

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
    max_age: timedelta = MAX_AGE,
    live_window: timedelta = LIVE_WINDOW,
    open_sos: OpenSos | None = None,
    dispatch: Step | None = None,
) -> Pipeline:
    """The standard order, declared once: a position's whole path from decoded fix to the bus.
    ``areas`` returns the current key-area index (reloaded by its owner); with ``engine`` events are
    stored and positions go out with their target's division and kind; ``open_sos`` opens the
    incidents of SOS events; ``dispatch`` follows dispatched units (before publish: a fix moves their ETA
    and may put them on scene)."""
    tracker = tracker or Tracker()
    steps: list[tuple[str, Step]] = [
        ("decode", decode_step),
        ("validate", validate_step(clock, max_age)),
        ("history", history_step(tracker, clock, live_window)),
        ("enrich", enrich_step(areas)),
        ("detect", tracker.detect),
        ("persist", persist_step(writer)),
    ]
    if engine is not None:
        steps.append(("events", events_step(engine)))
    if open_sos is not None:
        steps.append(("incidents", sos_incident_step(open_sos, publish)))
    if dispatch is not None:
        steps.append(("dispatch", dispatch))
    meta = TargetMeta(engine) if engine is not None else None
    steps.append(("publish", publish_step(publish, writer, live, publish_many, meta)))
    return Pipeline(steps, tracker=tracker, publish=publish)
