"""Request size limit, security headers and server timing (pure ASGI: no buffering of streamed responses);
secrets kept out of the server's logs."""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def security_headers(media_origins: list[str] | tuple[str, ...] = ()) -> list[tuple[bytes, bytes]]:
    """Everything comes from our own origin (the platform runs on closed networks), except the
    configured media servers' streams, which video tiles load after the signed play URL's redirect."""
    media = "".join(f" {o}" for o in media_origins)
    # No 'unsafe-eval' (an injected string can never run as code); connect-src 'self' covers the page's own
    # ws:/wss: origin too (CSP3), so the live feed reaches only us, never an arbitrary host.
    csp = (f"default-src 'self'; img-src 'self' data: blob:{media}; media-src 'self' blob:{media}; "
           "style-src 'self' 'unsafe-inline'; script-src 'self' blob:; worker-src 'self' blob:; "
           f"connect-src 'self'{media}; frame-ancestors 'none'")
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


# Query parameters that are secrets: a device's token (OsmAnd/Traccar clients can only send it in the URL),
# a one-time ticket, and any bearer token a client still puts there (refused, but the URL is logged anyway).
_SECRET_KEYS = frozenset({"access_token", "refresh_token", "token", "ticket", "password"})
_QUERY = re.compile(r"\?[^\s\"]*")


def _redact_query(m: re.Match) -> str:
    parts = []
    for part in m.group(0)[1:].split("&"):
        key, eq, _ = part.partition("=")
        # The key as the server reads it (``access%5Ftoken`` is ``access_token`` too).
        parts.append(f"{key}=[redacted]" if eq and unquote_plus(key).lower() in _SECRET_KEYS else part)
    return "?" + "&".join(parts)


def redact(text: str) -> str:
    return _QUERY.sub(_redact_query, text) if "?" in text else text


class RedactSecrets(logging.Filter):
    """Masks secret query parameters in uvicorn's access log (``"GET /path?query"``) and its websocket
    lines. Arguments are edited in place: uvicorn's formatter unpacks them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install_log_redaction() -> None:
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
