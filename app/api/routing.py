"""Routers registered on the application itself, not as FastAPI's lazily included sub-routers.

Since FastAPI 0.137 ``include_router`` keeps each router as one ``_IncludedRouter`` node that is
resolved on every request: a request walks the included routers in order, each costing ~12 µs, so the
position batch endpoint (13th of 17 routers) spent ~200 µs per request just being found, ~10 % of the
server's ingest CPU. Re-registering each route on the app (what ``include_router`` did before 0.137;
the routes already carry their router's prefix, tags, dependencies and responses) puts them in one flat
list that Starlette matches with one compiled regex per route.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute


def include_flat(app: FastAPI, router: APIRouter) -> None:
    for route in router.routes:
        if isinstance(route, APIRoute):
            app.router.add_api_route(
                route.path, route.endpoint, methods=route.methods, name=route.name,
                response_model=route.response_model, status_code=route.status_code, tags=route.tags,
                dependencies=route.dependencies, summary=route.summary, description=route.description,
                response_description=route.response_description, responses=route.responses,
                deprecated=route.deprecated, operation_id=route.operation_id,
                response_model_include=route.response_model_include,
                response_model_exclude=route.response_model_exclude,
                response_model_by_alias=route.response_model_by_alias,
                response_model_exclude_unset=route.response_model_exclude_unset,
                response_model_exclude_defaults=route.response_model_exclude_defaults,
                response_model_exclude_none=route.response_model_exclude_none,
                include_in_schema=route.include_in_schema, response_class=route.response_class,
                callbacks=route.callbacks, openapi_extra=route.openapi_extra,
                generate_unique_id_function=route.generate_unique_id_function,
            )
        elif isinstance(route, APIWebSocketRoute):
            app.router.add_api_websocket_route(route.path, route.endpoint, name=route.name,
                                               dependencies=route.dependencies)
        else:  # nothing else is used here; fail loudly rather than drop a route
            raise TypeError(f"cannot flatten route {route!r}")
