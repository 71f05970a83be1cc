"""GA/T 1400 view library (/VIID, the devices' side) and the plate search (/api/v1/plates, the dispatcher's).

The /VIID endpoints speak the standard's JSON (``ResponseStatusObject``), not this API's: they are left out of
the OpenAPI document (their contract is GA/T 1400.4); app/services/viid_receiver.py does the work."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime

from app.api.deps import Authorized, ConnDep, client_ip, require
from app.api.outbox import OutboxDep
from app.api.routes.watchlists import watchlist_alarms
from app.api.schemas.viid import PlatePasses, PlateTrajectory
from app.domain.access import Perm
from app.domain.errors import InvalidInput
from app.ingest.gb28181.settings import Gb28181Settings
from app.ingest.viid import messages
from app.services import viid_search, viid_trajectory
from app.services.viid_receiver import UPLOADS, Answer, Receiver

router = APIRouter(tags=["viid"])
MEDIA = "application/VIID+JSON;charset=UTF-8"


def receiver(request: Request) -> Receiver:
    """One per app, made on first use (the engine and bus exist from the lifespan on)."""
    state = request.app.state
    rx = getattr(state, "viid", None)
    if rx is None:
        gb = Gb28181Settings()
        bus = getattr(state, "bus", None)
        rx = state.viid = Receiver(state.engine, state.settings, gb.domain, gb.password,
                                   subscribe=bus.subscribe if bus is not None else None,
                                   after_vehicles=watchlist_alarms(state).on_stored)
    return rx


def _reply(answer: Answer) -> Response:
    status, body, headers = answer
    return Response(messages.dumps(body), status_code=status, media_type=MEDIA, headers=headers)


def _who(request: Request) -> str | None:
    return messages.device_id(request.headers.get("user-identify"))


@router.post("/VIID/System/Register", include_in_schema=False)
async def register(request: Request) -> Response:
    return _reply(await receiver(request).register(
        request.url.path, _who(request), await request.body(), request.headers.get("authorization"),
        client_ip(request), request.headers.get("user-agent")))


@router.post("/VIID/System/Keepalive", include_in_schema=False)
async def keepalive(request: Request) -> Response:
    return _reply(await receiver(request).keepalive(request.url.path, _who(request), await request.body(),
                                                    client_ip(request)))


@router.post("/VIID/System/UnRegister", include_in_schema=False)
async def unregister(request: Request) -> Response:
    return _reply(await receiver(request).unregister(request.url.path, _who(request), client_ip(request)))


@router.get("/VIID/System/Time", include_in_schema=False)
async def system_time(request: Request) -> Response:
    return Response(messages.dumps(receiver(request).system_time()), media_type=MEDIA)


def _upload(what: str):
    async def upload(request: Request) -> Response:
        return _reply(await receiver(request).upload(what, request.url.path, _who(request), await request.body(),
                                                     client_ip(request)))
    upload.__name__ = f"viid_{what.lower()}"
    return upload


for _what in UPLOADS:
    router.add_api_route(f"/VIID/{_what}", _upload(_what), methods=["POST"], include_in_schema=False)


@router.get("/api/v1/plates/search", operation_id="search_plates", response_model=PlatePasses, tags=["plates"])
async def search_plates(
    conn: ConnDep, box: OutboxDep,
    plate: Annotated[str, Query(min_length=1, max_length=32, description="plate, with wildcards * (any run) "
                                                                         "and ? (one character)")],
    since: AwareDatetime, until: AwareDatetime,
    reason: Annotated[str, Query(min_length=1, max_length=2000, description="why (kept in the audit log)")],
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    auth: Authorized = require(Perm.VIEW_RECORDINGS),
) -> dict:
    """A vehicle's checkpoint passes (GA/T 1400 records) in time order, at their checkpoints' positions,
    within the caller's divisions. Every search states its reason and is audited (who, which plate, why)."""
    why = _reason(reason)
    result = await viid_search.search(conn, auth.scope, plate, since, until, limit, offset)
    await _audit(box, auth, plate, why, since, until, result)
    return result


@router.get("/api/v1/plates/trajectory", operation_id="plate_trajectory", response_model=PlateTrajectory,
            tags=["plates"])
async def plate_trajectory(
    conn: ConnDep, box: OutboxDep,
    plate: Annotated[str, Query(min_length=1, max_length=32, description="the exact plate")],
    since: AwareDatetime, until: AwareDatetime,
    reason: Annotated[str, Query(min_length=1, max_length=2000, description="why (kept in the audit log)")],
    auth: Authorized = require(Perm.VIEW_RECORDINGS),
) -> dict:
    """A vehicle's trajectory: its passes in time order (points) and the legs between consecutive passes
    along the roads, with distance, time gap, implied speed and a flag for implausible legs. Scoped and
    audited as the plate search (passes outside the caller's divisions are absent, legs join visible ones)."""
    why = _reason(reason)
    result = await viid_trajectory.trajectory_of(conn, auth.scope, plate, since, until)
    await _audit(box, auth, plate, why, since, until, result, view="trajectory")
    return result


def _reason(reason: str) -> str:
    if not reason.strip():
        raise InvalidInput("reason: say why you search this plate", field="reason")
    return reason.strip()


async def _audit(box, auth: Authorized, plate: str, reason: str, since, until, result: dict,
                 view: str | None = None) -> None:
    """One audit entry per search, whichever view of the passes it asked for (who, which plate, why)."""
    divisions = sorted({f["properties"]["division_code"] for f in result["features"]
                        if f["properties"].get("division_code")})
    detail = {"since": since.isoformat(), "until": until.isoformat(), "passes": result["total"]}
    box.audit("plate_search", auth, object_type="plate", object_id=plate, reason=reason,
              detail=detail | ({"view": view} if view else {}), divisions=divisions)
    await box.commit()
