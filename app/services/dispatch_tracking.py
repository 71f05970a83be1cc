"""Ingest → dispatch: a dispatched unit's new fix refreshes its ETA, and arrival puts it on scene.

A pipeline step (after persist). Units with an active dispatch are few: their target ids are read at
most every ``ACTIVE_EVERY_S`` (and right after an assignment, ``DispatchStep.invalidate``), so a batch
without any of them costs no query; the road ETA is recomputed at most every ``ETA_EVERY_S`` per
dispatch, arrival is checked on every fix.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.events import Topic
from app.services import dispatch

log = logging.getLogger(__name__)
ETA_EVERY_S = 5.0
ACTIVE_EVERY_S = 1.0  # a dispatch made by another API process is followed after at most this long
_ACTIVE = text("SELECT DISTINCT u.target_id FROM dispatch d JOIN unit u ON u.id = d.unit_id "
               "WHERE d.status IN ('assigned', 'en_route') AND u.target_id IS NOT NULL")


class DispatchStep:
    def __init__(self, engine: AsyncEngine, target_id: Callable[[tuple[str, str]], int | None],
                 publish: Callable[[str, dict], Awaitable[object]]) -> None:
        self.engine, self.target_id, self.publish = engine, target_id, publish
        self.last_eta: dict[int, float] = {}
        self._active: frozenset[int] = frozenset()
        self._active_at = -1e9

    def invalidate(self) -> None:
        """Dispatches changed in this process: read the active ones again before the next batch."""
        self._active_at = -1e9

    async def _active_targets(self) -> frozenset[int]:
        if time.monotonic() - self._active_at > ACTIVE_EVERY_S:
            self._active_at = time.monotonic()
            async with self.engine.connect() as conn:
                self._active = frozenset((await conn.execute(_ACTIVE)).scalars())
        return self._active

    async def __call__(self, batch) -> None:  # app.ingest.pipeline.Batch: a pipeline step
        if not batch.persisted or not batch.fixes:
            return
        active = await self._active_targets()
        if not active:
            return
        latest: dict[int, tuple[float, float, float | None]] = {}  # lon, lat, course when moving
        for fix in sorted(batch.fixes, key=lambda f: f.fix_time):
            tid = self.target_id((fix.protocol, fix.device_id))
            if tid in active and fix.valid:
                latest[tid] = (fix.lon, fix.lat, dispatch.flow.moving_course(fix.course_deg, fix.speed_kmh))
        if not latest:
            return
        await self._follow(latest)

    async def _follow(self, latest: dict[int, tuple[float, float, float | None]]) -> None:
        engine, last_eta, publish = self.engine, self.last_eta, self.publish
        async with engine.begin() as conn:
            active = set((await conn.execute(text(
                "SELECT u.target_id FROM dispatch d JOIN unit u ON u.id = d.unit_id "
                "WHERE d.status IN ('assigned', 'en_route') AND u.target_id = ANY(:ids)"),
                {"ids": list(latest)})).scalars())
            changes = []
            now = time.monotonic()
            for tid in active:
                if now - last_eta.get(tid, -1e9) < ETA_EVERY_S and not await _near(conn, tid, *latest[tid][:2]):
                    continue
                last_eta[tid] = now
                changes += await dispatch.on_position(conn, tid, *latest[tid])
        for change in changes:
            await publish(Topic.DISPATCH, {"op": "progress", **change})


def dispatch_step(engine: AsyncEngine, target_id: Callable[[tuple[str, str]], int | None],
                  publish: Callable[[str, dict], Awaitable[object]]) -> DispatchStep:
    return DispatchStep(engine, target_id, publish)


async def _near(conn, target_id: int, lon: float, lat: float) -> bool:
    """Inside the arrival radius of its incident: checked on every fix, whatever the ETA throttle says."""
    return bool((await conn.execute(text(
        "SELECT 1 FROM dispatch d JOIN unit u ON u.id = d.unit_id JOIN incident i ON i.id = d.incident_id "
        "WHERE u.target_id = :t AND d.status IN ('assigned', 'en_route') AND ST_DWithin(i.location::geography, "
        "ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography, :r)"),
        {"t": target_id, "x": lon, "y": lat, "r": dispatch.flow.ARRIVAL_RADIUS_M})).first())
