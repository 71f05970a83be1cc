"""Routers are registered flat on the app (``app/api/routing.py``): same routes, same behaviour."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, WebSocket
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient

from app.api.routing import include_flat


def _needs_key(x_key: str = Header("")) -> None:
    if x_key != "k":
        raise HTTPException(403, "no key")


def _app() -> tuple[FastAPI, FastAPI]:
    router = APIRouter(prefix="/api/v1/things", tags=["things"], dependencies=[Depends(_needs_key)])

    @router.get("/{thing_id}", operation_id="get_thing", summary="One thing", status_code=203)
    async def get_thing(thing_id: int) -> dict:
        return {"id": thing_id}

    ws_router = APIRouter()

    @ws_router.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        await socket.send_text("hi")
        await socket.close()

    responses = {409: {"description": "conflict"}}
    flat, lazy = FastAPI(responses=responses), FastAPI(responses=responses)
    for r in (router, ws_router):
        include_flat(flat, r)
        lazy.include_router(r)
    return flat, lazy


def test_flat_routes_behave_and_document_like_included_ones() -> None:
    flat, lazy = _app()
    assert all(isinstance(r, APIRoute | APIWebSocketRoute) for r in flat.router.routes[-2:])
    assert flat.openapi()["paths"] == lazy.openapi()["paths"]  # prefix, tags, app responses, operation ids
    with TestClient(flat) as client:
        assert client.get("/api/v1/things/7").status_code == 403  # the router's dependency still guards it
        r = client.get("/api/v1/things/7", headers={"x-key": "k"})
        assert (r.status_code, r.json()) == (203, {"id": 7})
        assert client.get("/api/v1/things/x", headers={"x-key": "k"}).status_code == 422
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_text() == "hi"


def test_the_platform_has_no_lazily_included_routers() -> None:
    from app.api.main import create_app
    from app.config import Settings

    app = create_app(Settings(demo_mode=True), "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    kinds = {type(r).__name__ for r in app.router.routes}
    assert "_IncludedRouter" not in kinds, kinds
    assert any(getattr(r, "path", "") == "/api/v1/positions" for r in app.router.routes)
