"""Ingest inside the platform process: batch writer, pipeline, JT/T 808 listener and the periodic jobs.

``IngestRuntime.start()`` is called by the composition root (``app.runtime``). Live messages go to the
process's bus when one is running (looked up on every publish: the bus may be started after us, or not at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import shapely
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.domain.events import Topic
from app.domain.tracking import AreaIndex, Event
from app.ingest.coalesce import Coalescer
from app.ingest.event_store import store_events
from app.ingest.jt808.server import Jt808Server
from app.ingest.pipeline import Pipeline, Tracker, build_pipeline
from app.ingest.writer import BatchWriter
from app.services import incidents
from app.services.admission import Admission
from app.services.dispatch_tracking import dispatch_step
from app.services.live_feed import LiveFeed
from app.services.retention import enforce_retention
from app.services.viid_images import ImageStore
from app.services.viid_retention import ViidSweep
from app.services.viid_retention import sweep as viid_sweep

log = logging.getLogger(__name__)
RETENTION_EVERY_S = 3600.0  # idempotent; hourly so a process started at 23:59 still creates tomorrow


async def load_areas(engine: AsyncEngine) -> AreaIndex:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, ST_AsBinary(area) FROM key_area"))).all()
    return AreaIndex((r[0], shapely.from_wkb(bytes(r[1]))) for r in rows)


class IngestRuntime:
    def __init__(self, engine: AsyncEngine, settings: Settings, bus: Callable[[], object | None] = lambda: None,
                 *, jt808_port: int | None = None, writer: BatchWriter | None = None) -> None:
        self.engine, self.settings, self._bus = engine, settings, bus
        # Short waits: the JT/T 808 listener and the coalescer group already; under load flushes run back to
        # back (group commit), so a longer wait would only add latency. A flush starts at 500 rows (one
        # batch request) and takes at most 2,000: the two connections then take turns, the database copying
        # one flush while this process decodes the next requests. Bigger flushes came in convoys (the
        # database idle while the server decoded, then the reverse). bench/ingest_bench.py, interleaved
        # runs, median batch/raw COPY: 52-61 % at 2,000/20,000 rows, 59-75 % at 500/20,000, 61-62 % at
        # 500/1,000, 73-81 % at 500/2,000.
        self.writer = writer or BatchWriter(engine, max_delay_s=0.02, max_rows=500, max_batch_rows=2000)
        self.areas: AreaIndex | None = None
        # Older fixes are refused: their day's partition is dropped by retention (acknowledged = stored).
        self.max_age = timedelta(days=settings.position_retention_days)
        self.tracker = Tracker()
        self.dispatch = dispatch_step(engine, self.writer.target_id, self.publish)
        self.pipeline: Pipeline = build_pipeline(writer=self.writer, publish=self.publish, tracker=self.tracker,
                                                 areas=lambda: self.areas, engine=engine,
                                                 live=lambda: self._bus() is not None,
                                                 publish_many=self.publish_many, max_age=self.max_age,
                                                 open_sos=self.open_sos, dispatch=self.dispatch)
        self.coalescer = Coalescer(self.pipeline)
        self.devices = Admission(engine, settings.device_token)  # one admission rule for every protocol
        self.feed = LiveFeed(engine)
        self.jt808_port = settings.jt808_port if jt808_port is None else jt808_port
        self.jt808: Jt808Server | None = None
        self._tasks: list[asyncio.Task] = []
        self.viid_swept: ViidSweep | None = None  # the last view-library retention sweep (health)

    async def publish(self, topic: str, message: dict) -> None:
        bus = self._bus()
        if bus is None:
            return
        translated = await self.feed.translate(topic, message)
        if translated is not None:
            await bus.publish(*translated)

    async def publish_many(self, topic: str, messages: list[dict]) -> None:
        """A batch's messages of one topic: positions (enriched by the pipeline) go to the bus as one
        message."""
        bus = self._bus()
        if bus is None or not messages:
            return
        if topic != Topic.POSITIONS:
            for message in messages:
                await self.publish(topic, message)
            return
        await bus.publish_many(Topic.POSITIONS, messages)

    async def open_sos(self, events: list[Event]) -> list[dict]:
        return await incidents.open_sos(self.engine, events)

    async def jt808_sink(self, fixes: list) -> None:
        await self.pipeline.sink(fixes, validated=True)

    async def start(self) -> IngestRuntime:
        await self.writer.start()
        try:  # positions are the source of truth: last_* a crash left behind catches up here
            await self.writer.repair_last()
        except Exception:
            log.exception("target.last_* repair failed")
        await self.refresh_areas()
        await self.retention()
        if self.jt808_port:
            # The listener groups the fixes of all its connections itself (group commit): straight to the pipeline.
            # It validates before it groups and answers on that decision: the pipeline does not re-judge.
            server = Jt808Server(self.jt808_sink, secret=self.settings.secret_key, host=self.settings.host,
                                 port=self.jt808_port, admit=self.devices.jt808, max_age=self.max_age)
            try:
                await server.start()
                self.jt808 = server
            except OSError as exc:
                # The API stays useful without the listener (e.g. a second API process on the same host).
                log.error("JT/T 808 listener not started on port %d: %s", self.jt808_port, exc)
        self._tasks = [
            self._every(self.settings.area_refresh_s, self.refresh_areas, "areas"),
            self._every(self.settings.stale_check_s, self.check_stale, "stale"),
            self._every(RETENTION_EVERY_S, self.retention, "retention"),
            self._every(RETENTION_EVERY_S, self.viid_retention, "viid-retention"),
        ]
        return self

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.jt808 is not None:
            await self.jt808.close()
        await self.coalescer.close()
        await self.writer.close()  # flushes what is buffered: nothing acknowledged is pending here

    def _every(self, period_s: float, job: Callable[[], Awaitable[object]], name: str) -> asyncio.Task:
        async def loop() -> None:
            while True:
                await asyncio.sleep(period_s)
                try:
                    await job()
                except Exception:  # a failed run is retried at the next period
                    log.exception("periodic ingest job %r failed", name)

        return asyncio.create_task(loop(), name=f"ingest-{name}")

    async def refresh_areas(self) -> None:
        self.areas = await load_areas(self.engine)

    async def check_stale(self, now: datetime | None = None) -> None:
        events = await self.pipeline.check_stale(now or datetime.now(UTC))
        await store_events(self.engine, events)

    async def retention(self) -> None:
        async with self.engine.begin() as conn:
            run = await enforce_retention(conn, self.settings.position_retention_days)
        if run.dropped:
            log.info("retention dropped partitions %s", ", ".join(run.dropped))

    async def viid_retention(self) -> ViidSweep:
        s = self.settings
        run = await viid_sweep(self.engine, ImageStore(s.viid_image_root), s.viid_retention_days,
                               s.viid_retention_batch, kinds=s.viid_retention_by_kind,
                               face_image_days=s.viid_face_image_retention_days)
        self.viid_swept = run
        if run.vehicles or run.objects or run.held or run.face_images:
            log.info("view-library retention (before %s): %d passes, %d other records, %d image files deleted "
                     "in %d batches; %d expired passes kept for open alarms; %d faces' images removed",
                     run.cutoff.isoformat(), run.vehicles, run.objects, run.images, run.batches, run.held,
                     run.face_images)
        return run


@contextlib.asynccontextmanager
async def running(engine: AsyncEngine, settings: Settings, bus: Callable[[], object | None] = lambda: None,
                  *, jt808: bool = True):
    """``jt808`` False: writer, pipeline and periodic jobs only (an API process's HTTP reports)."""
    rt = await IngestRuntime(engine, settings, bus, jt808_port=None if jt808 else 0).start()
    try:
        yield rt
    finally:
        await rt.stop()
