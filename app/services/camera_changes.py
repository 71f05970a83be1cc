"""What follows a camera change, after it is committed: stored coverage/KPIs recomputed around it."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.services import coverage_run

log = logging.getLogger(__name__)


async def after_camera_change(engine: AsyncEngine, camera_id: int) -> None:
    try:
        async with engine.begin() as conn:
            # One recompute at a time: neighbouring cameras share result rows (duplicates, KPIs).
            await conn.execute(text("SELECT pg_advisory_xact_lock(7291002)"))
            await coverage_run.on_camera_changed(conn, camera_id)
    except Exception:  # the change itself is committed; a failed recompute is redone by the next full run
        log.exception("coverage recompute after camera %s change failed", camera_id)
