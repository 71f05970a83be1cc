"""GB/T 28181 devices admitted to register (services/devices.py): list, show, admit, change, delete, act.

Everything needs ``manage_devices`` in the device's division (camera administration's right); every change
is audited and published on ``gb28181.credentials``, so the SIP server of any process applies it from the
device's next REGISTER. Actions go to the device through the process whose SIP server holds it
(app/realtime/rpc.py): 503 with the reason when none does or the device does not answer.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.api.deps import Authorized, ConnDep, IdPath, Limit, SettingsDep, require
from app.api.outbox import Outbox, OutboxDep
from app.api.schemas.devices import (
    Device,
    DeviceAction,
    DeviceActionResult,
    DeviceCreate,
    DeviceDetail,
    DeviceList,
    DeviceUpdate,
)
from app.domain import gb_device
from app.domain.access import Perm
from app.domain.errors import Unavailable
from app.ingest.gb28181.settings import Gb28181Settings
from app.services import devices
from app.services.admission import CREDENTIALS_TOPIC

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])
ACTION_TIMEOUT_S = 20.0  # a UDP request is retransmitted for up to 8 s, then the answer MESSAGE may follow


@lru_cache
def gb_settings() -> Gb28181Settings:
    """The SIP server's settings (``SHARPEYES_GB_*``): its domain is the digest realm of every HA1."""
    return Gb28181Settings()


def announce(box: Outbox, gb_id: str | None, op: str = "changed") -> None:
    """After the commit: every SIP server drops the device's cached credential (``gb_id`` None: all)."""
    box.announce(CREDENTIALS_TOPIC, {"gb_id": gb_id, "op": op})


def _audit(box: Outbox, action: str, auth: Authorized, row: dict, **fields) -> None:
    divisions = [row["division_code"]] if row.get("division_code") else []
    box.audit(action, auth, object_type="gb_device", object_id=str(row["id"]), divisions=divisions, **fields)


@router.get("", operation_id="list_devices", response_model=DeviceList)
async def list_devices(conn: ConnDep, settings: SettingsDep,
                       q: Annotated[str | None, Query(max_length=100, description="part of the id or name")] = None,
                       online: bool | None = None, limit: Limit = 1000,
                       auth: Authorized = require(Perm.MANAGE_DEVICES)) -> dict:
    return {"devices": await devices.list_devices(conn, auth.scope, q=q, online=online,
                                                  limit=min(limit, settings.max_page_size))}


@router.post("", operation_id="create_device", status_code=201, response_model=Device)
async def create_device(body: DeviceCreate, conn: ConnDep, box: OutboxDep,
                        auth: Authorized = require(Perm.MANAGE_DEVICES)) -> dict:
    kind = body.kind or gb_device.kind_for(body.gb_id)
    data = devices.DeviceInput(body.gb_id, body.name, body.division_code, kind, body.password)
    row = await devices.create(conn, auth.scope, data, realm=gb_settings().domain, by=auth.principal.username)
    _audit(box, "device_create", auth, row, detail={"gb_id": row["gb_id"], "kind": kind,
                                                     "division_code": row["division_code"]})
    announce(box, row["gb_id"])
    await box.commit()
    return row


@router.get("/{device_id}", operation_id="get_device", response_model=DeviceDetail)
async def get_device(device_id: IdPath, conn: ConnDep, auth: Authorized = require(Perm.MANAGE_DEVICES)) -> dict:
    return await devices.get(conn, auth.scope, device_id)


@router.patch("/{device_id}", operation_id="update_device", response_model=Device)
async def update_device(device_id: IdPath, body: DeviceUpdate, conn: ConnDep, box: OutboxDep,
                        auth: Authorized = require(Perm.MANAGE_DEVICES)) -> dict:
    changes = body.model_dump(exclude_unset=True)
    before, after = await devices.update_device(conn, auth.scope, device_id, changes, realm=gb_settings().domain)
    fields = sorted(changes)  # which, never the password's value
    divisions = sorted({d for d in (before["division_code"], after["division_code"]) if d})
    box.audit("device_update", auth, object_type="gb_device", object_id=str(device_id), divisions=divisions,
              detail={"gb_id": after["gb_id"], "fields": fields,
                      **({"division_code": after["division_code"]} if "division_code" in changes else {})})
    announce(box, after["gb_id"])
    await box.commit()
    return after


@router.delete("/{device_id}", operation_id="delete_device", status_code=204)
async def delete_device(device_id: IdPath, conn: ConnDep, box: OutboxDep,
                        auth: Authorized = require(Perm.MANAGE_DEVICES)) -> None:
    """Its next REGISTER is refused; if it is registered now, it is dropped at once."""
    row = await devices.delete_device(conn, auth.scope, device_id)
    _audit(box, "device_delete", auth, row, detail={"gb_id": row["gb_id"]})
    announce(box, row["gb_id"], "deleted")
    await box.commit()


@router.post("/{device_id}/actions", operation_id="device_action", status_code=202,
             response_model=DeviceActionResult)
async def device_action(device_id: IdPath, body: DeviceAction, request: Request, conn: ConnDep, box: OutboxDep,
                        auth: Authorized = require(Perm.MANAGE_DEVICES)) -> dict:
    """Sent to the device (audited first: a reboot may happen even when its answer is lost)."""
    row = await devices.for_action(conn, auth.scope, device_id, body.action)
    if not row["online"]:  # what its SIP server last wrote: no need to wait out a call nobody answers
        raise Unavailable(f"device {row['gb_id']} is not online (not registered with any SIP server)")
    _audit(box, "device_action", auth, row, detail={"gb_id": row["gb_id"], "action": body.action},
           reason=body.reason)
    await box.commit()
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None or runtime.calls is None:
        raise Unavailable("device calls are not available in this process")
    result = await runtime.calls.call(body.action, {"device_id": row["gb_id"]}, timeout_s=ACTION_TIMEOUT_S)
    return {"action": body.action, "result": result}
