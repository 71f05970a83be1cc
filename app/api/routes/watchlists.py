"""Watchlists (布控): set, list, cancel, within the caller's divisions; every set and cancel audited.

Permission ``dispatch``: the dispatcher's own (the one that opens and runs incidents), since an entry's
only effect is to open incidents (app/services/watchlist_alarms.py). A change drops every process's
cached active entries (bus topic ``watchlists``), this one's at once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.datastructures import State

from app.api.deps import Authorized, ConnDep, IdPath, require
from app.api.outbox import OutboxDep
from app.api.schemas.watchlist import (
    WatchlistAlarmDetail,
    WatchlistAlarmList,
    WatchlistCreate,
    WatchlistEntries,
    WatchlistEntry,
)
from app.domain.access import Perm
from app.domain.errors import InvalidInput
from app.services import watchlists
from app.services.watchlist_alarms import TOPIC, WatchlistAlarms

router = APIRouter(prefix="/api/v1/watchlists", tags=["watchlists"])


def watchlist_alarms(state: State) -> WatchlistAlarms:
    """One per app, made on first use (the engine and bus exist from the lifespan on)."""
    alarms = getattr(state, "watchlist_alarms", None)
    if alarms is None:
        bus = getattr(state, "bus", None)
        alarms = state.watchlist_alarms = WatchlistAlarms(
            state.engine, bus.publish if bus is not None else None, bus.subscribe if bus is not None else None)
    return alarms


def _changed(box, state: State, entry: dict, op: str) -> None:
    box.after(watchlist_alarms(state).invalidate)
    box.announce(TOPIC, {"op": op, "id": entry["id"]})


@router.post("", operation_id="create_watchlist_entry", status_code=201, response_model=WatchlistEntry)
async def create(body: WatchlistCreate, conn: ConnDep, box: OutboxDep,
                 auth: Authorized = require(Perm.DISPATCH)) -> dict:
    """Set a watchlist entry: a plate (exact or with * ?), optionally a vehicle colour, why, until when, where."""
    if not body.reason.strip():
        raise InvalidInput("reason: say why this vehicle is watched", field="reason")
    entry = await watchlists.create(
        conn, auth.scope, plate=body.plate, vehicle_color=body.vehicle_color, reason=body.reason.strip(),
        area=body.area, valid_from=body.valid_from, valid_until=body.valid_until, priority=body.priority,
        owner_id=auth.user_id, owner_name=auth.principal.username)
    box.audit("watchlist_set", auth, object_type="watchlist", object_id=str(entry["id"]), reason=entry["reason"],
              detail={"plate": entry["plate"], "vehicle_color": entry["vehicle_color"], "area": entry["area"],
                      "valid_from": entry["valid_from"].isoformat(), "valid_until": entry["valid_until"].isoformat()},
              divisions=entry["area"])
    _changed(box, box.request.app.state, entry, "set")
    await box.commit()
    return entry


@router.get("", operation_id="list_watchlist_entries", response_model=WatchlistEntries)
async def list_entries(conn: ConnDep, active_only: bool = True,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                       offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                       auth: Authorized = require(Perm.DISPATCH)) -> dict:
    """Entries whose whole area lies in the caller's divisions (active ones unless ``active_only=false``)."""
    return await watchlists.list_entries(conn, auth.scope, active_only=active_only, limit=limit, offset=offset)


@router.get("/alarms", operation_id="list_watchlist_alarms", response_model=WatchlistAlarmList)
async def list_alarms(conn: ConnDep, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                      offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                      auth: Authorized = require(Perm.VIEW_MAP)) -> dict:
    """The latest alarms (newest first) with their incident's status, for whoever sees the incidents: as
    ``GET /watchlists/alarms/{incident_id}``, by the division each alarm was filed under."""
    return await watchlists.list_alarms(conn, auth.scope, limit=limit, offset=offset)


@router.get("/alarms/{incident_id}", operation_id="get_watchlist_alarm", response_model=WatchlistAlarmDetail)
async def get_alarm(incident_id: IdPath, conn: ConnDep, auth: Authorized = require(Perm.VIEW_MAP)) -> dict:
    """The details of a ``watchlist`` incident (the pass, its image, the entry) and the next checkpoints to
    intercept at, for whoever sees the incident: permission ``view_map`` and the incident's division, as
    ``GET /incidents/{id}``."""
    return await watchlists.alarm(conn, auth.scope, incident_id)


@router.get("/{entry_id}", operation_id="get_watchlist_entry", response_model=WatchlistEntry)
async def get_entry(entry_id: IdPath, conn: ConnDep, auth: Authorized = require(Perm.DISPATCH)) -> dict:
    return await watchlists.get(conn, auth.scope, entry_id)


@router.delete("/{entry_id}", operation_id="cancel_watchlist_entry", response_model=WatchlistEntry)
async def cancel(entry_id: IdPath, conn: ConnDep, box: OutboxDep,
                 reason: Annotated[str | None, Query(max_length=2000)] = None,
                 auth: Authorized = require(Perm.DISPATCH)) -> dict:
    """Cancel an entry (kept, marked cancelled): it catches nothing from now on, in every process."""
    entry = await watchlists.cancel(conn, auth.scope, entry_id, auth.principal.username)
    box.audit("watchlist_cancel", auth, object_type="watchlist", object_id=str(entry_id),
              reason=(reason or "").strip() or None, detail={"plate": entry["plate"]}, divisions=entry["area"])
    _changed(box, box.request.app.state, entry, "cancel")
    await box.commit()
    return entry
