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
from app.api.middleware import BodyLimit, SecurityHeaders, ServerTiming, install_log_redaction
from app.api.principal_cache import PrincipalCache
from app.api.ratelimit import RateLimiter, limit
from app.api.routes import (
    access_requests,
    admission,
    audit,
    auth,
    callup,
    cameras,
    channels,
    devices,
    dispatch,
    divisions,
    health,
    incidents,
    ingest,
    key_areas,
    kpi,
    media_internal,
    missing_person,
    mobile_track,
    planning,
    platforms,
    recordings,
    tiles,
    tracks,
    units,
    users,
    viid,
    viid_images,
    watchlists,
    ws,
)
from app.api.routing import include_flat
from app.api.schemas import ERROR_RESPONSES
from app.api.tile_fastpath import TileFastPath
from app.config import Settings
from app.domain.events import Topic
from app.runtime import Runtime
from app.runtime.roles import runs
from app.services.tiles import TileCache

WEB = Path(__file__).resolve().parents[1] / "web"
PAGES = ("wall", "dispatch", "planning", "m", "admin", "audit", "devices", "watchlists")


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
        install_log_redaction()  # here: after the server configured its loggers
        app.state.tiles = TileCache(max_bytes=settings.tile_cache_mb * 1024 * 1024, redis_url=settings.redis_url,
                                    prefix=settings.bus_prefix)  # shared by the API processes through Redis
        # Writes announced by any process (Redis) drop this process's cached tiles of that table (the
        # topics whose messages name a table: app/api/events.announce, services/live_feed); rights changed
        # in any process drop this one's cached principals too (its feeds: the hub).
        subscribers = [
            (lambda _t, msg: msg.get("table") and app.state.tiles.bump(msg["table"]), {Topic.CAMERAS}),
            (lambda _t, msg: app.state.principals.invalidate(msg.get("user_id")), {Topic.ACCESS}),
        ]
        async with app.state.tiles.running(), Runtime.running(settings, database_url, subscribers) as rt:
            app.state.runtime = rt
            app.state.engine, app.state.bus, app.state.hub = rt.engine, rt.bus, rt.hub
            app.state.ingest, app.state.gb28181 = rt.ingest, rt.gb28181
            settle_gc()
            yield

    app = FastAPI(title="SharpEyes", version=__version__, lifespan=lifespan, responses=ERROR_RESPONSES)
    app.state.settings = settings
    app.state.principals = PrincipalCache(ttl=5.0)
    app.state.limiters = {"login": RateLimiter(settings.login_per_minute, burst=10),
                          "ingest": RateLimiter(settings.ingest_per_minute)}
    errors.install(app)
    openapi.install(app)
    if runs(settings.role, "sip"):  # API processes without a SIP server read its video here (media_relay)
        include_flat(app, media_internal.router)
    if not runs(settings.role, "http"):  # an ingest process: health for load balancers, its video, nothing else
        include_flat(app, health.router)
        return app
    # Busiest first (device reports, tiles, live feed): Starlette tries routes in order.
    for r in (ingest.router, tiles.router, ws.router, health.router, auth.router, cameras.router, key_areas.router,
              divisions.router, users.router, access_requests.router, audit.router, incidents.router,
              dispatch.router, units.router, callup.router, planning.router, tracks.router, kpi.router,
              admission.router, devices.router, recordings.router, channels.router, mobile_track.router,
              platforms.router, viid.router, viid_images.router, watchlists.router, missing_person.router):
        include_flat(app, r)
    app.add_middleware(TileFastPath)  # innermost: warm tiles before FastAPI's dependencies (and after the headers)
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
        if request.method == "POST" or ingest.REPORT_PARAMS & set(request.query_params):
            return await ingest.osmand_report(request)
        return await page()

    app.add_api_route("/", page_or_report, methods=["GET", "POST"], include_in_schema=False,
                      dependencies=[Depends(limit("ingest"))])
    for name in PAGES:
        app.add_api_route(f"/{name}", page, include_in_schema=False)
