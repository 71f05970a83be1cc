"""A GB/T 28181 channel's presets and cruises, its PTZ position and precise PTZ, and snapshots (the last
three are GB/T 28181-2022 commands: a 2016 device gets a clear 409 instead).

Commands go to the channel's device through the process whose SIP server holds it (app/realtime/rpc.py,
``app/runtime/channel_control.py``), audited before they are sent. Scoped like the camera: PTZ for presets,
cruises and precise moves, VIEW_LIVE for the position and snapshots; a camera out of scope is a 404.

A snapshot: a one-time upload ticket (``app/services/snapshots.py``), the device told to POST its JPEG to
``/api/v1/snapshots/upload/<token>`` (no bearer: the ticket authorises it), and the asking request waits for
that upload (over the bus, whichever API process received it) before answering 201 with its URL.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse
from sqlalchemy import or_, select

from app.api.deps import Authorized, CallsDep, ConnDep, IdPath, SettingsDep, require
from app.api.outbox import Outbox, OutboxDep
from app.api.schemas.channels import (
    ChannelCommandDone,
    CruiseIn,
    PresetIn,
    PresetList,
    PtzPosition,
    PtzPreciseIn,
    SnapshotIn,
    SnapshotOut,
    SnapshotUploaded,
)
from app.api.schemas.media import BINARY, documented
from app.config import Settings
from app.db.models import Camera
from app.db.models_devices import GbDevice
from app.domain.access import Perm
from app.domain.errors import Conflict, InvalidInput, NotFound, Unavailable
from app.realtime.rpc import DeviceCalls
from app.services import snapshots

router = APIRouter(tags=["channels"])

CALL_TIMEOUT_S = 20.0  # a UDP request is retransmitted for up to 8 s, then a preset list may take pages
ONLY_2022 = "{what} is not supported by GB/T 28181-2016 devices (this channel's device speaks 2016)"
SnapshotId = Annotated[str, Path(pattern="^[0-9a-f]{32}$")]
UploadToken = Annotated[str, Path(pattern="^[A-Za-z0-9_-]{32}$")]


@lru_cache
def snapshot_settings() -> snapshots.SnapshotSettings:
    return snapshots.SnapshotSettings()


def snapshot_store(settings: Settings) -> snapshots.SnapshotStore:
    return snapshots.SnapshotStore(snapshot_settings().dir or settings.data_dir / "snapshots")


async def _channel(conn, auth: Authorized, camera_id: int, *, needs_2022: str | None = None, moves: bool = False):
    """The camera as a GB/T 28181 channel the caller may command, with its device's edition and state."""
    device = or_(GbDevice.gb_id == Camera.parent_device, GbDevice.gb_id == Camera.gb_id)
    cam = (await conn.execute(
        select(Camera.gb_id, Camera.kind, Camera.source, Camera.division_code, Camera.secrecy,
               GbDevice.edition, GbDevice.online)
        .select_from(Camera).outerjoin(GbDevice, device).where(Camera.id == camera_id)
        .order_by(GbDevice.online.desc().nulls_last()).limit(1))).first()
    if cam is None or not auth.scope.covers(cam.division_code, cam.secrecy):
        raise NotFound(f"camera {camera_id} not found")
    if cam.source != "gb28181" or not cam.gb_id:
        raise InvalidInput("this camera is not a GB/T 28181 channel", field="camera_id")
    if moves and cam.kind == "fixed":
        raise InvalidInput("this camera is fixed: it has no PTZ", field="camera_id")
    if needs_2022 and cam.edition != "2022":
        raise Conflict(ONLY_2022.format(what=needs_2022))
    if not cam.online:  # what its SIP server last wrote: nobody would answer the call
        raise Unavailable(f"the device of camera {camera_id} is not online (not registered with any SIP server)")
    return cam


def _audit(box: Outbox, action: str, auth: Authorized, camera_id: int, cam, reason: str | None,
           detail: dict) -> None:
    box.audit(action, auth, object_type="camera", object_id=str(camera_id), reason=reason,
              divisions=[cam.division_code] if cam.division_code else [], detail={"gb_id": cam.gb_id, **detail})


async def _command(conn, box: Outbox, calls: DeviceCalls, op: str, args: dict) -> dict:
    """Audited first (a preset may be overwritten even when the device's answer is lost), then sent."""
    await box.commit()
    await conn.close()  # the device may take seconds: hold no pooled connection meanwhile
    return await calls.call(op, args, timeout_s=CALL_TIMEOUT_S)


@router.get("/api/v1/cameras/{camera_id}/presets", operation_id="camera_presets", response_model=PresetList)
async def camera_presets(camera_id: IdPath, conn: ConnDep, calls: CallsDep,
                         auth: Authorized = require(Perm.PTZ)) -> dict:
    """The presets the channel's device lists (PresetQuery); 503 with the reason when it does not answer."""
    cam = await _channel(conn, auth, camera_id)
    await conn.close()
    got = await calls.call("presets", {"channel_id": cam.gb_id}, timeout_s=CALL_TIMEOUT_S)
    return {"camera_id": camera_id, "complete": bool(got.get("complete")), "presets": got.get("presets", [])}


@router.post("/api/v1/cameras/{camera_id}/presets", operation_id="camera_preset", response_model=ChannelCommandDone)
async def camera_preset(camera_id: IdPath, body: PresetIn, conn: ConnDep, box: OutboxDep, calls: CallsDep,
                        auth: Authorized = require(Perm.PTZ)) -> dict:
    """Set (store the current position as), call (go to) or delete a preset."""
    cam = await _channel(conn, auth, camera_id, moves=True)
    command = {"action": body.action, "preset": body.preset, **({"name": body.name} if body.name else {})}
    _audit(box, "camera_preset", auth, camera_id, cam, body.reason, command)
    await _command(conn, box, calls, "preset", {"channel_id": cam.gb_id, **command})
    return {"camera_id": camera_id, "command": command}


@router.post("/api/v1/cameras/{camera_id}/cruise", operation_id="camera_cruise", response_model=ChannelCommandDone)
async def camera_cruise(camera_id: IdPath, body: CruiseIn, conn: ConnDep, box: OutboxDep, calls: CallsDep,
                        auth: Authorized = require(Perm.PTZ)) -> dict:
    """Start a cruise (a tour of presets the device holds) or stop it."""
    cam = await _channel(conn, auth, camera_id, moves=True)
    command = {"action": body.action, "cruise": body.cruise}
    _audit(box, "camera_cruise", auth, camera_id, cam, body.reason, command)
    await _command(conn, box, calls, "cruise", {"channel_id": cam.gb_id, **command})
    return {"camera_id": camera_id, "command": command}


@router.get("/api/v1/cameras/{camera_id}/ptz-position", operation_id="camera_ptz_position",
            response_model=PtzPosition)
async def camera_ptz_position(camera_id: IdPath, conn: ConnDep, calls: CallsDep,
                              auth: Authorized = require(Perm.VIEW_LIVE)) -> dict:
    """Where the channel points now (GB/T 28181-2022 PTZPosition query)."""
    cam = await _channel(conn, auth, camera_id, needs_2022="the PTZ position query")
    await conn.close()
    got = await calls.call("ptz_position", {"channel_id": cam.gb_id}, timeout_s=CALL_TIMEOUT_S)
    return {"camera_id": camera_id, "pan": got["pan"], "tilt": got["tilt"], "zoom": got.get("zoom")}


@router.post("/api/v1/cameras/{camera_id}/ptz-precise", operation_id="camera_ptz_precise",
             response_model=ChannelCommandDone)
async def camera_ptz_precise(camera_id: IdPath, body: PtzPreciseIn, conn: ConnDep, box: OutboxDep,
                             calls: CallsDep, auth: Authorized = require(Perm.PTZ)) -> dict:
    """Point the channel to an absolute pan/tilt and zoom (GB/T 28181-2022 PTZPreciseCtrl)."""
    cam = await _channel(conn, auth, camera_id, needs_2022="precise PTZ", moves=True)
    command = {"pan": body.pan, "tilt": body.tilt, "zoom": body.zoom}
    _audit(box, "camera_ptz_precise", auth, camera_id, cam, body.reason, command)
    await _command(conn, box, calls, "ptz_precise", {"channel_id": cam.gb_id, **command})
    return {"camera_id": camera_id, "command": command}


@router.post("/api/v1/cameras/{camera_id}/snapshot", operation_id="camera_snapshot", status_code=201,
             response_model=SnapshotOut)
async def camera_snapshot(camera_id: IdPath, request: Request, conn: ConnDep, box: OutboxDep, calls: CallsDep,
                          settings: SettingsDep, body: SnapshotIn | None = None,
                          auth: Authorized = require(Perm.VIEW_LIVE)) -> dict:
    """Have the channel take a picture (GB/T 28181-2022 SnapShotConfig) and wait until its device uploaded
    it; 201 with the picture's URL, 503 when the device refuses or uploads nothing in time."""
    cam = await _channel(conn, auth, camera_id, needs_2022="the snapshot command")
    s, store = snapshot_settings(), snapshot_store(settings)
    snap_id, token = await asyncio.to_thread(store.issue, camera_id, auth.user_id, s.token_ttl_s)
    base = s.upload_base or str(request.base_url).rstrip("/")
    _audit(box, "camera_snapshot", auth, camera_id, cam, body.reason if body else None, {"snapshot_id": snap_id})
    arrived: asyncio.Future = asyncio.get_running_loop().create_future()

    def on_message(topic: str, msg: dict) -> None:
        if msg.get("id") == snap_id and not arrived.done():
            arrived.set_result(msg)

    unsubscribe = request.app.state.runtime.bus.subscribe(on_message, topics={snapshots.TOPIC})
    try:
        await _command(conn, box, calls, "snapshot", {"channel_id": cam.gb_id, "session_id": snap_id,
                                                      "upload_url": f"{base}/api/v1/snapshots/upload/{token}"})
        try:
            meta = await asyncio.wait_for(arrived, s.wait_s)
        except TimeoutError:
            raise Unavailable(f"the device took the command but uploaded no picture within {s.wait_s:g} s") from None
    finally:
        unsubscribe()
        await asyncio.to_thread(store.withdraw, token)  # used or not: no upload is accepted after this
    return {"id": snap_id, "url": f"/api/v1/snapshots/{snap_id}", "camera_id": camera_id,
            "sha256": meta["sha256"], "size": meta["size"]}


@router.post("/api/v1/snapshots/upload/{token}", operation_id="upload_snapshot", response_model=SnapshotUploaded)
async def upload_snapshot(token: UploadToken, request: Request, settings: SettingsDep) -> dict:
    """Where a device POSTs the picture it was asked for (raw JPEG, or the first file of a multipart form).
    No bearer: the one-time token of the URL it was given authorises one upload, within its minute."""
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None:  # nobody could learn of the upload
        raise Unavailable("snapshot uploads are not taken in this process")
    s, store = snapshot_settings(), snapshot_store(settings)
    if "multipart/form-data" in (request.headers.get("content-type") or ""):
        form = await request.form()
        part = next((v for v in form.values() if hasattr(v, "read")), None)
        if part is None:
            raise InvalidInput("no file in the form", field="body")
        data = await part.read(s.max_bytes + 1)
    else:
        data = await request.body()
    if len(data) > s.max_bytes:
        raise InvalidInput(f"a snapshot may be at most {s.max_bytes} bytes", field="body")
    if not data.startswith(snapshots.JPEG_MAGIC):
        raise InvalidInput("not a JPEG picture", field="body")  # before the ticket is used up
    ticket = await asyncio.to_thread(store.claim, token)
    meta = await asyncio.to_thread(store.save, ticket, data)
    await runtime.bus.publish(snapshots.TOPIC, {"id": meta["id"], "sha256": meta["sha256"], "size": meta["size"]})
    return {"received": True, "sha256": meta["sha256"]}


@router.get("/api/v1/snapshots/{snapshot_id}", operation_id="get_snapshot", response_class=FileResponse,
            responses=documented(200, "the picture", {"image/jpeg": BINARY}))
async def get_snapshot(snapshot_id: SnapshotId, conn: ConnDep, settings: SettingsDep,
                       auth: Authorized = require(Perm.VIEW_LIVE)):
    """A snapshot's JPEG, for whoever may watch its camera live now (404 otherwise)."""
    store = snapshot_store(settings)
    meta = await asyncio.to_thread(store.meta, snapshot_id)
    cam = (await conn.execute(select(Camera.division_code, Camera.secrecy)
                              .where(Camera.id == meta["camera_id"]))).first()
    if cam is None or not auth.scope.covers(cam.division_code, cam.secrecy):
        raise NotFound(f"snapshot {snapshot_id} not found")
    return FileResponse(store.image(meta), media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=3600"})
