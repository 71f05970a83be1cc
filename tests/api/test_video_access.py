"""Video access stays under control (issue #15), over real sockets: an API process and a stand-in camera /
media server on its own origin whose streams need credentials.

A play URL never reveals the origin (no redirect; headers, bodies and HLS playlists free of its address and
credentials; the platform serves every byte), and a stream that is playing stops within seconds when its
viewer signs out, loses the grant, or the grant runs out; its end is audited."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiortc import RTCPeerConnection

from tests.live_servers import PASSWORD, ApiProcess, token
from tests.media_server import PASSWORD as CAM_PASSWORD
from tests.media_server import USER, running_media_server
from tests.waiting import wait_for

SPOT = (24.9420, 60.1700)  # a quiet corner of the demo city


class Reader(threading.Thread):
    """Reads one streamed response to its end in the background, as a player does."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.status: int | None = None
        self.headers: httpx.Headers | None = None
        self.head = b""
        self.received = 0
        self.ended = threading.Event()
        self.leave = False  # the viewer closes the tile
        self.start()

    def run(self) -> None:
        try:
            with httpx.stream("GET", self.url, timeout=httpx.Timeout(10, read=120)) as r:
                self.status, self.headers = r.status_code, r.headers
                for chunk in r.iter_raw():
                    if self.leave:
                        break
                    self.received += len(chunk)
                    if len(self.head) < 100_000:
                        self.head += chunk
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    with running_media_server(tmp_path_factory.mktemp("media")) as ms:
        yield ms


@pytest.fixture(scope="module")
def base(demo_db_url, media):
    proc = ApiProcess(demo_db_url)
    proc.start()
    try:
        yield proc.base
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def cams(base, media):
    """Cameras whose stream URLs carry the origin's address and credentials, as configured by an admin."""
    adm = {"Authorization": f"Bearer {token(base, 'admin')}"}
    origin = media.origin.replace("http://", f"http://{USER}:{CAM_PASSWORD}@")
    out = {}
    for i, (name, url) in enumerate([("mjpeg", "/private/cam.mjpeg"), ("hls", "/private/live/cam1/index.m3u8"),
                                     ("flv", "/private/live/cam2.flv"), ("webrtc", "/private/live/cam3/whep"),
                                     ("rtsp", None), ("demo", None)]):
        stream_url = origin + url if url else ("rtsp://admin:pw@10.0.0.9:554/h264" if name == "rtsp" else None)
        r = httpx.post(base + "/api/v1/cameras", headers=adm, json={
            "name": f"va-{name}", "lon": SPOT[0] + i * 1e-4, "lat": SPOT[1], "kind": "ptz", "range_m": 80,
            "cls": 1, "stream_url": stream_url})
        assert r.status_code == 201, r.text
        out[name] = r.json()["id"]
    division = httpx.get(f"{base}/api/v1/cameras/{out['mjpeg']}", headers=adm).json()["properties"]["division_code"]
    out["division"] = division
    return out


def callup(base: str, tok: str, camera_ids: list[int]) -> dict[int, dict]:
    r = httpx.post(base + "/api/v1/callup", headers={"Authorization": f"Bearer {tok}"},
                   json={"camera_ids": camera_ids, "reason": "视频核查 check"})
    assert r.status_code == 200, r.text
    return {s["camera_id"]: s for s in r.json()["streams"]}


def new_viewer(base: str, division: str, name: str) -> tuple[str, int]:
    """A dispatcher granted exactly the cameras' division: (token, grant id)."""
    adm = {"Authorization": f"Bearer {token(base, 'admin')}"}
    r = httpx.post(base + "/api/v1/users", headers=adm, json={
        "username": name, "password": PASSWORD, "role": "dispatcher", "division_code": division})
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    user = next(u for u in httpx.get(base + "/api/v1/users", headers=adm).json() if u["id"] == uid)
    return token(base, name), user["grants"][0]["id"]


async def whep(base: str, url: str, delete: bool) -> tuple[httpx.Response, httpx.Response | None]:
    """A WHEP viewer's offer (aiortc), and its goodbye (``DELETE`` of the session resource) if ``delete``."""
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        answer = await c.post(url, content=pc.localDescription.sdp, headers={"Content-Type": "application/sdp"})
        gone = await c.delete(answer.headers.get("location", "/nowhere")) if delete else None
    await pc.close()
    return answer, gone


def leaks(media, text: str) -> list[str]:
    host = media.origin.removeprefix("http://")
    return [s for s in (host, USER, CAM_PASSWORD, "/private/") if s in text]


def test_play_urls_never_reveal_the_origin(base, media, cams):
    tok = token(base, "dispatcher")
    streams = callup(base, tok, [cams[k] for k in ("mjpeg", "hls", "flv", "webrtc", "rtsp")])
    assert leaks(media, str(streams)) == []
    authorized = media.authorized

    # MJPEG: the platform streams the camera's multipart itself, no redirect.
    mj = Reader(base + streams[cams["mjpeg"]]["url"])
    wait_for(lambda: mj.received > 20_000, what="MJPEG bytes")
    assert mj.status == 200 and mj.headers["content-type"].startswith("multipart/x-mixed-replace")
    assert leaks(media, str(dict(mj.headers))) == [] and b"--camframe" in mj.head
    assert media.authorized > authorized  # the credentials were used, by the platform only
    mj.leave = True  # the viewer leaves: the platform lets go of the camera too
    wait_for(lambda: media.mjpeg_open == 0, what="the camera connection to close after the viewer left")

    # HTTP-FLV: the same bytes as the origin's file.
    flv = httpx.get(base + streams[cams["flv"]]["url"], follow_redirects=False, timeout=30)
    assert flv.status_code == 200 and leaks(media, str(dict(flv.headers))) == []
    assert flv.content == (media.root / "cam2.flv").read_bytes()

    # HLS: the playlist names only the platform's relay URLs; every segment comes through them, intact.
    pl = httpx.get(base + streams[cams["hls"]]["url"], follow_redirects=False, timeout=30)
    assert pl.status_code == 200 and pl.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert leaks(media, pl.text + str(dict(pl.headers))) == [] and ".ts" not in pl.text
    uris = [line for line in pl.text.splitlines() if line and not line.startswith("#")]
    origin_segments = [line for line in (media.root / "cam1" / "index.m3u8").read_text().splitlines()
                       if line and not line.startswith("#")]
    assert len(uris) == len(origin_segments) and all(u.startswith(f"/video/play/{cams['hls']}/r/") for u in uris)
    for uri, name in zip(uris, origin_segments, strict=True):
        seg = httpx.get(base + uri, follow_redirects=False, timeout=30)
        assert seg.status_code == 200 and seg.content == (media.root / "cam1" / name).read_bytes()
    forged = uris[0][:-6] + ("AAAAAA" if not uris[0].endswith("AAAAAA") else "BBBBBB")
    assert httpx.get(base + forged).status_code == 403

    # WebRTC: the SDP goes through the platform; the session resource is the platform's, and deleting it
    # deletes the media server's session.
    answer, gone = asyncio.run(whep(base, streams[cams["webrtc"]]["url"], delete=True))
    assert answer.status_code == 201, answer.text
    assert leaks(media, answer.text + str(dict(answer.headers))) == []
    assert answer.headers["location"].startswith(f"/video/play/{cams['webrtc']}/whep/")
    assert gone.status_code == 204 and len(media.deleted) == 1

    # RTSP: refused with the reason, nothing redirected.
    rtsp = httpx.get(base + streams[cams["rtsp"]]["url"], follow_redirects=False)
    assert rtsp.status_code == 422 and "media server" in rtsp.json()["error"]["message"]
    assert "10.0.0.9" not in rtsp.text


def test_sign_out_stops_streams_that_are_playing(base, media, cams):
    tok = token(base, "commander")
    streams = callup(base, tok, [cams["mjpeg"], cams["demo"], cams["hls"]])
    relayed, demo = Reader(base + streams[cams["mjpeg"]]["url"]), Reader(base + streams[cams["demo"]]["url"])
    wait_for(lambda: relayed.received > 20_000 and demo.received > 20_000, what="both streams flowing")
    pl = httpx.get(base + streams[cams["hls"]]["url"], timeout=30)
    segment = next(line for line in pl.text.splitlines() if line and not line.startswith("#"))
    assert httpx.get(base + segment, timeout=30).status_code == 200

    r = httpx.post(base + "/api/v1/auth/logout", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 204
    wait_for(lambda: relayed.ended.is_set() and demo.ended.is_set(), what="streams to stop after sign-out")
    wait_for(lambda: media.mjpeg_open == 0, what="the camera connection to close")
    # Nothing plays on: not the play URLs issued before the sign-out, not the HLS relay.
    assert httpx.get(base + streams[cams["demo"]]["url"]).status_code == 403
    assert httpx.get(base + segment, timeout=30).status_code == 403

    auditor = {"Authorization": f"Bearer {token(base, 'auditor')}"}

    def stops():
        items = httpx.get(base + "/api/v1/audit", params={"action": "video_stop", "actor": "commander"},
                          headers=auditor).json()["items"]
        return [e for e in items if e["detail"]["reason"] == "access_revoked"]

    ended = wait_for(lambda: len(stops()) >= 3 and stops(), what="the viewings' ends audited")
    by_camera = {int(e["object_id"]): e["detail"] for e in ended}
    assert by_camera[cams["mjpeg"]]["bytes"] >= 20_000 and by_camera[cams["demo"]]["bytes"] >= 20_000
    assert by_camera[cams["hls"]]["format"] == "hls"


def test_a_revoked_grant_stops_the_stream(base, media, cams):
    tok, grant = new_viewer(base, cams["division"], "va-revoked")
    streams = callup(base, tok, [cams["mjpeg"], cams["demo"], cams["webrtc"]])
    relayed, demo = Reader(base + streams[cams["mjpeg"]]["url"]), Reader(base + streams[cams["demo"]]["url"])
    wait_for(lambda: relayed.received > 20_000 and demo.received > 20_000, what="both streams flowing")
    assert not relayed.ended.is_set() and not demo.ended.is_set()
    deleted = len(media.deleted)
    answer, _ = asyncio.run(whep(base, streams[cams["webrtc"]]["url"], delete=False))
    assert answer.status_code == 201, answer.text

    adm = {"Authorization": f"Bearer {token(base, 'admin')}"}
    assert httpx.delete(f"{base}/api/v1/users/grants/{grant}", headers=adm).status_code == 204
    wait_for(lambda: relayed.ended.is_set() and demo.ended.is_set(), what="streams to stop after the revocation")
    # The WebRTC media flows from the media server directly: its session there is deleted, which stops it.
    wait_for(lambda: len(media.deleted) == deleted + 1, what="the WHEP session deleted at the media server")
    assert httpx.get(base + streams[cams["demo"]]["url"]).status_code == 403


def test_a_timed_grant_running_out_stops_the_stream(base, media, cams):
    """No announcement when a grant's time is up: the periodic re-check stops the stream."""
    tok, grant = new_viewer(base, cams["division"], "va-timed")
    adm = {"Authorization": f"Bearer {token(base, 'admin')}"}
    uid = next(u["id"] for u in httpx.get(base + "/api/v1/users", headers=adm).json() if u["username"] == "va-timed")
    until = datetime.now(UTC) + timedelta(seconds=8)
    r = httpx.post(f"{base}/api/v1/users/{uid}/grants", headers=adm, json={
        "role_name": "dispatcher", "division_code": cams["division"], "valid_until": until.isoformat(),
        "reason": "限时 timed"})
    assert r.status_code == 201, r.text
    assert httpx.delete(f"{base}/api/v1/users/grants/{grant}", headers=adm).status_code == 204  # only the timed one
    streams = callup(base, tok, [cams["demo"]])
    demo = Reader(base + streams[cams["demo"]]["url"])
    wait_for(lambda: demo.received > 0, what="the stream flowing")
    wait_for(demo.ended.is_set, timeout=30, what="the stream to stop when the grant ran out")
    assert datetime.now(UTC) >= until
