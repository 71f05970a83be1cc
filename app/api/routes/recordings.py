"""Recordings on the devices: a channel's timeline for a time range, an incident's evidence (the recordings
of the cameras that saw the scene, over the incident's time), and playing or downloading a range of them
through the platform (GB/T 28181 ``s=Playback`` / ``s=Download``)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Path, Request
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime
from sqlalchemy import select

from app.api.deps import Authorized, CallsDep, ConnDep, IdPath, SettingsDep, require
from app.api.outbox import OutboxDep
from app.api.routes.callup import gb_video, serve_stream, viewer_allowed
from app.api.schemas import Evidence, PlaybackIn, PlaybackOut, Recordings
from app.api.schemas.media import STREAM_MEDIA, documented
from app.db.models import AppUser, Camera
from app.domain.access import Perm
from app.domain.errors import DomainError, Forbidden, InvalidInput, NotFound, Unavailable
from app.runtime.video import first_bytes
from app.services import callup, incidents, recordings
from app.video import sessions, signing

router = APIRouter(tags=["recordings"])

MAX_RANGE = timedelta(days=100)
BEFORE_INCIDENT = timedelta(minutes=15)  # what led up to the call is evidence too
EVIDENCE_CAMERAS = 12
EVIDENCE_TIMEOUT_S = 10.0
OFFLINE = "the camera is offline: its device cannot be asked for recordings now"


PlaybackRef = Path(pattern="^[A-Za-z0-9_-]{16,2048}$")


def _range(start: datetime, end: datetime) -> None:
    if end <= start:
        raise InvalidInput("end must be after start", field="end")
    if end - start > MAX_RANGE:
        raise InvalidInput(f"at most {MAX_RANGE.days} days at once", field="start")


async def _gb_camera(conn, auth: Authorized, camera_id: int):
    cam = (await conn.execute(select(Camera.gb_id, Camera.source, Camera.division_code, Camera.secrecy,
                                     Camera.status).where(Camera.id == camera_id))).first()
    if cam is None or not auth.scope.covers(cam.division_code, cam.secrecy):
        raise NotFound(f"camera {camera_id} not found")
    if cam.source != callup.GB28181 or not cam.gb_id:
        raise InvalidInput("this camera's recordings cannot be asked for: it is not a GB/T 28181 channel",
                           field="camera_id")
    return cam


@router.get("/api/v1/cameras/{camera_id}/recordings", operation_id="camera_recordings", response_model=Recordings)
async def camera_recordings(camera_id: IdPath, start: AwareDatetime, end: AwareDatetime, conn: ConnDep,
                            calls: CallsDep, auth: Authorized = require(Perm.VIEW_RECORDINGS)) -> dict:
    """The channel's recordings in [start, end) as its device lists them (GB/T 28181 RecordInfo), merged
    into segments with the gaps between them. 503 with the reason when the device does not answer."""
    _range(start, end)
    cam = await _gb_camera(conn, auth, camera_id)
    if cam.status != "online":
        raise Unavailable(OFFLINE)
    await conn.close()  # the device may take seconds: hold no pooled connection meanwhile
    segs, complete = await recordings.ask(calls, cam.gb_id, start, end)
    return {"camera_id": camera_id, **recordings.timeline(segs, start, end, complete)}


@router.get("/api/v1/incidents/{incident_id}/evidence", operation_id="incident_evidence", response_model=Evidence)
async def incident_evidence(incident_id: IdPath, conn: ConnDep, calls: CallsDep, box: OutboxDep,
                            auth: Authorized = require(Perm.VIEW_RECORDINGS)) -> dict:
    """The recordings of the cameras that see the incident's spot, and of mobile devices' cameras that passed
    it, from shortly before it was opened until it was closed (or now), each camera's device asked at once;
    audited (``evidence_list``)."""
    feat = await incidents.get(conn, auth.scope, incident_id)
    p = feat["properties"]
    lon, lat = feat["geometry"]["coordinates"]
    start = datetime.fromisoformat(p["created_at"]) - BEFORE_INCIDENT
    end_at = p.get("closed_at") or p.get("resolved_at")
    end = datetime.fromisoformat(end_at) if end_at else datetime.now(UTC)
    seen = await callup.cameras_seeing(conn, auth.scope, lon, lat)
    cams = (seen["cameras"] + seen["unavailable"])[:EVIDENCE_CAMERAS]
    # Body, vehicle and drone cameras that passed the scene in the window, wherever they are now.
    known = {c["id"] for c in cams}
    cams += [c for c in await callup.mobile_cameras_passing(conn, auth.scope, lon, lat, start, end)
             if c["id"] not in known][:max(0, EVIDENCE_CAMERAS - len(cams))]
    sources = dict((await conn.execute(select(Camera.id, Camera.source)
                                       .where(Camera.id.in_([c["id"] for c in cams])))).all())
    box.audit("evidence_list", auth, object_type="incident", object_id=str(incident_id),
              detail={"cameras": [c["id"] for c in cams]})
    await box.commit()
    await conn.close()

    async def one(c: dict) -> dict:
        base = {"camera_id": c["id"], "gb_id": c["gb_id"], "name": c["name"], "distance_m": c["distance_m"],
                "segments": [], "recorded_s": 0.0}
        if sources.get(c["id"]) != callup.GB28181 or not c["gb_id"]:
            return {**base, "state": "not_recording_device"}
        if c["status"] != "online":  # its device is not registered: nobody to ask
            return {**base, "state": "no_answer", "reason": OFFLINE}
        try:
            segs, complete = await recordings.ask(calls, c["gb_id"], start, end, timeout_s=EVIDENCE_TIMEOUT_S)
        except DomainError as exc:
            return {**base, "state": "no_answer", "reason": str(exc)}
        t = recordings.timeline(segs, start, end, complete)
        return {**base, "state": "answered", "complete": complete, "segments": t["segments"],
                "recorded_s": t["recorded_s"]}

    return {"incident_id": incident_id, "start": start.isoformat(), "end": end.isoformat(),
            "cameras": list(await asyncio.gather(*(one(c) for c in cams)))}


@router.post("/api/v1/callup/playback", operation_id="open_playback", status_code=201, response_model=PlaybackOut)
async def open_playback(body: PlaybackIn, conn: ConnDep, box: OutboxDep, settings: SettingsDep,
                        auth: Authorized = require(Perm.VIEW_RECORDINGS)) -> dict:
    """A signed, expiring URL that plays (or downloads) [start, end) of a channel's recording from its
    device; audited with who, which, which range and why (``video_playback`` / ``video_download``)."""
    _range(body.start, body.end)
    if body.end > datetime.now(UTC) + timedelta(minutes=1):
        raise InvalidInput("a recording ends in the past: use live video for now", field="end")
    await _gb_camera(conn, auth, body.camera_id)
    version = (await conn.execute(select(AppUser.token_version).where(AppUser.id == auth.user_id))).scalar_one()
    expires = int(time.time() + settings.play_url_minutes * 60)
    ref = signing.seal(settings.secret_key, body.camera_id, {
        "k": "pb", "uid": auth.user_id, "ver": version, "exp": expires, "s": body.start.isoformat(),
        "e": body.end.isoformat(), "sp": body.speed, "dl": body.download})
    box.audit("video_download" if body.download else "video_playback", auth, object_type="camera",
              object_id=str(body.camera_id), reason=body.reason,
              detail={"start": body.start.isoformat(), "end": body.end.isoformat(), "speed": body.speed,
                      "incident_id": body.incident_id})
    await box.commit()
    return {"camera_id": body.camera_id, "url": f"/video/playback/{body.camera_id}/{ref}", "format": "ts",
            "start": body.start.isoformat(), "end": body.end.isoformat(), "speed": body.speed,
            "download": body.download, "expires": expires}


@router.get("/video/playback/{camera_id}/{ref}", operation_id="play_recording", response_class=StreamingResponse,
            responses=documented(200, "the recording as MPEG-TS", STREAM_MEDIA))
async def play_recording(camera_id: IdPath, request: Request, conn: ConnDep, settings: SettingsDep,
                         ref: str = PlaybackRef):
    """The recording behind a sealed playback URL, from the channel's device through the platform; the
    viewer's right to recordings is checked again now, and the viewing ends on logout or a withdrawn grant."""
    r = signing.unseal(settings.secret_key, camera_id, ref)
    if r.get("k") != "pb":
        raise Forbidden("invalid playback reference")
    if time.time() > int(r["exp"]):
        raise Forbidden("playback URL expired; open the recording again")
    cam, principal = await viewer_allowed(conn, camera_id, int(r["uid"]), int(r["ver"]), Perm.VIEW_RECORDINGS)
    viewer = gb_video(request).playback(cam.gb_id, datetime.fromisoformat(r["s"]), datetime.fromisoformat(r["e"]),
                                        download=bool(r["dl"]), speed=float(r["sp"]))
    body = await first_bytes(viewer)
    viewings = sessions.for_app(request.app)
    v = sessions.Viewing(int(r["uid"]), principal.username, int(r["ver"]), camera_id, "playback",
                         kind=sessions.STREAM)
    viewings.open(v)
    resp = serve_stream(viewings, v, body, "video/mp2t")
    if r["dl"]:
        resp.headers["Content-Disposition"] = f'attachment; filename="{cam.gb_id}-{r["s"][:19]}.ts"'.replace(":", "")
    return resp
