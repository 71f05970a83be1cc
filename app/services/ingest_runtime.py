"""Ingest inside the platform process: batch writer, pipeline, JT/T 808 listener and the periodic jobs.

``IngestRuntime.start()`` is called from the app lifespan. Live messages go to ``app.state.bus`` when a
bus is running (looked up on every publish: the bus may be started after us, or not at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import shapely
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.domain.errors import Forbidden
from app.domain.tracking import AreaIndex
from app.ingest.coalesce import Coalescer
from app.ingest.event_store import store_events
from app.ingest.jt808.server import Jt808Server
from app.ingest.pipeline import Pipeline, Tracker, build_pipeline
from app.ingest.writer import BatchWriter
from app.services.dispatch_tracking import dispatch_step
from app.services.live_feed import LiveFeed
from app.services.retention import enforce_retention

log = logging.getLogger(__name__)
RETENTION_EVERY_S = 3600.0  # idempotent; hourly so a process started at 23:59 still creates tomorrow
NEGATIVE_CACHE_S = 10.0  # an unknown device is asked about at most this often


class DeviceAuth:
    """HTTP devices: a registered target, or the deployment's device token (then registered on first fix)."""

    def __init__(self, engine: AsyncEngine, token: str | None) -> None:
        self.engine, self.token = engine, token
        self._known: set[tuple[str, str]] = set()
        self._unknown: dict[tuple[str, str], float] = {}

    async def check(self, key: tuple[str, str], token: str | None) -> None:
        if self.token and token is not None:
            if not _same(token, self.token):
                raise Forbidden("wrong device token")
            return
        if key in self._known:
            return
        if time.monotonic() - self._unknown.get(key, -1e9) > NEGATIVE_CACHE_S:
            async with self.engine.connect() as conn:
                found = (await conn.execute(text("SELECT 1 FROM target WHERE protocol = :p AND external_id = :e"),
                                            {"p": key[0], "e": key[1]})).first()
            if found:
                self._known.add(key)
                self._unknown.pop(key, None)
                return
            if len(self._unknown) > 100_000:
                self._unknown.clear()  # bounded under a flood of invented ids
            self._unknown[key] = time.monotonic()
        raise Forbidden(f"device {key[1]!r} is not registered (register it as a target, or send the device token)")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


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
        self.tracker = Tracker()
        self.pipeline: Pipeline = build_pipeline(writer=self.writer, publish=self.publish, tracker=self.tracker,
                                                 areas=lambda: self.areas, engine=engine,
                                                 live=lambda: self._bus() is not None,
                                                 publish_many=self.publish_many)
        # Before "publish": a dispatched unit's fix moves its ETA and may put it on scene.
        self.dispatch = dispatch_step(engine, self.writer.target_id, self.publish)
        self.pipeline.steps.insert(len(self.pipeline.steps) - 1, ("dispatch", self.dispatch))
        self.coalescer = Coalescer(self.pipeline)
        self.devices = DeviceAuth(engine, settings.device_token)
        self.feed = LiveFeed(engine)
        self.jt808_port = settings.jt808_port if jt808_port is None else jt808_port
        self.jt808: Jt808Server | None = None
        self._tasks: list[asyncio.Task] = []

    async def publish(self, topic: str, message: dict) -> None:
        bus = self._bus()
        if bus is None:
            return
        translated = await self.feed.translate(topic, message)
        if translated is not None:
            await bus.publish(*translated)

    async def publish_many(self, topic: str, messages: list[dict]) -> None:
        """A batch's messages of one topic: positions are translated with at most one query and go to
        the bus as one message."""
        bus = self._bus()
        if bus is None or not messages:
            return
        if topic != "position":
            for message in messages:
                await self.publish(topic, message)
            return
        translated = await self.feed.positions(messages)
        if translated:
            await bus.publish_many("positions", translated)

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
            server = Jt808Server(self.pipeline.sink, secret=self.settings.secret_key, host=self.settings.host,
                                 port=self.jt808_port)
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


@contextlib.asynccontextmanager
async def running(engine: AsyncEngine, settings: Settings, bus: Callable[[], object | None] = lambda: None):
    rt = await IngestRuntime(engine, settings, bus).start()
    try:
        yield rt
    finally:
        await rt.stop()
