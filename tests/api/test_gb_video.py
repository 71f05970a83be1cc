"""GB/T 28181 video end to end, over real sockets: a simulated camera registers with a live platform
process, its channel becomes a camera on the map, and a dispatcher plays it: live (INVITE, real H.264 in
PS over RTP, remuxed to MPEG-TS, shared by its viewers, BYE when the last one leaves), recordings listed
from the device, a recorded range played back, and an incident's evidence."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

import av
import httpx
import numpy as np
import pytest

from tests.gb28181_peer import DEVICE_TZ, Channel
from tests.gb_live import gb_platform, registered
from tests.live_servers import token
from tests.waiting import async_wait_for

SPOT = (24.9420, 60.1700)  # a quiet corner of the demo city


@pytest.fixture(scope="module")
def server(demo_db_url):
    with gb_platform(demo_db_url, SHARPEYES_GB_TRANSACTION_TIMEOUT_S="3") as proc:
        yield proc


async def _device(server, device_id: str, channel_id: str, transport: str = "UDP", **kw):
    return await registered(server, device_id, Channel(channel_id, "路口球机", SPOT[0], SPOT[1], ptz_type=1),
                            transport=transport, media="ps", **kw)


def _frames(ts: bytes) -> list[np.ndarray]:
    """Decoded pictures of an MPEG-TS capture (what mpegts.js gets), as grey arrays."""
    out = []
    with av.open(io.BytesIO(ts), format="mpegts") as c:
        for f in c.decode(video=0):
            out.append(f.to_ndarray(format="gray"))
    return out


async def _read(client: httpx.AsyncClient, url: str, nbytes: int) -> tuple[int, str, bytes]:
    got = bytearray()
    async with client.stream("GET", url) as r:
        if r.status_code != 200:
            return r.status_code, (await r.aread()).decode(), b""
        async for chunk in r.aiter_bytes():
            got += chunk
            if len(got) >= nbytes:
                break
        return 200, r.headers["content-type"], bytes(got)


async def test_live_video_is_one_shared_stream_and_the_last_viewer_leaving_sends_bye(server):
    ep, dev, cam = await _device(server, "34020000001320000101", "34020000001320000101")
    base = server.base
    hdr = {"Authorization": f"Bearer {token(base, 'dispatcher')}"}
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            r = await client.post("/api/v1/callup", headers=hdr, json={"camera_ids": [cam], "reason": "核查警情"})
            assert r.status_code == 200, r.text
            s = r.json()["streams"][0]
            assert s["format"] == "ts" and s["url"].startswith(f"/video/play/{cam}?")
            (c1, t1, a), (c2, _t2, b) = await asyncio.gather(_read(client, s["url"], 300_000),
                                                             _read(client, s["url"], 300_000))
            assert (c1, c2) == (200, 200) and t1 == "video/mp2t"
            for ts in (a, b):
                frames = _frames(ts)
                assert len(frames) >= 5, len(frames)
                assert np.abs(frames[-1].astype(int) - frames[0].astype(int)).mean() > 1  # the picture moves
            invites = [m for m in dev.received if m.method == "INVITE"]
            assert len(invites) == 1, "two viewers of one channel cost one INVITE"
            assert b"s=Play" in invites[0].body and b"y=0" in invites[0].body
        # both viewers gone: after the linger the device gets its BYE and stops streaming
        await async_wait_for(lambda: len(dev.byes) == 1 and dev.streaming == 0, interval=0.2, timeout=15,
                             what="BYE to the device after the last viewer left")
    finally:
        ep.close()


async def test_recordings_listed_played_back_and_gathered_as_evidence(server):
    now = datetime.now(UTC).replace(microsecond=0)
    local = now.astimezone(DEVICE_TZ).replace(tzinfo=None)
    files = [(local - timedelta(hours=h), local - timedelta(hours=h - 1)) for h in range(49, -1, -1)]  # hourly, to now
    ep, dev, cam = await _device(server, "34020000001320000102", "34020000001320000102", transport="TCP",
                                 records=files)
    base = server.base
    hdr = {"Authorization": f"Bearer {token(base, 'dispatcher')}"}
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            q = {"start": (now - timedelta(days=2)).isoformat(), "end": now.isoformat()}
            r = await client.get(f"/api/v1/cameras/{cam}/recordings", headers=hdr, params=q)
            assert r.status_code == 200, r.text
            tl = r.json()
            assert tl["complete"] and tl["segments"], tl  # hourly files, merged into spans
            assert tl["recorded_s"] > 86400, tl["recorded_s"]
            start = now - timedelta(hours=26)
            r = await client.post("/api/v1/callup/playback", headers=hdr, json={
                "camera_id": cam, "start": start.isoformat(), "end": (start + timedelta(minutes=10)).isoformat(),
                "speed": 2, "reason": "调取昨日录像"})
            assert r.status_code == 201, r.text
            code, ctype, ts = await _read(client, r.json()["url"], 150_000)
            assert code == 200 and ctype == "video/mp2t", ctype
            assert len(_frames(ts)) >= 3
            invite = next(m for m in dev.received if m.method == "INVITE")
            assert b"s=Playback" in invite.body and f"t={int(start.timestamp())} ".encode() in invite.body
            assert b"TCP/RTP/AVP" in invite.body  # the device signals over TCP: its media too
            assert any("Scale: 2.0" in i for i in dev.infos), dev.infos

            inc = await client.post("/api/v1/incidents", headers=hdr, json={
                "type": "theft", "priority": 2, "lon": SPOT[0], "lat": SPOT[1]})
            assert inc.status_code == 201, inc.text
            r = await client.get(f"/api/v1/incidents/{inc.json()['id']}/evidence", headers=hdr)
            assert r.status_code == 200, r.text
            mine = next(c for c in r.json()["cameras"] if c["camera_id"] == cam)
            assert mine["state"] == "answered" and mine["segments"], mine
            # an officer may watch live but not recordings
            officer = {"Authorization": f"Bearer {token(base, 'officer')}"}
            r = await client.get(f"/api/v1/cameras/{cam}/recordings", headers=officer, params=q)
            assert r.status_code == 403, r.text
    finally:
        ep.close()


async def test_a_device_that_never_answers_is_a_clear_503_and_leaves_nothing_running(server):
    ep, dev, cam = await _device(server, "34020000001320000103", "34020000001320000103", invite_status=None)
    base = server.base
    hdr = {"Authorization": f"Bearer {token(base, 'dispatcher')}"}
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            r = await client.post("/api/v1/callup", headers=hdr, json={"camera_ids": [cam], "reason": "核查警情"})
            code, body, _ = await _read(client, r.json()["streams"][0]["url"], 1)
            assert code == 503 and "no answer" in body, body
            assert dev.cancels, "the unanswered INVITE was cancelled"
            dev.invite_status = 488
            code, body, _ = await _read(client, r.json()["streams"][0]["url"], 1)
            assert code == 503 and "488" in body, body
            assert dev.streaming == 0
    finally:
        ep.close()


async def test_logging_out_stops_the_channels_stream_and_the_device_gets_its_bye(server):
    ep, dev, cam = await _device(server, "34020000001320000104", "34020000001320000104")
    base = server.base
    tok = token(base, "dispatcher")
    hdr = {"Authorization": f"Bearer {tok}"}
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            r = await client.post("/api/v1/callup", headers=hdr, json={"camera_ids": [cam], "reason": "核查警情"})
            url = r.json()["streams"][0]["url"]
            got, out = 0, False
            async with client.stream("GET", url) as resp:
                assert resp.status_code == 200
                async with asyncio.timeout(25):  # keeps reading: the platform must end it, not the reader
                    async for chunk in resp.aiter_bytes():
                        got += len(chunk)
                        if got > 50_000 and not out:
                            assert (await client.post("/api/v1/auth/logout", headers=hdr)).status_code == 204
                            out = True
            assert out, "the stream ended before the logout"
            # the viewing ends within seconds (the platform closes it; a reader would see EOF)
            async with client.stream("GET", url) as again:
                assert again.status_code == 403, "a play URL of a signed-out user no longer plays"
        await async_wait_for(lambda: dev.byes and dev.streaming == 0, interval=0.2, timeout=20,
                             what="BYE after the signed-out viewer's stream stopped")
    finally:
        ep.close()
