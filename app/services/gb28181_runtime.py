"""The GB/T 28181 SIP server inside the platform process: its positions join the ingest pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import make_sessionmaker
from app.domain.fix import Fix
from app.ingest.gb28181 import Gb28181Settings
from app.ingest.gb28181.mapping import PositionFix
from app.ingest.gb28181.ptz import COMMAND_BITS
from app.ingest.gb28181.server import Gb28181Server
from app.realtime.bus import Bus
from app.services.gb28181_store import Gb28181Store
from app.services.ingest_runtime import IngestRuntime

log = logging.getLogger(__name__)


def to_fix(p: PositionFix) -> Fix:
    return Fix(device_id=p.device_id, protocol="gb28181", fix_time=p.fix_time, lon=p.lon, lat=p.lat,
               speed_kmh=p.speed_kmh, course_deg=p.course_deg, altitude_m=p.altitude_m)


def forward_ptz(server: Gb28181Server, bus: Bus) -> Callable[[], None]:
    """PTZ commands published on the bus (POST /cameras/{id}/ptz, from any API process) go to the camera
    through this process's SIP server when the camera's device is registered here. Returns unsubscribe."""
    tasks: set[asyncio.Task] = set()

    def on_message(topic: str, msg: dict) -> None:
        if msg.get("action") not in COMMAND_BITS or not msg.get("gb_id"):
            return  # goto (an absolute bearing) needs the camera's pan calibration: not sent
        if server.device_of(msg["gb_id"]) is None:
            return  # registered with another process's server, or not a GB/T 28181 camera
        task = asyncio.get_running_loop().create_task(server.ptz(msg["gb_id"], msg["action"], int(msg["speed"])))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    return bus.subscribe(on_message, topics={"ptz"})


@contextlib.asynccontextmanager
async def running(engine: AsyncEngine, ingest: IngestRuntime, settings: Gb28181Settings | None = None,
                  device_passwords: dict[str, str] | None = None, bus: Bus | None = None):
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
    unsubscribe = forward_ptz(server, bus) if bus is not None else None
    try:
        yield server
    finally:
        if unsubscribe is not None:
            unsubscribe()
        await server.stop()
