"""Device admission (app/domain/admission.py): the rule per protocol, the pending list, accept / reject.

Everything needs ``manage_devices``; changing the rule needs it platform-wide. Every change is audited.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import Authorized, ConnDep, IdPath, require
from app.api.outbox import Outbox, OutboxDep
from app.api.routes.devices import announce, gb_settings
from app.api.schemas import AcceptedDevice, PendingDevice
from app.domain.access import Perm
from app.services import admission

router = APIRouter(prefix="/api/v1/admission", tags=["ingest"])

Protocol = Literal["jt808", "osmand", "gb28181"]
Mode = Literal["registered", "pending"]
Policies = dict[Protocol, Mode]


class PolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Mode


class Accept(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # A target's kind; for a GB/T 28181 device its kind (default: what its id's type code says).
    kind: Literal["patrol_car", "officer", "body_cam", "vehicle_cam", "drone", "vehicle",
                  "ipc", "nvr", "dvr", "encoder", "mobile", "platform"] = "vehicle"
    name: str | None = Field(default=None, max_length=200)
    division_code: str | None = Field(default=None, pattern=r"^[0-9]{2,12}$")


class Reject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=500)


def _forget(request: Request, box: Outbox, key: tuple[str, str] | None = None) -> None:
    """This process's admission cache now; the SIP servers' GB/T 28181 credentials through the bus."""
    box.after(lambda: request.app.state.ingest.devices.forget(key))
    if key is None or key[0] == "gb28181":
        announce(box, key[1] if key else None)


@router.get("/policy", operation_id="get_admission_policy", response_model=Policies)
async def get_policy(conn: ConnDep, auth: Authorized = require(Perm.MANAGE_DEVICES)) -> dict[str, str]:
    """Per protocol: ``registered`` (registered devices only) or ``pending`` (auto-admit to the pending list)."""
    return await admission.policies(conn)


@router.put("/policy/{protocol}", operation_id="set_admission_policy", response_model=Policies)
async def set_policy(protocol: Protocol, body: PolicyUpdate, request: Request, conn: ConnDep, box: OutboxDep,
                     auth: Authorized = require(Perm.MANAGE_DEVICES)) -> dict[str, str]:
    before = await admission.set_policy(conn, auth.scope, protocol, body.mode, auth.principal.username)
    box.audit("admission_policy", auth, object_type="admission_policy", object_id=protocol,
              detail={"mode": body.mode, "before": before})
    _forget(request, box)
    await box.commit()
    return await admission.policies(conn)


@router.get("/pending", operation_id="list_pending_devices", response_model=list[PendingDevice])
async def list_pending(conn: ConnDep, status: Annotated[Literal["pending", "rejected"], Query()] = "pending",
                       protocol: Annotated[Protocol | None, Query()] = None,
                       auth: Authorized = require(Perm.MANAGE_DEVICES)) -> list[dict]:
    return await admission.list_pending(conn, status=status, protocol=protocol)


@router.post("/pending/{pending_id}/accept", operation_id="accept_pending_device", response_model=AcceptedDevice)
async def accept(pending_id: IdPath, body: Accept, request: Request, conn: ConnDep, box: OutboxDep,
                 auth: Authorized = require(Perm.MANAGE_DEVICES)) -> dict:
    """Registers the device (a target; a GB/T 28181 device: a device whose password is the platform-wide one
    it used): its next report is accepted."""
    gb = gb_settings()
    p, new_id = await admission.accept(conn, auth.scope, pending_id, kind=body.kind, name=body.name,
                                       division_code=body.division_code, gb_realm=gb.domain,
                                       gb_password=gb.password, by=auth.principal.username)
    is_gb = p["protocol"] == "gb28181"
    box.audit("device_accept", auth, object_type="gb_device" if is_gb else "target", object_id=str(new_id),
              detail={"protocol": p["protocol"], "external_id": p["external_id"], "kind": body.kind,
                      "division_code": body.division_code},
              divisions=[body.division_code] if body.division_code else None)
    _forget(request, box, (p["protocol"], p["external_id"]))
    await box.commit()
    return {"target_id": None if is_gb else new_id, "device_id": new_id if is_gb else None,
            "protocol": p["protocol"], "external_id": p["external_id"]}


@router.post("/pending/{pending_id}/reject", operation_id="reject_pending_device", status_code=204)
async def reject(pending_id: IdPath, body: Reject, request: Request, conn: ConnDep, box: OutboxDep,
                 auth: Authorized = require(Perm.MANAGE_DEVICES)) -> None:
    """The device stays listed as rejected: its reports are refused with that reason."""
    p = await admission.reject(conn, pending_id, auth.principal.username)
    box.audit("device_reject", auth, object_type="pending_device", object_id=str(pending_id),
              detail={"protocol": p["protocol"], "external_id": p["external_id"]}, reason=body.reason)
    _forget(request, box, (p["protocol"], p["external_id"]))
    await box.commit()
