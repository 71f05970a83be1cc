"""The recordings sweep on a schedule, in the process that runs the SIP server: every ``every_s`` it asks a
batch of due channels what their devices hold (``app.services.recordings.sweep``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from app.realtime.rpc import DeviceCalls
from app.services import recordings

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def sweeping(engine: AsyncEngine, calls: DeviceCalls, every_s: float, batch: int, recheck_h: float):
    """Run the sweep until exit; ``every_s`` ≤ 0 disables it."""
    if every_s <= 0:
        yield None
        return

    async def loop() -> None:
        await asyncio.sleep(min(every_s, 60.0))  # let devices register after a restart first
        while True:
            try:
                await recordings.sweep(engine, calls, limit=batch, every=timedelta(hours=recheck_h))
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be down for a while: try again next round
                log.exception("recordings sweep failed")
            await asyncio.sleep(every_s)

    task = asyncio.create_task(loop(), name="recordings-sweep")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
