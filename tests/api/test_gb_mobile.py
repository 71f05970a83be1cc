"""A GB/T 28181 mobile device (body camera, vehicle camera, drone) over real sockets: its camera's moves reach
open maps as ``cameras`` messages (scoped by the camera's division, at most one per follow round); call-up
counts it only while its last fix is recent; its track over a window comes with its recordings of that
window (RecordInfo), scoped like recordings and audited."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from app.db.engine import make_engine
from app.domain import division_code
from app.domain.access import Rule, Scope
from app.realtime.groups import Group
from app.services import callup
from app.services.callup import MOBILE_FRESH
from tests.conftest import login
from tests.gb28181_peer import Channel, PeerEndpoint, SimDevice
from tests.waiting import async_wait_for

PASSWORD = "gb-test-password"  # the platform-wide password (tests/conftest.py); demo mode admits with it
M_PER_DEG_LAT = 111_320.0


def _east(lon: float, lat: float, metres: float) -> float:
    return lon + metres / (M_PER_DEG_LAT * math.cos(math.radians(lat)))


async def _one(engine, sql: str, **params):
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).mappings().first()


async def _mobile(api, engine, device_id: str, ch: Channel) -> tuple[PeerEndpoint, SimDevice, int]:
    """A mobile device registered, its channel stored as a camera: (endpoint, device, camera id)."""
    ep = await PeerEndpoint.open(("127.0.0.1", api.app.state.gb28181.udp_port))
    dev = SimDevice(ep, device_id, PASSWORD, channels=[ch])
    assert (await dev.register()).status == 200

    async def ready():
        row = await _one(engine, "SELECT d.kind, c.id FROM gb_device d, camera c "
                                 "WHERE d.gb_id = :d AND c.gb_id = :c", d=device_id, c=ch.gb_id)
        return row is not None and row["kind"] == "mobile"

    await async_wait_for(ready, interval=0.1, timeout=15, what="the mobile device filed, its channel stored")
    return ep, dev, (await _one(engine, "SELECT id FROM camera WHERE gb_id = :c", c=ch.gb_id))["id"]


async def _seeing(api, h, lon: float, lat: float) -> set[int]:
    r = await api.get("/api/v1/callup/seeing", params={"lon": lon, "lat": lat}, headers=h)
    assert r.status_code == 200, r.text
    return {c["id"] for c in r.json()["cameras"] + r.json()["unavailable"]}


async def test_moves_reach_the_map_and_only_a_recent_fix_counts_as_near(api, demo_db):
    engine = make_engine(demo_db)
    server = api.app.state.gb28181
    device_id = "99010100001380000801"
    ch = Channel("99010100001320000801", "车载摄像机 801", 24.9300, 60.1650, ptz_type=3, civil_code="990101")
    pushed: list[dict] = []
    unsubscribe = api.app.state.bus.subscribe(lambda _t, m: pushed.append(m), ["cameras"])
    ep, dev, cam_id = await _mobile(api, engine, device_id, ch)
    try:
        h = await login(api, "dispatcher")
        spot = (24.9550, 60.1720)
        here = (_east(spot[0], spot[1], -20), spot[1])  # 20 m west, looking east
        now = datetime.now(server.tz).replace(microsecond=0, tzinfo=None)
        # A fix from long ago moves the camera there, but it is not "near" on that word alone.
        old = now - MOBILE_FRESH - timedelta(minutes=5)
        rounds = server.stats["camera_follow_rounds"]
        assert (await dev.send_positions([(device_id, old, here[0], here[1], 0.0, 90.0)])).status == 200

        async def moved():
            cam = await _one(engine, "SELECT ST_X(location) AS lon FROM camera WHERE id = :i", i=cam_id)
            fix = await _one(engine, "SELECT last_fix_at FROM target WHERE protocol = 'gb28181' "
                                     "AND external_id = :d", d=device_id)
            return abs(cam["lon"] - here[0]) < 1e-6 and fix is not None and fix["last_fix_at"] is not None

        await async_wait_for(moved, interval=0.1, timeout=15, what="the camera moved, the stale fix stored")
        assert cam_id not in await _seeing(api, h, *spot)
        # The move was pushed to open maps: the camera as it is now, routed by its division and secrecy.
        def moves() -> list[dict]:  # (the catalog announced it at the place it was issued before)
            return [m for m in pushed if m["id"] == cam_id and abs(m["lon"] - here[0]) < 1e-6]

        await async_wait_for(lambda: bool(moves()), interval=0.1, timeout=10,
                             what="a cameras message for the moved camera")
        msg = moves()[0]
        assert msg["op"] == "upsert" and abs(msg["camera"]["lon"] - here[0]) < 1e-6
        assert abs(msg["lat"] - here[1]) < 1e-6 and abs(msg["camera"]["lat"] - here[1]) < 1e-6
        assert msg["camera"]["heading"] == 90.0
        division = (await _one(engine, "SELECT division_code FROM camera WHERE id = :i", i=cam_id))["division_code"]
        assert msg["division"] == division and division.startswith("990101") and msg["secrecy"] == 0
        # The hub's own rule: a map of another district does not get it, the city's does.
        def wall_of(code: str) -> Group:
            return Group(("t",), Scope.of([Rule(division_code.subtree_prefix(code), 0)]), frozenset({"cameras"}), None)

        assert wall_of("990100").wants("cameras", msg) and not wall_of("990102").wants("cameras", msg)
        # A fresh fix: near now.
        assert (await dev.send_positions([(device_id, now, here[0], here[1], 0.0, 90.0)])).status == 200

        async def near():
            return cam_id in await _seeing(api, h, *spot)

        await async_wait_for(near, interval=0.2, timeout=15, what="call-up lists it after a recent fix")
        # Coalesced: never more pushes for the camera than follow rounds since the first fix.
        assert 1 <= len(moves()) <= server.stats["camera_follow_rounds"] - rounds
    finally:
        unsubscribe()
        ep.close()
        await engine.dispose()


async def test_a_mobile_cameras_track_comes_with_its_recordings(api, demo_db):
    engine = make_engine(demo_db)
    server = api.app.state.gb28181
    device_id = "99010100001380000802"
    ch = Channel("99010100001320000802", "执法记录仪 802", 24.9300, 60.1650, ptz_type=3, civil_code="990101")
    ep, dev, cam_id = await _mobile(api, engine, device_id, ch)
    try:
        # Inside the device's last whole hour of recordings (the simulated device records hour by hour).
        hour = datetime.now(server.tz).replace(minute=0, second=0, microsecond=0, tzinfo=None)
        first = hour - timedelta(minutes=40)
        fixes = [(device_id, first + timedelta(seconds=10 * i), 24.9400 + i * 0.0002, 60.1700, 20.0, 90.0)
                 for i in range(6)]
        assert (await dev.send_positions(fixes, "list", "MESSAGE")).status == 200

        async def stored():
            row = await _one(engine, "SELECT count(*) AS n FROM position p JOIN target t ON t.id = p.target_id "
                                     "WHERE t.protocol = 'gb28181' AND t.external_id = :d", d=device_id)
            return row["n"] == 6

        await async_wait_for(stored, interval=0.1, timeout=15, what="the 6 fixes stored")
        end = datetime.now(UTC)
        start = end - timedelta(hours=2)
        h = await login(api, "dispatcher")
        r = await api.get(f"/api/v1/cameras/{cam_id}/track", headers=h,
                          params={"start": start.isoformat(), "end": end.isoformat()})
        assert r.status_code == 200, r.text
        b = r.json()
        assert b["camera_id"] == cam_id and b["device_id"] == device_id and b["target_id"] is not None
        assert len(b["t"]) == 6 and b["t"] == sorted(b["t"]) and b["lon"][0] == 24.94
        first_utc = first.replace(tzinfo=server.tz).astimezone(UTC)
        assert abs(b["t"][0] - first_utc.timestamp()) < 1
        # The device's recordings of the window: the track's moments fall inside a recorded span, so each
        # can be played.
        rec = b["recordings"]
        assert rec["state"] == "answered" and rec["complete"] and rec["segments"]
        spans = [(datetime.fromisoformat(s["start"]).timestamp(), datetime.fromisoformat(s["end"]).timestamp())
                 for s in rec["segments"]]
        assert all(any(a <= t < e for a, e in spans) for t in b["t"])
        assert dev.record_queries and ch.gb_id in dev.record_queries[-1]
        # A moment of the track plays from the device.
        at = datetime.fromtimestamp(b["t"][2], UTC)
        r = await api.post("/api/v1/callup/playback", headers=h, json={
            "camera_id": cam_id, "start": at.isoformat(), "end": (at + timedelta(seconds=30)).isoformat(),
            "speed": 1, "download": False, "reason": "轨迹回放"})
        assert r.status_code == 201, r.text
        # Audited like an evidence list.
        ev = await _one(engine, "SELECT actor_name, detail FROM audit_event WHERE action = 'mobile_track' "
                                "AND object_id = :o ORDER BY id DESC LIMIT 1", o=str(cam_id))
        assert ev is not None and ev["actor_name"] == "dispatcher" and ev["detail"]["fixes"] == 6
        # Scoped like recordings: another district's commander does not find it; a fixed camera has no track.
        adm = await login(api, "admin")
        r = await api.post("/api/v1/users", headers=adm, json={
            "username": "cmd_s2", "password": "mobile-track-pass", "role": "commander", "division_code": "990102"})
        assert r.status_code == 201, r.text
        other = await login(api, "cmd_s2", "mobile-track-pass")
        r = await api.get(f"/api/v1/cameras/{cam_id}/track", headers=other,
                          params={"start": start.isoformat(), "end": end.isoformat()})
        assert r.status_code == 404, r.text
        fixed = (await _one(engine, "SELECT id FROM camera WHERE division_code LIKE '9901%' "
                                    "AND source <> 'gb28181' AND secrecy = 0 LIMIT 1"))["id"]
        r = await api.get(f"/api/v1/cameras/{fixed}/track", headers=h,
                          params={"start": start.isoformat(), "end": end.isoformat()})
        assert r.status_code == 422, r.text
        r = await api.get(f"/api/v1/cameras/{cam_id}/track", headers=h,
                          params={"start": (end - timedelta(days=8)).isoformat(), "end": end.isoformat()})
        assert r.status_code == 422, r.text
    finally:
        ep.close()
        await engine.dispose()


async def test_a_mobile_camera_that_passed_the_scene_is_in_its_evidence(api, demo_db):
    engine = make_engine(demo_db)
    server = api.app.state.gb28181
    device_id = "99010100001380000803"
    ch = Channel("99010100001320000803", "车载摄像机 803", 24.9300, 60.1650, ptz_type=3, civil_code="990101")
    ep, dev, cam_id = await _mobile(api, engine, device_id, ch)
    try:
        spot = (24.9545, 60.1718)  # in the dispatcher's division
        now = datetime.now(server.tz).replace(microsecond=0, tzinfo=None)
        # Ten minutes ago it drove past the scene (30 m away), then on, 3 km east: not near it any more.
        fixes = [(device_id, now - timedelta(minutes=10), _east(spot[0], spot[1], -30), spot[1], 30.0, 90.0),
                 (device_id, now - timedelta(minutes=2), _east(spot[0], spot[1], 3000), spot[1], 30.0, 90.0)]
        assert (await dev.send_positions(fixes, "list", "MESSAGE")).status == 200

        async def away():
            cam = await _one(engine, "SELECT ST_X(location) AS lon FROM camera WHERE id = :i", i=cam_id)
            return abs(cam["lon"] - fixes[1][2]) < 1e-6

        await async_wait_for(away, interval=0.1, timeout=15, what="the camera moved on, its track stored")
        h = await login(api, "dispatcher")
        assert cam_id not in await _seeing(api, h, *spot)  # call-up now: it is elsewhere
        r = await api.post("/api/v1/incidents", headers=h, json={
            "type": "assault", "priority": 2, "lon": spot[0], "lat": spot[1], "description": "车载视频取证"})
        assert r.status_code == 201, r.text
        inc = r.json()["properties"]["id"] if "properties" in r.json() else r.json()["id"]
        r = await api.get(f"/api/v1/incidents/{inc}/evidence", headers=h)
        assert r.status_code == 200, r.text
        got = {c["camera_id"]: c for c in r.json()["cameras"]}
        assert cam_id in got, "the camera that passed the scene is evidence"
        assert got[cam_id]["distance_m"] < 40 and got[cam_id]["state"] == "answered"
        # Scoped: a reader of another district does not get it; one of its own does.
        window = (datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC))
        async with engine.connect() as conn:
            for code, expected in (("990102", False), ("990101", True)):
                scope = Scope.of([Rule(division_code.subtree_prefix(code), 0)])
                passing = await callup.mobile_cameras_passing(conn, scope, spot[0], spot[1], *window)
                assert (cam_id in {c["id"] for c in passing}) is expected, code
    finally:
        ep.close()
        await engine.dispose()
