"""A mobile device's camera (body camera, vehicle camera, drone) replayed: ``GET /cameras/{id}/track`` is
the device's track over a window together with the camera's recordings of that window, so that a moment
on the track plays the video of that moment (``POST /callup/playback``). Scoped like recordings (a camera
out of scope is not found), audited like an evidence list (``mobile_track``)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from pydantic import AwareDatetime
from sqlalchemy import select

from app.api.deps import Authorized, CallsDep, ConnDep, IdPath, require
from app.api.outbox import OutboxDep
from app.api.routes.recordings import EVIDENCE_TIMEOUT_S, OFFLINE
from app.api.schemas.mobile_track import CameraTrack
from app.db.models import Camera
from app.domain.access import Perm
from app.domain.errors import DomainError, InvalidInput, NotFound
from app.services import mobile_track, recordings

router = APIRouter(tags=["recordings"])

MAX_WINDOW = timedelta(days=7)  # a device's fixes every few seconds: a week is ~120,000 points


@router.get("/api/v1/cameras/{camera_id}/track", operation_id="camera_track", response_model=CameraTrack)
async def camera_track(camera_id: IdPath, start: AwareDatetime, end: AwareDatetime, conn: ConnDep,
                       calls: CallsDep, box: OutboxDep, auth: Authorized = require(Perm.VIEW_RECORDINGS)) -> dict:
    """Where the camera's mobile device went in [start, end) and what the camera recorded meanwhile (its
    device asked with RecordInfo; ``recordings.state`` says whether it answered). 422 for a camera that does
    not follow a mobile device."""
    if end <= start:
        raise InvalidInput("end must be after start", field="end")
    if end - start > MAX_WINDOW:
        raise InvalidInput(f"at most {MAX_WINDOW.days} days at once", field="start")
    cam = (await conn.execute(select(Camera.gb_id, Camera.name, Camera.parent_device, Camera.source,
                                     Camera.division_code, Camera.secrecy, Camera.status)
                              .where(Camera.id == camera_id))).first()
    if cam is None or not auth.scope.covers(cam.division_code, cam.secrecy):
        raise NotFound(f"camera {camera_id} not found")
    if cam.source != "gb28181" or not cam.gb_id:
        raise InvalidInput(mobile_track.NOT_MOBILE, field="camera_id")
    track = await mobile_track.camera_track(conn, cam.gb_id, cam.parent_device, start, end)
    box.audit("mobile_track", auth, object_type="camera", object_id=str(camera_id),
              detail={"start": start.isoformat(), "end": end.isoformat(), "target_id": track["target_id"],
                      "fixes": len(track["t"])})
    await box.commit()
    await conn.close()  # the device may take seconds: hold no pooled connection meanwhile
    empty = {"segments": [], "gaps": [], "recorded_s": 0.0}
    if cam.status != "online":
        rec = {**empty, "state": "no_answer", "reason": OFFLINE}
    else:
        try:
            segs, complete = await recordings.ask(calls, cam.gb_id, start, end, timeout_s=EVIDENCE_TIMEOUT_S)
            t = recordings.timeline(segs, start, end, complete)
            rec = {"state": "answered", "complete": complete, "segments": t["segments"], "gaps": t["gaps"],
                   "recorded_s": t["recorded_s"]}
        except DomainError as exc:
            rec = {**empty, "state": "no_answer", "reason": str(exc)}
    return {"camera_id": camera_id, "gb_id": cam.gb_id, "name": cam.name, "start": start.isoformat(),
            "end": end.isoformat(), **track, "recordings": rec}
