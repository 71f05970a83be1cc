"""The GB/T 28181 SIP server inside the platform process: its positions join the ingest pipeline."""

from __future__ import annotations

import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import make_sessionmaker
from app.domain.fix import Fix
from app.ingest.gb28181 import Gb28181Settings
from app.ingest.gb28181.mapping import PositionFix
from app.ingest.gb28181.server import Gb28181Server
from app.services.gb28181_store import Gb28181Store
from app.services.ingest_runtime import IngestRuntime

log = logging.getLogger(__name__)


def to_fix(p: PositionFix) -> Fix:
    return Fix(device_id=p.device_id, protocol="gb28181", fix_time=p.fix_time, lon=p.lon, lat=p.lat,
               speed_kmh=p.speed_kmh, course_deg=p.course_deg, altitude_m=p.altitude_m)


@contextlib.asynccontextmanager
async def running(engine: AsyncEngine, ingest: IngestRuntime, settings: Gb28181Settings | None = None,
                  device_passwords: dict[str, str] | None = None):
    """Yield the running server (or None when disabled or its port is taken); stop it on exit."""
    settings = settings or Gb28181Settings()
    if not settings.enabled:
        yield None
        return

    async def sink(fixes: list[PositionFix]) -> None:
        await ingest.coalescer.sink([to_fix(p) for p in fixes])

    server = Gb28181Server(settings, store=Gb28181Store(make_sessionmaker(engine)), position_sink=sink,
                           publish=ingest.publish, device_passwords=device_passwords)
    try:
        await server.start()
    except OSError as exc:
        # Port taken (another process on this host runs the SIP server): the API stays useful without it.
        log.error("GB/T 28181 server not started on port %d: %s", settings.port, exc)
        yield None
        return
    try:
        yield server
    finally:
        await server.stop()
