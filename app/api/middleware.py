"""Request size limit, security headers and server timing (pure ASGI: no buffering of streamed responses)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def security_headers(media_origins: list[str] | tuple[str, ...] = ()) -> list[tuple[bytes, bytes]]:
    """Everything comes from our own origin (the platform runs on closed networks), except the
    configured media servers' streams, which video tiles load after the signed play URL's redirect."""
    media = "".join(f" {o}" for o in media_origins)
    csp = (f"default-src 'self'; img-src 'self' data: blob:{media}; media-src 'self' blob:{media}; "
           "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-eval' blob:; worker-src 'self' blob:; "
           f"connect-src 'self' ws: wss:{media}; frame-ancestors 'none'")
    return [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"), (b"content-security-policy", csp.encode())]


class SecurityHeaders:
    def __init__(self, app: ASGIApp, media_origins: list[str] | tuple[str, ...] = ()) -> None:
        self.app = app
        self.headers = security_headers(media_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                path = scope.get("path", "")
                headers = list(message.get("headers", []))
                # A response that sets its own policy (the standalone planning report) keeps it.
                own = {k.lower() for k, _ in headers}
                extra = [h for h in self.headers if h[0] not in own and not (
                    path.startswith("/docs") and h[0] == b"content-security-policy")]
                message["headers"] = headers + extra
            await send(message)

        await self.app(scope, receive, _send)


class ServerTiming:
    """``Server-Timing: app;dur=<ms>``: time from request to response start, as the server saw it.

    Lets operators (browser dev tools) and benchmarks tell the platform's own time from the network's.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                dur = f"app;dur={(time.perf_counter() - t0) * 1000:.2f}".encode()
                message["headers"] = [*message.get("headers", []), (b"server-timing", dur)]
            await send(message)

        await self.app(scope, receive, _send)


class BodyLimit:
    """Reject bodies over ``max_bytes`` with 413 before the endpoint reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _reject(send)
            return
        seen = 0

        async def _receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, _receive, send)
        except _TooLarge:
            await _reject(send)


class _TooLarge(Exception):
    pass


async def _reject(send: Send) -> None:
    body = b'{"error":{"code":"too_large","message":"request body too large"}}'
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
