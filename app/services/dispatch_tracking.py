"""Ingest → dispatch: a dispatched unit's new fix refreshes its ETA, and arrival puts it on scene.

A pipeline step (after persist). Units with an active dispatch are few, so one indexed query per batch
finds them; the road ETA is recomputed at most every ``ETA_EVERY_S`` per dispatch, arrival is checked
on every fix.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.ingest.pipeline import Batch
from app.services import dispatch

log = logging.getLogger(__name__)
ETA_EVERY_S = 5.0


def dispatch_step(engine: AsyncEngine, target_id: Callable[[tuple[str, str]], int | None],
                  publish: Callable[[str, dict], Awaitable[object]]):
    last_eta: dict[int, float] = {}

    async def step(batch: Batch) -> None:
        if not batch.persisted or not batch.fixes:
            return
        latest: dict[int, tuple[float, float]] = {}
        for fix in sorted(batch.fixes, key=lambda f: f.fix_time):
            tid = target_id((fix.protocol, fix.device_id))
            if tid is not None and fix.valid:
                latest[tid] = (fix.lon, fix.lat)
        if not latest:
            return
        async with engine.begin() as conn:
            active = set((await conn.execute(text(
                "SELECT u.target_id FROM dispatch d JOIN unit u ON u.id = d.unit_id "
                "WHERE d.status IN ('assigned', 'en_route') AND u.target_id = ANY(:ids)"),
                {"ids": list(latest)})).scalars())
            changes = []
            now = time.monotonic()
            for tid in active:
                if now - last_eta.get(tid, -1e9) < ETA_EVERY_S and not await _near(conn, tid, *latest[tid]):
                    continue
                last_eta[tid] = now
                changes += await dispatch.on_position(conn, tid, *latest[tid])
        for change in changes:
            await publish("dispatch", {"op": "progress", **change})

    return step


async def _near(conn, target_id: int, lon: float, lat: float) -> bool:
    """Inside the arrival radius of its incident: checked on every fix, whatever the ETA throttle says."""
    return bool((await conn.execute(text(
        "SELECT 1 FROM dispatch d JOIN unit u ON u.id = d.unit_id JOIN incident i ON i.id = d.incident_id "
        "WHERE u.target_id = :t AND d.status IN ('assigned', 'en_route') AND ST_DWithin(i.location::geography, "
        "ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography, :r)"),
        {"t": target_id, "x": lon, "y": lat, "r": dispatch.flow.ARRIVAL_RADIUS_M})).first())
