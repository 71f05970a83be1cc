"""The composition root: what one platform process runs, built and torn down in one place.

Above the layers (``api``/``cli`` → runtime → services → db/domain/realtime): it is the only package that
knows both the protocol listeners and the services they feed. ``Runtime.running`` opens, in order, the
database engine, the bus, the websocket hub (its KPI and principal look-ups from the services), the
ingest (writer, pipeline, JT/T 808 listener, periodic jobs) and the GB/T 28181 SIP server; it closes them
in reverse. The process's role (``settings.role``, the table in ``roles.py``) decides which of them it opens.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db.engine import make_engine, make_read_engine
from app.db.partitions import ensure_partitions
from app.domain.access import Principal, Scope
from app.realtime import rpc
from app.realtime.bus import Bus, make_bus
from app.realtime.hub import Hub
from app.realtime.rpc import DeviceCalls
from app.runtime import cascade, gb28181, ingest, recordings
from app.runtime.ingest import IngestRuntime
from app.runtime.media_relay import media_ops
from app.runtime.roles import runs
from app.runtime.video import GbVideo
from app.services import kpi, security

Subscriber = tuple[Callable[[str, dict], object], Collection[str]]


def hub_lookups(engine: AsyncEngine) -> dict:
    """The hub's KPI and principal look-ups (``Hub(kpi=..., reload=...)``), straight from the services."""

    async def kpi_for(scope: Scope) -> dict:
        async with engine.connect() as conn:
            return await kpi.summary(conn, scope)

    async def reload_principal(user_id: int, token_version: int | None) -> Principal | None:
        """The user's rights now, or None once the feed's token is revoked (logout, user disabled)."""
        async with engine.connect() as conn:
            try:
                return await security.load_principal(conn, user_id,
                                                     token_version if token_version is not None else -1)
            except security.AuthError:
                return None

    return {"kpi": kpi_for, "reload": reload_principal}


def _if(cond: bool, cm: contextlib.AbstractAsyncContextManager):
    """``cm`` when the role runs that part, else None in its place."""
    return cm if cond else contextlib.nullcontext()


@dataclass
class Runtime:
    engine: AsyncEngine
    bus: Bus
    hub: Hub | None  # None: an ingest process (no websocket clients)
    ingest: IngestRuntime | None = None
    gb28181: object | None = None  # the running Gb28181Server, or None (disabled, or its port taken)
    calls: DeviceCalls | None = None  # calls to GB/T 28181 devices, answered by whichever process holds them
    video: GbVideo | None = None  # live and playback video of the channels whose devices registered here
    cascade: object | None = None  # links to upper platforms (GB/T 28181 cascade) from this SIP server
    role: str = "all"
    read_engine: AsyncEngine | None = None  # DATABASE_READ_URL's pool (heavy reads), None: reads use ``engine``

    def health(self) -> dict:
        """What this process runs, for ``/api/v1/health``: its role, listeners bound, bus connected."""
        jt808 = self.ingest.jt808 if self.ingest is not None else None
        sip = self.gb28181
        return {"role": self.role, "hub": self.hub is not None,
                "bus": "redis" if type(self.bus).__name__ == "RedisBus" else "local",
                "bus_connected": bool(getattr(self.bus, "connected", True)),
                "jt808_port": jt808.port if jt808 is not None else None,
                "jt808_connections": len(jt808.conns) if jt808 is not None else None,
                "sip_udp_port": getattr(sip, "udp_port", None) if sip is not None and sip.settings.udp else None,
                "sip_tcp_port": getattr(sip, "tcp_port", None) if sip is not None and sip.settings.tcp else None,
                "viid_retention": self.ingest.viid_swept if self.ingest is not None else None}

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, settings: Settings, database_url: str,
                      subscribers: Collection[Subscriber] = ()) -> AsyncIterator[Runtime]:
        """``subscribers``: (callback, topics) put on the bus before anything publishes (e.g. the API's
        caches that drop entries on ``cameras`` / ``access``)."""
        # A database that does not answer within the timeout is down: requests get 503 at once instead of
        # waiting for asyncpg's 60 s default; the pool's pre-ping drops dead connections, so it recovers
        # by itself when the database is back.
        engine = make_engine(database_url, connect_args={"timeout": settings.db_connect_timeout_s})
        # Only processes that answer HTTP read through it; nothing is opened before the first request.
        reader = make_read_engine(settings.database_read_url, connect_args={"timeout": settings.db_connect_timeout_s}) \
            if settings.database_read_url and runs(settings.role, "http") else None
        try:
            async with engine.begin() as conn:
                await ensure_partitions(conn)
            bus = make_bus(settings.redis_url, settings.bus_prefix)
            await bus.start()
            try:
                for callback, topics in subscribers:
                    bus.subscribe(callback, topics=topics)
                role = settings.role
                hub = Hub(bus, tick_hz=settings.ws_tick_hz, queue_max=settings.ws_queue_frames,
                          **hub_lookups(engine)) if runs(role, "hub") else None
                if hub is not None:
                    await hub.start()
                try:
                    rt = cls(engine, bus, hub, calls=DeviceCalls(bus), role=role, read_engine=reader)
                    # Without a SIP server here: no cascade, no sweep, no GB video (they follow rt.gb28181).
                    async with ingest.running(engine, settings, lambda: rt.bus,
                                              jt808=runs(role, "jt808")) as rt.ingest, \
                            _if(runs(role, "sip"), gb28181.running(engine, rt.ingest, bus=bus,
                                                                   open_=settings.demo_mode)) as rt.gb28181, \
                            cascade.running(engine, rt.gb28181, bus, settings.secret_key) as rt.cascade, \
                            recordings.sweeping(engine, rt.calls, settings.recording_sweep_s if rt.gb28181 else 0,
                                                settings.recording_sweep_batch, settings.recording_recheck_h):
                        rt.video = GbVideo(rt.gb28181) if rt.gb28181 is not None else None
                        if rt.cascade is not None:  # upper platforms play our channels from the same streams
                            rt.cascade.video = rt.video
                        # API processes without a SIP server read this one's video (app/runtime/media_relay.py).
                        stop_media = rpc.serve(bus, media_ops(rt.gb28181, settings.internal_base)) \
                            if rt.gb28181 is not None else (lambda: None)
                        try:
                            yield rt
                        finally:
                            stop_media()
                            if rt.video is not None:  # BYE every stream before the SIP server stops
                                await rt.video.close()
                finally:
                    if hub is not None:
                        await hub.stop()
            finally:
                await bus.stop()
        finally:
            if reader is not None:
                await reader.dispose()
            await engine.dispose()
