"""Incidents: create, list, one, lifecycle; place search for the dispatch console."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import Authorized, ConnDep, IdPath, Limit, Offset, require
from app.api.outbox import OutboxDep
from app.api.schemas import IncidentCollection, IncidentCreate, IncidentFeature, IncidentTypeName, Place, StatusChange
from app.domain import dispatch as flow
from app.domain.access import Perm
from app.services import incidents

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


@router.get("/types", operation_id="incident_types", response_model=dict[str, IncidentTypeName])
async def types(auth: Authorized = require(Perm.VIEW_MAP)) -> dict:
    return {k: {"zh": zh, "en": en} for k, (zh, en) in flow.INCIDENT_TYPES.items()}


@router.get("/places", operation_id="search_places", response_model=list[Place])
async def places(conn: ConnDep, q: Annotated[str, Query(min_length=1, max_length=100)],
                 auth: Authorized = require(Perm.VIEW_MAP)) -> list[dict]:
    return await incidents.search_places(conn, auth.scope, q)


@router.get("", operation_id="list_incidents", response_model=IncidentCollection)
async def list_incidents(conn: ConnDep, open_only: bool = True,
                         status: Annotated[str | None, Query(pattern="^(new|dispatched|on_scene|resolved|closed)$")]
                         = None, limit: Limit = 200, offset: Offset = 0,
                         auth: Authorized = require(Perm.VIEW_MAP)) -> dict:
    return await incidents.list_incidents(conn, auth.scope, open_only=open_only, status=status,
                                          limit=min(limit, 1000), offset=offset)


@router.post("", operation_id="create_incident", status_code=201, response_model=IncidentFeature)
async def create_incident(body: IncidentCreate, conn: ConnDep, box: OutboxDep,
                          auth: Authorized = require(Perm.DISPATCH)) -> dict:
    feat = await incidents.create(conn, auth.scope, **body.model_dump(), source="console")
    box.audit("incident_create", auth, object_type="incident", object_id=str(feat["id"]),
              detail={"type": body.type, "priority": body.priority})
    box.announce("incidents", incidents.live_message(feat, "created"))
    await box.commit()
    return feat


@router.get("/{incident_id}", operation_id="get_incident", response_model=IncidentFeature)
async def get_incident(incident_id: IdPath, conn: ConnDep, auth: Authorized = require(Perm.VIEW_MAP)) -> dict:
    return await incidents.get(conn, auth.scope, incident_id)


@router.post("/{incident_id}/status", operation_id="set_incident_status", response_model=IncidentFeature)
async def set_status(incident_id: IdPath, body: StatusChange, conn: ConnDep, box: OutboxDep,
                     auth: Authorized = require(Perm.DISPATCH)) -> dict:
    feat = await incidents.transition(conn, auth.scope, incident_id, body.status)
    box.audit("incident_status", auth, object_type="incident", object_id=str(incident_id),
              detail={"status": body.status})
    box.announce("incidents", incidents.live_message(feat, "updated"))
    await box.commit()
    return feat
