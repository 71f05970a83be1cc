"""Video call-up, along-track cameras, PTZ commands, and the signed play endpoint."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime
from sqlalchemy import select
from starlette.background import BackgroundTask

from app.api.deps import Authorized, ConnDep, IdPath, SettingsDep, require
from app.api.outbox import OutboxDep
from app.api.schemas import CallupIn, CallupOut, CamerasAlongTrack, CamerasSeeing, PtzAccepted, PtzIn
from app.api.schemas.media import STREAM_MEDIA, TEXT, SDPResponse, documented
from app.db.models import AppUser, Camera
from app.domain import hls
from app.domain.access import Perm
from app.domain.errors import Forbidden, InvalidInput, NotFound, Unavailable
from app.runtime.media_relay import RemoteGbVideo
from app.runtime.roles import runs
from app.runtime.video import GbVideo, first_bytes
from app.services import callup, security
from app.video import mjpeg, relay, sessions, signing

router = APIRouter(tags=["video"])


@router.get("/api/v1/callup/seeing", operation_id="cameras_seeing", response_model=CamerasSeeing)
async def seeing(conn: ConnDep, lon: Annotated[float, Query(ge=-180, le=180)],
                 lat: Annotated[float, Query(ge=-90, le=90)],
                 auth: Authorized = require(Perm.VIEW_LIVE)) -> dict:
    """Cameras whose view contains the point, ranked; offline/fault ones apart; PTZ pan bearing."""
    return await callup.cameras_seeing(conn, auth.scope, lon, lat)


@router.get("/api/v1/callup/along-track", operation_id="cameras_along_track", response_model=CamerasAlongTrack)
async def along_track(conn: ConnDep, target_id: Annotated[int, Query(ge=1, le=2_147_483_647)],
                      start: AwareDatetime, end: AwareDatetime, box: OutboxDep,
                      auth: Authorized = require(Perm.VIEW_RECORDINGS)) -> dict:
    """Cameras whose view the target's track crossed, with enter/exit times (to pull recordings)."""
    result = await callup.cameras_along_track(conn, auth.scope, target_id, start, end)
    box.audit("track_cameras", auth, object_type="target", object_id=str(target_id),
              detail={"start": start.isoformat(), "end": end.isoformat(),
                      "cameras": [s["camera_id"] for s in result["sightings"]]})
    await box.commit()
    return result


@router.post("/api/v1/callup", operation_id="callup", response_model=CallupOut)
async def open_video(body: CallupIn, conn: ConnDep, box: OutboxDep, settings: SettingsDep,
                     auth: Authorized = require(Perm.VIEW_LIVE)) -> dict:
    """Signed, expiring play URLs for the chosen cameras; audited with who, which, when and why."""
    # Bound to the token version: a logout voids the URLs issued before it, and stops their streams.
    version = (await conn.execute(select(AppUser.token_version).where(AppUser.id == auth.user_id))).scalar_one()
    urls = await callup.play_urls(conn, auth.scope, settings, auth.user_id, body.camera_ids, token_version=version)
    box.audit("video_callup", auth, object_type="camera", object_id=",".join(map(str, body.camera_ids)),
              reason=body.reason, detail={"cameras": body.camera_ids, "incident_id": body.incident_id})
    await box.commit()
    return {"streams": urls}


@router.post("/api/v1/cameras/{camera_id}/ptz", operation_id="ptz", status_code=202, response_model=PtzAccepted)
async def ptz(camera_id: IdPath, body: PtzIn, conn: ConnDep, box: OutboxDep,
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
    box.audit("ptz", auth, object_type="camera", object_id=str(camera_id), reason=body.reason, detail=command)
    # A GB/T 28181 server with the camera registered sends it as DeviceControl/PTZCmd.
    box.announce("ptz", command)
    await box.commit()
    return {"accepted": True, "command": command}


PlayUid = Annotated[int, Query(ge=1, le=2_147_483_647)]
PlayVer = Annotated[int, Query(ge=0, le=2_147_483_647)]
PlayExp = Annotated[int, Query(ge=0, le=2**40)]
PlaySig = Annotated[str, Query(pattern="^[0-9a-f]{1,64}$")]
RelayRef = Annotated[str, Path(pattern="^[A-Za-z0-9_-]{16,4096}$")]
NEEDS_MEDIA_SERVER = ("{fmt} is not played by browsers: put a media server (ZLMediaKit, SRS, MediaMTX…) in front "
                      "and give the camera its HLS, HTTP-FLV or WHEP URL as stream_url")


async def viewer_allowed(conn, camera_id: int, uid: int, version: int, perm: Perm = Perm.VIEW_LIVE):
    """The camera and the viewer, once the viewer's right (live video, or recordings) holds now: the play
    URL's token version still current (no logout since), the user active, a grant in force for the camera's
    division and secrecy."""
    cam = (await conn.execute(select(Camera.name, Camera.gb_id, Camera.stream_url, Camera.division_code,
                                     Camera.secrecy, Camera.source).where(Camera.id == camera_id))).first()
    if cam is None:
        raise NotFound(f"camera {camera_id} not found")
    try:
        principal = await security.load_principal(conn, uid, version)
    except security.AuthError as exc:
        raise Forbidden("play URL revoked (signed out since); call the camera up again") from exc
    if not principal.can(perm, datetime.now(UTC), cam.division_code, cam.secrecy):
        raise Forbidden("no live-video permission for this camera" if perm == Perm.VIEW_LIVE
                        else "no permission to view this camera's recordings")
    await conn.close()  # a stream or a media server's answer may take long: do not hold a pooled connection
    return cam, principal


async def _playable(conn, settings, camera_id: int, uid: int, ver: int, exp: int, sig: str):
    """The camera behind a signed URL, once the signature and the user's live-video right (checked now:
    a URL outlives nothing that was revoked since it was issued) hold."""
    signing.verify(settings.secret_key, camera_id, uid, exp, sig, version=ver)
    return await viewer_allowed(conn, camera_id, uid, ver)


def gb_video(request: Request) -> GbVideo | RemoteGbVideo:
    """This process's GB/T 28181 video, or, in a process without a SIP server (``--role api``), the video
    read from the process whose SIP server holds the device."""
    rt = getattr(request.app.state, "runtime", None)
    if getattr(rt, "video", None) is not None:
        return rt.video
    if rt is None or rt.calls is None or runs(rt.role, "sip"):  # a SIP role whose server did not start
        raise Unavailable("GB/T 28181 video is served by the process that runs the SIP server; it is not running")
    return RemoteGbVideo(rt.calls, request.app.state.settings.secret_key)


def _relay_url(settings, camera_id: int, v: sessions.Viewing, url: str) -> str:
    ref = signing.seal(settings.secret_key, camera_id,
                       {"k": "hls", "u": url, "uid": v.user_id, "ver": v.version, "sid": v.id})
    return f"/video/play/{camera_id}/r/{ref}"


def serve_stream(viewings: sessions.Viewings, v: sessions.Viewing, body, media_type: str) -> StreamingResponse:
    return StreamingResponse(viewings.guard(v, body), media_type=media_type,
                             headers={"Cache-Control": "no-store", "X-Viewing": v.id},
                             background=BackgroundTask(viewings.stop, v, "ended"))


async def _playlist(settings, viewings: sessions.Viewings, camera_id: int, v: sessions.Viewing, url: str) -> Response:
    text, final = await relay.fetch_playlist(url)
    try:
        body = hls.rewrite(text, final, lambda u: _relay_url(settings, camera_id, v, u))
    except ValueError as exc:
        viewings.stop(v, "ended")
        raise Unavailable("the camera's HLS URL did not answer a playlist") from exc
    v.bytes += len(text)
    v.last_active = time.monotonic()
    return Response(body, media_type="application/vnd.apple.mpegurl",
                    headers={"Cache-Control": "no-store", "X-Viewing": v.id})


@router.get("/video/play/{camera_id}", operation_id="play", response_class=StreamingResponse,
            responses=documented(200, "the stream, in the camera's own format", STREAM_MEDIA))
async def play(camera_id: IdPath, request: Request, conn: ConnDep, settings: SettingsDep, uid: PlayUid,
               ver: PlayVer, exp: PlayExp, sig: PlaySig):
    """The stream behind a signed URL, served by the platform: the camera's own stream relayed (MJPEG,
    HTTP-FLV; HLS with every playlist and segment through the platform) or the demo MJPEG for demo cameras.
    Its address and credentials stay on the server; the viewing ends within seconds of a logout or a
    revoked or expired grant, and its end is audited (``video_stop``)."""
    cam, principal = await _playable(conn, settings, camera_id, uid, ver, exp, sig)
    fmt = callup.stream_format(cam.stream_url, cam.source)
    if fmt in ("rtsp", "rtmp"):
        raise InvalidInput(NEEDS_MEDIA_SERVER.format(fmt=fmt.upper()), field="camera_id")
    if fmt == "webrtc":
        raise InvalidInput("this camera plays over WebRTC: POST an SDP offer to this URL (WHEP)", field="camera_id")
    viewings = sessions.for_app(request.app)
    v = sessions.Viewing(uid, principal.username, ver, camera_id, fmt,
                         kind=sessions.REQUESTS if fmt == "hls" else sessions.STREAM)
    if fmt == "ts":  # a GB/T 28181 channel: its device's own stream, shared by all its viewers
        body = await first_bytes(gb_video(request).live(cam.gb_id))
        viewings.open(v)
        return serve_stream(viewings, v, body, "video/mp2t")
    if not cam.stream_url:
        viewings.open(v)
        return serve_stream(viewings, v, mjpeg.stream(cam.name, cam.gb_id),
                       f"multipart/x-mixed-replace; boundary={mjpeg.BOUNDARY}")
    if fmt == "hls":
        viewings.open(v)
        return await _playlist(settings, viewings, camera_id, v, cam.stream_url)
    upstream = await relay.open_stream(cam.stream_url)
    viewings.open(v)
    return serve_stream(viewings, v, upstream.body, upstream.content_type)


@router.get("/video/play/{camera_id}/r/{ref}", operation_id="play_relay", response_class=StreamingResponse,
            responses=documented(200, "an HLS playlist or segment", STREAM_MEDIA))
async def play_relay(camera_id: IdPath, ref: RelayRef, request: Request, conn: ConnDep, settings: SettingsDep):
    """A playlist or segment of a relayed HLS viewing, named by a sealed reference only the platform reads;
    the viewer's right is checked again on every request."""
    r = signing.unseal(settings.secret_key, camera_id, ref)
    if r.get("k") != "hls":
        raise Forbidden("invalid relay reference")
    viewings = sessions.for_app(request.app)
    sid = str(r.get("sid"))
    if sid in viewings.revoked:
        raise Forbidden("this viewing was stopped: the live-video right was withdrawn")
    _cam, principal = await viewer_allowed(conn, camera_id, int(r["uid"]), int(r["ver"]))
    v = viewings.get(sid) or viewings.open(sessions.Viewing(  # another process started it, or it idled out
        int(r["uid"]), principal.username, int(r["ver"]), camera_id, "hls", kind=sessions.REQUESTS, id=sid))
    url = str(r["u"])
    if hls.is_playlist(url, None):
        return await _playlist(settings, viewings, camera_id, v, url)
    upstream = await relay.open_stream(url)
    v.last_active = time.monotonic()
    return StreamingResponse(viewings.guard(v, upstream.body, end=False), media_type=upstream.content_type,
                             headers={"Cache-Control": "no-store"})


@router.post("/video/play/{camera_id}", operation_id="play_webrtc", status_code=201, response_class=SDPResponse,
             responses=documented(201, "the media server's SDP answer", {"application/sdp": TEXT}),
             openapi_extra={"requestBody": {"required": True, "content": {"application/sdp": {
                 "schema": {"type": "string"}}}}})
async def play_webrtc(camera_id: IdPath, request: Request, conn: ConnDep, settings: SettingsDep,
                      uid: PlayUid, ver: PlayVer, exp: PlayExp, sig: PlaySig) -> Response:
    """WebRTC through a signed URL (WHEP, RFC 9725): the browser's SDP offer goes to the camera's media
    server through the platform, which answers with the server's SDP; the video then flows directly. The
    session resource (``Location``) is the platform's too: deleting it, a logout or a withdrawn right
    deletes the session at the media server, which stops the video."""
    cam, principal = await _playable(conn, settings, camera_id, uid, ver, exp, sig)
    if not cam.stream_url or callup.stream_format(cam.stream_url) != "webrtc":
        raise InvalidInput("this camera has no WebRTC (WHEP) stream", field="camera_id")
    offer = await request.body()
    if not offer.startswith(b"v=0") or len(offer) > 64_000:
        raise InvalidInput("the body must be an SDP offer (application/sdp)", field="body")
    answer, resource = await relay.whep_offer(cam.stream_url, offer)
    viewings = sessions.for_app(request.app)
    v = sessions.Viewing(uid, principal.username, ver, camera_id, "webrtc", kind=sessions.WEBRTC)
    headers = {"Cache-Control": "no-store"}
    if resource:
        v.on_stop = functools.partial(relay.whep_delete, resource)
        headers["Location"] = f"/video/play/{camera_id}/whep/" + signing.seal(
            settings.secret_key, camera_id, {"k": "whep", "u": resource, "sid": v.id})
    viewings.open(v)
    return Response(answer, status_code=201, media_type="application/sdp", headers=headers)


@router.delete("/video/play/{camera_id}/whep/{ref}", operation_id="play_webrtc_end", status_code=204)
async def play_webrtc_end(camera_id: IdPath, ref: RelayRef, request: Request, settings: SettingsDep) -> None:
    """The viewer closes its WebRTC viewing: the session at the media server is deleted."""
    r = signing.unseal(settings.secret_key, camera_id, ref)
    if r.get("k") != "whep":
        raise Forbidden("invalid relay reference")
    viewings = sessions.for_app(request.app)
    v = viewings.get(str(r.get("sid")))
    if v is not None:
        v.on_stop = None  # deleted here, before the answer
        viewings.stop(v, "ended")
    await relay.whep_delete(str(r["u"]))
