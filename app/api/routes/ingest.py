"""Position reports over HTTP: OsmAnd / Traccar Client devices and the own batch JSON API.

Devices: ``GET|POST /ingest/osmand`` and, because those apps are configured with a bare server URL,
also ``GET /?id=…`` and ``POST /`` (see app/api/main.py). A device is accepted when it is a registered
target (protocol ``osmand``), or with the deployment's ``SHARPEYES_DEVICE_TOKEN`` as ``token`` query
parameter or ``X-Device-Token`` header (then it is registered on its first report). The answer is
``200 OK`` only once the fix is committed; 400 with the reason for a report that cannot be accepted.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials

from app.api.deps import _bearer, principal_from_token
from app.api.ratelimit import limit
from app.api.schemas import PositionsReport
from app.domain.access import Principal
from app.domain.errors import InvalidInput
from app.ingest.osmand import REPORT_PARAMS
from app.services import positions, security

__all__ = ["REPORT_PARAMS", "router"]

router = APIRouter(tags=["ingest"])


async def osmand_report(request: Request) -> PlainTextResponse:
    query = dict(request.query_params)
    token = query.pop("token", None) or request.headers.get("x-device-token")
    await positions.osmand_report(request.app.state.ingest, query, await request.body(),
                                  request.headers.get("content-type", ""), token)
    return PlainTextResponse("OK")


for _method in ("GET", "POST"):  # the apps use either; one operation id per method
    router.add_api_route("/ingest/osmand", osmand_report, methods=[_method],
                         operation_id=f"osmand_report_{_method.lower()}", dependencies=[Depends(limit("ingest"))],
                         response_class=PlainTextResponse, summary="OsmAnd / Traccar Client position report")


async def ingest_principal(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """``CurrentPrincipal`` without holding a pooled connection for the whole request: the token's
    principal is usually cached, and the request then waits for its commit, not for the database."""
    state = request.app.state
    token = creds.credentials if creds else None  # never from the URL: URLs land in access logs
    if token:
        hit = state.principals.get(*security.decode_token(state.settings, token))
        if hit is not None:
            request.state.principal = hit
            return hit
    async with state.engine.connect() as conn:
        principal = await principal_from_token(conn, state.settings, token, state.principals)
    request.state.principal = principal
    return principal


@router.post("/api/v1/positions", operation_id="report_positions", dependencies=[Depends(limit("ingest"))],
             response_model=PositionsReport)
async def report_positions(request: Request, principal: Annotated[Principal, Depends(ingest_principal)]) -> dict:
    """Many positions ``[{target, time, lon, lat, speed (km/h), heading, accuracy}]`` (or
    ``{"positions": [...]}``); each validated on its own. Answered once the accepted ones are committed."""
    try:
        body = orjson.loads(await request.body())  # straight from the bytes: no str, no stdlib json
    except orjson.JSONDecodeError:
        raise InvalidInput("body is not valid JSON") from None
    return await positions.report_batch(request.app.state.ingest, request.app.state.engine, principal, body,
                                        request.app.state.settings.max_positions_per_request)
