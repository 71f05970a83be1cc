"""SharpEyes as a lower platform, what the upper does with it (GB/T 28181 cascade), over real sockets: the
upper (tests/gb_upper_peer.py) plays a shared channel (INVITE → RTP/PS to its port, H.264 frames that
advance; the device's stream shared with local viewers; BYE releases it down to the device), is refused a
channel not shared with it, and subscribes to the catalog (the current directory, then a camera's status,
addition and removal as NOTIFYs; refresh and unsubscribe).
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

import av
import numpy as np
import pytest_asyncio
from sqlalchemy import text

from app.db.engine import make_engine
from tests.api.test_platforms import create, delete, lower_id
from tests.conftest import login
from tests.gb28181_peer import Channel, PeerEndpoint, SimDevice
from tests.gb_live import PASSWORD
from tests.gb_upper_peer import RtpSink, UpperPeer
from tests.waiting import async_wait_for

API = "/api/v1/platforms"
CHANNEL = "99010200001320000777"
SSRC = "0990100077"


@pytest_asyncio.fixture(scope="module")
async def db(demo_db: str):
    engine = make_engine(demo_db)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture
async def upper():
    peer = await UpperPeer().start()
    yield peer
    await peer.stop()


def _frames(ps: bytes) -> list[np.ndarray]:
    """The pictures an upper's media server would get from the PS we sent (grey arrays)."""
    out = []
    try:
        with av.open(io.BytesIO(ps), format="mpeg") as c:
            for f in c.decode(video=0):
                out.append(f.to_ndarray(format="gray"))
    except (av.error.FFmpegError, StopIteration):  # a capture cut mid-frame: what decoded so far
        pass
    return out


async def _camera(db, gb_id: str) -> dict | None:
    async with db.connect() as conn:
        row = (await conn.execute(text("SELECT id, division_code FROM camera WHERE gb_id = :g"),
                                  {"g": gb_id})).mappings().first()
    return dict(row) if row and row["division_code"] else None


async def test_upper_plays_a_shared_channel_and_its_bye_reaches_the_device(api, db, upper):
    gb = api.app.state.gb28181
    ep = await PeerEndpoint.open(("127.0.0.1", gb.udp_port), "UDP")
    dev = SimDevice(ep, "99010200001180000777", PASSWORD, media="ps",
                    channels=[Channel(CHANNEL, "级联球机", 24.9455, 60.2012, ptz_type=1, civil_code="990102")])
    try:
        assert (await dev.register()).status == 200
        cam = await async_wait_for(lambda: _camera(db, CHANNEL), what="the channel stored as a camera")
        adm = await login(api, "admin")
        me = lower_id(api)
        row = await create(api, adm, upper, share_divisions=[cam["division_code"]], relay_alarms=True)
        await async_wait_for(lambda: me in upper.lowers, what="registration at the upper")

        resp, _ = await upper.invite(me, "99010200001320099999", 9)  # no such channel
        assert resp.status == 404, resp.status

        sink = await RtpSink.open()
        resp, call = await upper.invite(me, CHANNEL, sink.port, SSRC)
        assert resp.status == 200, (resp.status, resp.reason)
        assert b"y=" + SSRC.encode() in resp.body and b"a=sendonly" in resp.body and b"PS/90000" in resp.body
        frames = await async_wait_for(lambda: (f := _frames(sink.ps())) and len(f) >= 12 and f, timeout=30,
                                      what="H.264 frames in the PS the upper receives")
        assert np.abs(frames[-1].astype(int) - frames[0].astype(int)).mean() > 1  # the picture moves
        assert {p[2] for p in sink.packets} == {int(SSRC)} and any(p[3] for p in sink.packets)
        assert api.app.state.runtime.video.streams.stats()["by_key"][f"live:{CHANNEL}"]["viewers"] == 1
        assert len([m for m in dev.received if m.method == "INVITE"]) == 1

        assert (await upper.bye(me, call)).status == 200
        await async_wait_for(lambda: len(dev.byes) == 1 and dev.streaming == 0, timeout=15,
                             what="BYE to the device once the upper's push stopped")
        assert not api.app.state.runtime.cascade.media.pushes

        # An alarm of a shared camera is relayed to the upper (relay_alarms).
        assert (await dev.send_alarm(CHANNEL, description="越界")).status == 200
        alarm = await async_wait_for(lambda: [a for a in upper.alarms if a.get("deviceid") == CHANNEL],
                                     what="the alarm relayed to the upper")
        assert alarm[0]["alarmmethod"] == "5"

        # A recorded range (s=Playback, t=): a stream of its own from the device, ended the same way.
        replay = await RtpSink.open()
        end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        resp, call = await upper.invite(me, CHANNEL, replay.port, "1990100078", "playback",
                                        end - timedelta(minutes=2), end)
        assert resp.status == 200 and b"s=Playback" in resp.body, (resp.status, resp.reason)
        await async_wait_for(lambda: len(_frames(replay.ps())) >= 5, timeout=30, what="playback frames")
        asked = [m for m in dev.received if m.method == "INVITE"][-1]
        start_s = int((end - timedelta(minutes=2)).timestamp())
        assert b"s=Playback" in asked.body and f"t={start_s} {int(end.timestamp())}".encode() in asked.body
        resp = await upper.info(me, call, "PLAY RTSP/1.0\r\nCSeq: 2\r\nScale: 2.0\r\n")  # double speed
        assert resp.status == 200, resp.status
        await async_wait_for(lambda: any("Scale: 2.0" in i for i in dev.infos), what="the speed passed to the device")

        # The rule no longer covers the camera: the running push ends (our BYE to the upper, the device's BYE).
        r = await api.patch(f"{API}/{row['id']}", headers=adm, json={"share_divisions": ["990101"]})
        assert r.status_code == 200, r.text
        await async_wait_for(lambda: call.call_id in upper.byes, what="our BYE to the upper")
        await async_wait_for(lambda: len(dev.byes) == 2 and dev.streaming == 0, timeout=15,
                             what="the playback's BYE to the device")
        replay.close()
        audit = (await api.get("/api/v1/audit", headers=adm, params={"action": "cascade_play"})).json()
        events = [e for e in audit.get("events", audit.get("items", [])) if e.get("object_id") == str(cam["id"])]
        assert len(events) == 2 and events[0]["actor_name"] == f"upper:{upper.sip_id}", events

        # Nor is a new INVITE for it accepted: refused, the device not asked.
        resp, _ = await upper.invite(me, CHANNEL, sink.port, SSRC)
        assert resp.status == 403 and len([m for m in dev.received if m.method == "INVITE"]) == 2
        sink.close()
        await delete(api, adm, row["id"])
    finally:
        ep.close()


async def test_catalog_subscription_notifies_changes(api, db, upper):
    adm = await login(api, "admin")
    me = lower_id(api)
    async with db.connect() as conn:  # a point inside the district the cameras are filed under
        (lon, lat), moved = (await conn.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT (ST_Dump(ST_GeneratePoints(boundary, 2, 7))).geom p"
            " FROM division WHERE code = '990102001001') q"))).all()
    r = await api.post("/api/v1/cameras", headers=adm, json={
        "name": "订阅测试", "lon": lon, "lat": lat, "gb_id": "99010200001310000888",
        "division_code": "990102001001"})
    assert r.status_code == 201, r.text
    cam = r.json()["id"]
    row = await create(api, adm, upper, share_divisions=["990102001"], relay_positions=True)
    await async_wait_for(lambda: me in upper.lowers, what="registration at the upper")

    resp, call = await upper.subscribe(me, "Catalog", 120)
    assert resp.status == 200 and resp.get("Expires") == "120", resp
    first = await async_wait_for(lambda: [e for e in upper.catalog_events(call)
                                          if e["deviceid"] == "99010200001310000888"], what="the initial NOTIFY")
    assert first[0]["event"] == "ADD" and first[0]["status"] == "ON"

    r = await api.patch(f"/api/v1/cameras/{cam}", headers=adm, json={"status": "offline"})
    assert r.status_code == 204, r.text
    await async_wait_for(lambda: {"deviceid": "99010200001310000888", "event": "OFF"} in upper.catalog_events(call),
                         what="OFF notified")

    r = await api.post("/api/v1/cameras", headers=adm, json={
        "name": "新增", "lon": lon, "lat": lat, "gb_id": "99010200001310000889",
        "division_code": "990102001001"})
    assert r.status_code == 201, r.text
    added = r.json()["id"]
    await async_wait_for(lambda: any(e["deviceid"] == "99010200001310000889" and e["event"] == "ADD"
                                     for e in upper.catalog_events(call)), what="ADD notified")
    assert (await api.delete(f"/api/v1/cameras/{added}", headers=adm)).status_code == 204
    await async_wait_for(lambda: {"deviceid": "99010200001310000889", "event": "DEL"} in upper.catalog_events(call),
                         what="DEL notified")

    resp, moves = await upper.subscribe(me, "MobilePosition", 60)
    assert resp.status == 200
    r = await api.patch(f"/api/v1/cameras/{cam}", headers=adm, json={"name": "订阅测试 移动"})
    assert r.status_code == 204, r.text
    await async_wait_for(lambda: any(e["deviceid"] == "99010200001310000888" and e["event"] == "UPDATE"
                                     and e["name"] == "订阅测试 移动" for e in upper.catalog_events(call)),
                         what="UPDATE notified")
    def positions():
        return [d for c, d in upper.notifies if c == moves.call_id and d.cmd_type == "MobilePosition"]

    pos = await async_wait_for(positions, what="where it is when first seen")
    assert [d.device_id for d in pos] == ["99010200001310000888"]
    r = await api.patch(f"/api/v1/cameras/{cam}", headers=adm, json={"lon": moved[0], "lat": moved[1]})
    assert r.status_code == 204, r.text
    await async_wait_for(lambda: len(positions()) == 2, what="the move relayed")
    r = await api.patch(f"{API}/{row['id']}", headers=adm, json={"share_divisions": ["990102002"]})
    assert r.status_code == 200, r.text
    await async_wait_for(lambda: {"deviceid": "99010200001310000888", "event": "DEL"} in upper.catalog_events(call),
                         what="DEL notified when the rule no longer covers the camera")
    resp, call = await upper.subscribe(me, "Catalog", 60, call)  # refresh in the dialog
    assert resp.status == 200 and resp.get("Expires") == "60"
    notify = api.app.state.runtime.cascade.notify
    assert len(notify.subs) == 2
    resp, call = await upper.subscribe(me, "Catalog", 0, call)  # unsubscribe
    assert resp.status == 200 and len(notify.subs) == 1
    resp, _ = await upper.subscribe(me, "MobilePosition", 0, moves)
    assert resp.status == 200 and not notify.subs
    assert (await api.delete(f"/api/v1/cameras/{cam}", headers=adm)).status_code == 204
    await delete(api, adm, row["id"])


async def test_upper_gone_stops_its_push_while_a_local_viewer_keeps_the_stream(api, db, upper):
    channel = "99010200001320000779"
    gb = api.app.state.gb28181
    ep = await PeerEndpoint.open(("127.0.0.1", gb.udp_port), "UDP")
    dev = SimDevice(ep, "99010200001180000779", PASSWORD, media="ps",
                    channels=[Channel(channel, "级联枪机", 24.9456, 60.2013, civil_code="990102")])
    watcher = None
    try:
        assert (await dev.register()).status == 200
        cam = await async_wait_for(lambda: _camera(db, channel), what="the channel stored as a camera")
        adm = await login(api, "admin")
        me = lower_id(api)
        row = await create(api, adm, upper, share_divisions=[cam["division_code"]])
        await async_wait_for(lambda: me in upper.lowers, what="registration at the upper")

        video = api.app.state.runtime.video
        seen: list[int] = []

        async def watch() -> None:  # a dispatcher watching the channel here
            async for chunk in video.live(channel):
                seen.append(len(chunk))

        watcher = asyncio.create_task(watch())
        await async_wait_for(lambda: seen, what="the local viewer's first bytes")
        sink = await RtpSink.open()
        resp, _ = await upper.invite(me, channel, sink.port, SSRC)
        assert resp.status == 200, (resp.status, resp.reason)
        await async_wait_for(lambda: len(_frames(sink.ps())) >= 3, what="frames at the upper")
        assert video.streams.stats()["by_key"][f"live:{channel}"]["viewers"] == 2
        assert len([m for m in dev.received if m.method == "INVITE"]) == 1  # one device stream for both

        await upper.stop()  # the upper vanishes: its keepalives go unanswered, the link is lost
        media = api.app.state.runtime.cascade.media
        await async_wait_for(lambda: not media.pushes, timeout=20, what="the push stopped with the link lost")
        await async_wait_for(lambda: video.streams.stats()["by_key"][f"live:{channel}"]["viewers"] == 1,
                             what="only the local viewer left")
        assert not dev.byes and dev.streaming == 1  # the local viewer still watches
        n = len(seen)
        await async_wait_for(lambda: len(seen) > n, what="the local stream going on")

        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await async_wait_for(lambda: len(dev.byes) == 1 and dev.streaming == 0, timeout=15,
                             what="BYE to the device once nobody watches")
        sink.close()
        await delete(api, adm, row["id"])
    finally:
        if watcher is not None:
            watcher.cancel()
        ep.close()
