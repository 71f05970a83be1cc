"""``/ws``: the live map feed. Token in ``?access_token=`` or in the first message
``{"type": "auth", "token": …}``; then ``{"type": "subscribe", "layers": [...], "bbox": [...]}``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app.domain.access import Perm
from app.domain.errors import DomainError
from app.services import kpi, live, security

router = APIRouter()
AUTH_TIMEOUT_S = 10.0
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403


@router.websocket("/ws")
async def ws_feed(ws: WebSocket) -> None:
    app = ws.app
    await ws.accept()
    token = ws.query_params.get("access_token")
    try:
        if not token:
            first = orjson.loads(await asyncio.wait_for(ws.receive_text(), AUTH_TIMEOUT_S))
            token = first.get("token") if isinstance(first, dict) and first.get("type") == "auth" else None
        if not token:
            raise security.AuthError("authentication required")
        user_id, token_version = security.decode_token(app.state.settings, token)  # once: the feed keeps the version
        async with app.state.engine.connect() as conn:
            principal = await security.load_principal(conn, user_id, token_version)
    except (TimeoutError, orjson.JSONDecodeError, DomainError) as exc:
        message = exc.message if isinstance(exc, DomainError) else "authentication required"
        await _refuse(ws, CLOSE_UNAUTHORIZED, "unauthorized", message)
        return
    except WebSocketDisconnect:
        return
    if principal.scope_for(Perm.VIEW_MAP, datetime.now(UTC)).empty:
        await _refuse(ws, CLOSE_FORBIDDEN, "forbidden", "permission 'view_map' required")
        return
    await ws.send_bytes(orjson.dumps({"type": "hello", "user": principal.username}))

    async def snapshot(scope, layers, bbox):
        async with app.state.engine.connect() as conn:
            return await live.snapshot(conn, scope, layers, bbox)

    await app.state.hub.serve(ws, principal, snapshot, token_version)


async def reload_principal(app, user_id: int, token_version: int | None):
    """The user's rights now, or None once the feed's token is revoked (logout, user disabled)."""
    async with app.state.engine.connect() as conn:
        try:
            return await security.load_principal(conn, user_id, token_version if token_version is not None else -1)
        except security.AuthError:
            return None


async def _refuse(ws: WebSocket, code: int, key: str, message: str) -> None:
    try:
        await ws.send_bytes(orjson.dumps({"type": "error", "code": key, "message": message}))
        await ws.close(code=code, reason=key)
    except (WebSocketDisconnect, RuntimeError):
        pass


async def kpi_for(app, scope) -> dict:
    async with app.state.engine.connect() as conn:
        return await kpi.summary(conn, scope)
