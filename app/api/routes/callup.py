"""Video call-up, along-track cameras, PTZ commands, and the signed play endpoint."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import httpx
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from pydantic import AwareDatetime
from sqlalchemy import select

from app.api.deps import Authorized, ConnDep, IdPath, SettingsDep, client_ip, require
from app.api.schemas import CallupIn, PtzIn
from app.db.models import AppUser, Camera
from app.domain.access import Perm
from app.domain.errors import Forbidden, InvalidInput, NotFound, Unavailable
from app.services import audit, callup, security
from app.video import mjpeg, signing

router = APIRouter(tags=["video"])


@router.get("/api/v1/callup/seeing", operation_id="cameras_seeing")
async def seeing(conn: ConnDep, lon: Annotated[float, Query(ge=-180, le=180)],
                 lat: Annotated[float, Query(ge=-90, le=90)],
                 auth: Authorized = require(Perm.VIEW_LIVE)) -> dict:
    """Cameras whose view contains the point, ranked; offline/fault ones apart; PTZ pan bearing."""
    return await callup.cameras_seeing(conn, auth.scope, lon, lat)


@router.get("/api/v1/callup/along-track", operation_id="cameras_along_track")
async def along_track(conn: ConnDep, target_id: Annotated[int, Query(ge=1, le=2_147_483_647)],
                      start: AwareDatetime, end: AwareDatetime, request: Request,
                      auth: Authorized = require(Perm.VIEW_RECORDINGS)) -> dict:
    """Cameras whose view the target's track crossed, with enter/exit times (to pull recordings)."""
    result = await callup.cameras_along_track(conn, auth.scope, target_id, start, end)
    await audit.record(conn, "track_cameras", actor_id=auth.user_id, actor_name=auth.principal.username,
                       object_type="target", object_id=str(target_id), client_ip=client_ip(request),
                       detail={"start": start.isoformat(), "end": end.isoformat(),
                               "cameras": [s["camera_id"] for s in result["sightings"]]})
    await conn.commit()
    return result


@router.post("/api/v1/callup", operation_id="callup")
async def open_video(body: CallupIn, request: Request, conn: ConnDep, settings: SettingsDep,
                     auth: Authorized = require(Perm.VIEW_LIVE)) -> dict:
    """Signed, expiring play URLs for the chosen cameras; audited with who, which, when and why."""
    urls = await callup.play_urls(conn, auth.scope, settings, auth.user_id, body.camera_ids)
    await audit.record(conn, "video_callup", actor_id=auth.user_id, actor_name=auth.principal.username,
                       object_type="camera", object_id=",".join(map(str, body.camera_ids)), reason=body.reason,
                       client_ip=client_ip(request), detail={"cameras": body.camera_ids,
                                                             "incident_id": body.incident_id})
    await conn.commit()
    return {"streams": urls}


@router.post("/api/v1/cameras/{camera_id}/ptz", operation_id="ptz", status_code=202)
async def ptz(camera_id: IdPath, body: PtzIn, request: Request, conn: ConnDep,
              auth: Authorized = require(Perm.PTZ)) -> dict:
    cam = (await conn.execute(select(Camera.kind, Camera.division_code, Camera.secrecy, Camera.gb_id)
                              .where(Camera.id == camera_id))).first()
    if cam is None or not auth.scope.covers(cam.division_code, cam.secrecy):
        raise NotFound(f"camera {camera_id} not found")
    if cam.kind == "fixed":
        raise InvalidInput("this camera is fixed: it has no PTZ", field="camera_id")
    if body.action == "goto" and body.bearing_deg is None:
        raise InvalidInput("goto needs bearing_deg", field="bearing_deg")
    command = {"camera_id": camera_id, "gb_id": cam.gb_id, **body.model_dump(exclude={"reason"})}
    await audit.record(conn, "ptz", actor_id=auth.user_id, actor_name=auth.principal.username, object_type="camera",
                       object_id=str(camera_id), reason=body.reason, client_ip=client_ip(request), detail=command)
    await conn.commit()
    bus = getattr(request.app.state, "bus", None)
    if bus is not None:  # a GB/T 28181 server with the camera registered sends it as DeviceControl/PTZCmd
        await bus.publish("ptz", command)
    return {"accepted": True, "command": command}


PlayUid = Annotated[int, Query(ge=1, le=2_147_483_647)]
PlayExp = Annotated[int, Query(ge=0, le=2**40)]
PlaySig = Annotated[str, Query(pattern="^[0-9a-f]{1,64}$")]


async def _playable(conn, settings, camera_id: int, uid: int, exp: int, sig: str):
    """The camera behind a signed URL, once the signature and the user's live-video right (checked now:
    a URL outlives nothing that was revoked since it was issued) hold."""
    signing.verify(settings.secret_key, camera_id, uid, exp, sig)
    cam = (await conn.execute(select(Camera.name, Camera.gb_id, Camera.stream_url, Camera.division_code,
                                     Camera.secrecy).where(Camera.id == camera_id))).first()
    if cam is None:
        raise NotFound(f"camera {camera_id} not found")
    version = (await conn.execute(select(AppUser.token_version).where(AppUser.id == uid))).scalar()
    principal = await security.load_principal(conn, uid, version if version is not None else -1)
    if not principal.can(Perm.VIEW_LIVE, datetime.now(UTC), cam.division_code, cam.secrecy):
        raise Forbidden("no live-video permission for this camera")
    await conn.close()  # a stream or a media server's answer may take long: do not hold a pooled connection
    return cam


@router.get("/video/play/{camera_id}", operation_id="play", response_class=StreamingResponse)
async def play(camera_id: IdPath, conn: ConnDep, settings: SettingsDep, uid: PlayUid, exp: PlayExp, sig: PlaySig):
    """The stream behind a signed URL: the camera's own stream, or the demo MJPEG for demo cameras."""
    cam = await _playable(conn, settings, camera_id, uid, exp, sig)
    if cam.stream_url:
        return RedirectResponse(cam.stream_url, status_code=307)
    return StreamingResponse(mjpeg.stream(cam.name, cam.gb_id),
                             media_type=f"multipart/x-mixed-replace; boundary={mjpeg.BOUNDARY}",
                             headers={"Cache-Control": "no-store"})


@router.post("/video/play/{camera_id}", operation_id="play_webrtc", status_code=201,
             openapi_extra={"requestBody": {"required": True, "content": {"application/sdp": {
                 "schema": {"type": "string"}}}}})
async def play_webrtc(camera_id: IdPath, request: Request, conn: ConnDep, settings: SettingsDep,
                      uid: PlayUid, exp: PlayExp, sig: PlaySig) -> Response:
    """WebRTC through a signed URL (WHEP, RFC 9725): the browser's SDP offer goes to the camera's media
    server through the platform, which answers with the server's SDP; the video then flows directly."""
    cam = await _playable(conn, settings, camera_id, uid, exp, sig)
    if not cam.stream_url or callup.stream_format(cam.stream_url) != "webrtc":
        raise InvalidInput("this camera has no WebRTC (WHEP) stream", field="camera_id")
    offer = await request.body()
    if not offer.startswith(b"v=0") or len(offer) > 64_000:
        raise InvalidInput("the body must be an SDP offer (application/sdp)", field="body")
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.post(cam.stream_url, content=offer, headers={"Content-Type": "application/sdp"})
    except httpx.HTTPError as exc:
        raise Unavailable(f"media server unreachable: {type(exc).__name__}") from exc
    if r.status_code not in (200, 201):
        raise Unavailable(f"media server refused the offer ({r.status_code})")
    return Response(r.content, status_code=201, media_type="application/sdp", headers={"Cache-Control": "no-store"})
