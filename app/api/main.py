"""The FastAPI application: wiring only (routers, error table, middleware, lifespan)."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from app import __version__
from app.api import errors, openapi
from app.api.middleware import BodyLimit, SecurityHeaders, ServerTiming
from app.api.principal_cache import PrincipalCache
from app.api.ratelimit import RateLimiter, limit
from app.api.routes import (
    access_requests,
    audit,
    auth,
    callup,
    cameras,
    dispatch,
    divisions,
    health,
    incidents,
    ingest,
    key_areas,
    kpi,
    planning,
    tiles,
    tracks,
    units,
    users,
    ws,
)
from app.api.routing import include_flat
from app.api.schemas import ERROR_RESPONSES
from app.config import Settings
from app.db.engine import make_engine
from app.db.partitions import ensure_partitions
from app.realtime.bus import make_bus
from app.realtime.hub import ACCESS_TOPIC, Hub
from app.services import gb28181_runtime, ingest_runtime
from app.services.tiles import TileCache

WEB = Path(__file__).resolve().parents[1] / "web"
PAGES = ("wall", "dispatch", "planning", "m", "admin", "audit")


def settle_gc() -> None:
    """After startup: what is alive now (modules, routes, ORM metadata: ~150k objects) stays alive, so it
    leaves the cyclic collector's generations (``gc.freeze``), and the youngest generation is collected every
    20,000 net allocations instead of 700. Ingest allocates containers by the hundred thousand per second
    (a dict per JSON item, a fix, a message), freed by reference counting; without this, the collector
    walks them (and every older generation, the whole application) many times per batch."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def create_app(settings: Settings, database_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = make_engine(database_url)
        async with app.state.engine.begin() as conn:
            await ensure_partitions(conn)
        app.state.tiles = TileCache(max_bytes=settings.tile_cache_mb * 1024 * 1024)
        app.state.bus = make_bus(settings.redis_url, settings.bus_prefix)
        await app.state.bus.start()
        # Writes announced by any process (Redis) drop this process's cached tiles of that table (the
        # topics whose messages name a table: app/api/events.announce, services/live_feed).
        app.state.bus.subscribe(lambda _t, msg: msg.get("table") and app.state.tiles.bump(msg["table"]),
                                topics={"cameras"})
        # Rights changed in any process: this one's cached principals go too (its feeds: the hub).
        app.state.bus.subscribe(lambda _t, msg: app.state.principals.invalidate(msg.get("user_id")),
                                topics={ACCESS_TOPIC})
        app.state.hub = Hub(app.state.bus, tick_hz=settings.ws_tick_hz, queue_max=settings.ws_queue_frames,
                            kpi=lambda scope: ws.kpi_for(app, scope),
                            reload=lambda uid, ver: ws.reload_principal(app, uid, ver))
        await app.state.hub.start()
        try:
            async with ingest_runtime.running(app.state.engine, settings, lambda: app.state.bus) as ingest:
                app.state.ingest = ingest
                async with gb28181_runtime.running(app.state.engine, ingest, bus=app.state.bus) as sip:
                    app.state.gb28181 = sip
                    settle_gc()
                    yield
        finally:
            await app.state.hub.stop()
            await app.state.bus.stop()
            await app.state.engine.dispose()

    app = FastAPI(title="SharpEyes", version=__version__, lifespan=lifespan, responses=ERROR_RESPONSES)
    app.state.settings = settings
    app.state.principals = PrincipalCache(ttl=5.0)
    app.state.limiters = {"login": RateLimiter(settings.login_per_minute, burst=10),
                          "ingest": RateLimiter(settings.ingest_per_minute)}
    errors.install(app)
    openapi.install(app)
    # Busiest first (device reports, tiles, live feed): Starlette tries routes in order.
    for r in (ingest.router, tiles.router, ws.router, health.router, auth.router, cameras.router, key_areas.router,
              divisions.router, users.router, access_requests.router, audit.router, incidents.router,
              dispatch.router, units.router, callup.router, planning.router, tracks.router, kpi.router):
        include_flat(app, r)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders, media_origins=settings.media_origin_list)
    app.add_middleware(ServerTiming)  # outermost: it times everything below
    _mount_web(app)
    return app


def _mount_web(app: FastAPI) -> None:
    dist = WEB / "dist"
    root = dist if (dist / "index.html").exists() else WEB
    if (root / "assets").is_dir():
        app.mount("/assets", StaticFiles(directory=root / "assets"), name="assets")

    async def page() -> FileResponse:
        return FileResponse(root / "index.html")

    async def page_or_report(request: Request) -> Response:
        # OsmAnd / Traccar Client are configured with a bare server URL: a report carries ``id`` or
        # ``deviceid`` (GET) or is a POST; a browser's GET / never does.
        if request.method == "POST" or {"id", "deviceid"} & set(request.query_params):
            return await ingest.osmand_report(request)
        return await page()

    app.add_api_route("/", page_or_report, methods=["GET", "POST"], include_in_schema=False,
                      dependencies=[Depends(limit("ingest"))])
    for name in PAGES:
        app.add_api_route(f"/{name}", page, include_in_schema=False)
