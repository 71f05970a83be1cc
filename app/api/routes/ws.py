"""``/ws``: the live map feed. The token comes in the first message ``{"type": "auth", "token": …}`` (the
browser) or in a subprotocol ``bearer.<token>`` (offered beside ``sharpeyes``, which the server selects);
never in the URL (``?access_token=`` is refused: URLs land in access logs). Then
``{"type": "subscribe", "layers": [...], "bbox": [...], "since": "<event id>"}``: ``since`` (optional) is the
last ``event_id`` the client saw, on this process or another; the events it missed come first, or
``{"type": "reload"}`` if they are no longer kept (``realtime/hub.py``, ``realtime/stream.py``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app.domain.access import Perm
from app.domain.errors import DomainError
from app.services import live, security

router = APIRouter()
AUTH_TIMEOUT_S = 10.0
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_POLICY = 1008  # RFC 6455 policy violation
PROTOCOL = "sharpeyes"
BEARER_PROTOCOL = "bearer."


@router.websocket("/ws")
async def ws_feed(ws: WebSocket) -> None:
    app = ws.app
    offered = ws.scope.get("subprotocols") or []
    token = next((p.removeprefix(BEARER_PROTOCOL) for p in offered if p.startswith(BEARER_PROTOCOL)), None)
    # The token is never echoed back: the server selects the plain protocol name, if offered.
    await ws.accept(subprotocol=PROTOCOL if PROTOCOL in offered else None)
    if "access_token" in ws.query_params:
        await _refuse(ws, CLOSE_POLICY, "token_in_url", "a token in the URL is refused; send it in the first message")
        return
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


async def _refuse(ws: WebSocket, code: int, key: str, message: str) -> None:
    try:
        await ws.send_bytes(orjson.dumps({"type": "error", "code": key, "message": message}))
        await ws.close(code=code, reason=key)
    except (WebSocketDisconnect, RuntimeError):
        pass
