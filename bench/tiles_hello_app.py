"""The API as ``app.api.asgi`` builds it, plus ``GET /hello`` (first route: no routing cost, no dependencies, a
plain-text answer): the tiles benchmark's "bare endpoint on the same server", behind the same middleware."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from app.api.asgi import app


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


app.router.routes.insert(0, Route("/hello", hello, methods=["GET"]))
