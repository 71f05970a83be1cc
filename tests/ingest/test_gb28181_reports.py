"""The GB/T 28181 server on 127.0.0.1 against the simulator peer and the real database: what devices report
once registered (catalogs over several messages, catalog events, subscriptions, mobile positions, alarms).
Registration, keepalives and transport are tested in tests/ingest/test_gb28181_server.py."""

# ruff: noqa: F811  (the fixtures imported from tests/gb_server_fixtures.py are the tests' parameters)

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.domain import crs
from app.ingest.gb28181 import Gb28181Server, Gb28181Settings
from app.services.gb28181_store import Gb28181Store
from tests.gb28181_peer import Channel, PeerEndpoint, SimDevice, body
from tests.gb_server_fixtures import (  # noqa: F401  (fixtures)
    GCJ_DEVICE,
    PASSWORD,
    channels,
    db,
    ep,
    q,
    server,
    sink,
)
from tests.waiting import async_wait_for


async def test_catalog_multi_message_becomes_cameras(server, ep, db, sink):
    nvr = SimDevice(ep, GCJ_DEVICE, PASSWORD, channels=channels("34020000001320077", 5), page_size=2)
    nvr.channels[1].secrecy = 1
    nvr.channels[2].parent_id = "34020000002160000001"  # virtual org: not a device
    nvr.channels.append(Channel("34020000001320077999", "无坐标", None, None))
    nvr.channels.append(Channel("34020000002150000001", "业务分组"))  # a group node, not a camera
    assert (await nvr.register()).status == 200
    await async_wait_for(nvr.catalog_answered.is_set)
    rows = await async_wait_for(
        lambda: q(
            db,
            "SELECT gb_id, name, kind, division_code, secrecy, parent_device, "
            "status, ST_X(location), ST_Y(location), source FROM camera "
            "WHERE parent_device = :d ORDER BY gb_id",
            d=GCJ_DEVICE,
        )
    )
    assert len(rows) == 5  # no location → not on the map; group skipped
    first = rows[0]
    assert first.name == "通道1号" and first.kind == "dome" and first.division_code == "340202"
    assert first.source == "gb28181" and first.status == "online"
    wlon, wlat = crs.gcj02_to_wgs84(118.381, 31.331)
    assert abs(first[7] - float(wlon)) < 1e-7 and abs(first[8] - float(wlat)) < 1e-7
    assert {r.kind for r in rows} == {"ptz", "dome", "fixed"}
    assert [r.secrecy for r in rows[:3]] == [0, 1, 0]
    ev = await q(
        db,
        "SELECT count(*) FROM camera_status_event e JOIN camera c ON c.id = e.camera_id "
        "WHERE c.parent_device = :d",
        d=GCJ_DEVICE,
    )
    assert ev[0][0] == 5
    cat = [m for m in sink.topics("gb28181.catalog") if m["device_id"] == GCJ_DEVICE]
    assert cat and cat[-1]["channels"] == 6 and cat[-1]["stored"] == 5 and cat[-1]["without_location"] == 1


async def test_catalog_notify_events(server, ep, db, sink):
    chs = channels("34020000001320088", 3)
    nvr = SimDevice(ep, "34020000001110000088", PASSWORD, channels=chs)
    assert (await nvr.register()).status == 200
    await async_wait_for(lambda: q(db, "SELECT 1 FROM camera WHERE gb_id = :g", g=chs[2].gb_id))
    added = Channel("34020000001320088004", "新增", 118.5, 31.4, ptz_type=1, civil_code="340202")
    chs[0].name = "改名"
    resp = await nvr.send_catalog_event(
        [(added, "ADD"), (chs[0], "UPDATE"), (chs[1], "OFF"), (chs[2], "VLOST")]
    )
    assert resp.status == 200

    async def state():
        rows = await q(
            db, "SELECT gb_id, name, status FROM camera WHERE gb_id LIKE '34020000001320088%' ORDER BY gb_id"
        )
        return {r.gb_id: (r.name, r.status) for r in rows}

    await async_wait_for(
        lambda: _eq(
            state,
            {
                chs[0].gb_id: ("改名", "online"),
                chs[1].gb_id: ("通道2号", "offline"),
                chs[2].gb_id: ("通道3号", "fault"),
                added.gb_id: ("新增", "online"),
            },
        )
    )
    assert any(m["gb_id"] == chs[1].gb_id and m["status"] == "offline" for m in sink.topics("camera.status"))
    await nvr.send_catalog_event([(chs[1], "ON"), (added, "DEL"), (chs[0], "DEFECT")])
    await async_wait_for(
        lambda: _eq(
            state,
            {
                chs[0].gb_id: ("改名", "fault"),
                chs[1].gb_id: ("通道2号", "online"),
                chs[2].gb_id: ("通道3号", "fault"),
            },
        )
    )
    hist = await q(
        db,
        "SELECT e.status FROM camera_status_event e JOIN camera c ON c.id = e.camera_id "
        "WHERE c.gb_id = :g ORDER BY e.id",
        g=chs[1].gb_id,
    )
    assert [h.status for h in hist] == ["online", "offline", "online"]


async def _eq(state, expected):
    return (await state()) == expected


async def test_subscriptions_and_setguard_after_register(server, ep):
    dev = SimDevice(ep, "34020000001320000005", PASSWORD)
    assert (await dev.register()).status == 200
    await async_wait_for(lambda: "Alarm" in dev.subscriptions and dev.guard)
    mp = dev.subscriptions["MobilePosition"]
    assert mp.get("Event").startswith("presence") and b"<Interval>5</Interval>" in mp.body
    assert dev.subscriptions["Catalog"].get("Event").startswith("Catalog;id=")
    assert dev.subscriptions["Alarm"].get("Event").startswith("presence")
    assert int(mp.get("Expires")) >= 30 and 'encoding="GB2312"' in mp.body.decode()
    sub = server.registry.get(dev.device_id).subscriptions["MobilePosition"]
    assert sub["to_tag"]  # dialog kept for the refresh


async def test_mobile_positions_flat_and_list_into_sink_and_store(server, ep, db, sink):
    dev = SimDevice(ep, "34020000001380000006", PASSWORD, answer_catalog=False)
    assert (await dev.register()).status == 200
    now_local = datetime.now(server.tz).replace(microsecond=0, tzinfo=None)
    t0 = now_local - timedelta(seconds=30)
    other = "34020000001380000007"
    r1 = await dev.send_positions([(dev.device_id, t0, 118.40, 31.30, 40.0, 90.0)], "flat", "NOTIFY")
    r2 = await dev.send_positions(
        [
            (dev.device_id, t0 + timedelta(seconds=5), 118.41, 31.31, 42.0, 95.0),
            (other, t0 + timedelta(seconds=5), 118.5, 31.2, 0, 0),
        ],
        "list",
        "MESSAGE",
    )
    assert r1.status == 200 and r2.status == 200
    fixes = await async_wait_for(
        lambda: (
            [f for f in sink.fixes if f.device_id in (dev.device_id, other)]
            if len([f for f in sink.fixes if f.device_id in (dev.device_id, other)]) == 3
            else None
        )
    )
    f0 = next(f for f in fixes if f.lon == 118.40)
    assert f0.fix_time == t0.replace(tzinfo=server.tz).astimezone(UTC) and f0.fix_time.tzinfo is not None
    assert (f0.speed_kmh, f0.course_deg, f0.altitude_m) == (40.0, 90.0, 12.0)
    store = Gb28181Store(db)
    assert await store.insert_positions(fixes) == 3
    assert await store.insert_positions(fixes) == 0  # a re-delivered fix is not stored twice
    rows = await q(
        db,
        "SELECT t.external_id, t.kind, count(p.*), max(p.speed_kmh), "
        "ST_X(t.last_location) AS lon FROM target t JOIN position p ON p.target_id = t.id "
        "WHERE t.protocol = 'gb28181' GROUP BY t.id ORDER BY 1",
    )
    assert [(r.external_id, r[2]) for r in rows] == [(dev.device_id, 2), (other, 1)]
    assert rows[0].kind == "vehicle_cam" and rows[0].lon == 118.41


async def test_alarm_becomes_incident_with_camera(server, ep, db, sink):
    chs = channels("34020000001320055", 2)
    nvr = SimDevice(ep, "34020000001110000055", PASSWORD, channels=chs)
    assert (await nvr.register()).status == 200
    await async_wait_for(lambda: q(db, "SELECT 1 FROM camera WHERE gb_id = :g", g=chs[1].gb_id))
    assert (await nvr.send_alarm(chs[1].gb_id, method=5, alarm_type=2, priority=1)).status == 200
    inc = await async_wait_for(
        lambda: q(
            db,
            "SELECT i.*, c.gb_id, ST_X(i.location) AS lon FROM incident i "
            "JOIN camera c ON c.id = i.camera_id WHERE c.gb_id = :g",
            g=chs[1].gb_id,
        )
    )
    i = inc[0]
    assert i.type == "gb_video_alarm" and i.priority == 1 and i.source == "gb28181"
    assert "视频报警" in i.description and "运动目标检测报警" in i.description and "移动侦测" in i.description
    assert i.division_code == "340202" and abs(i.lon - 118.382) < 1e-6  # the camera's position
    pub = [m for m in sink.topics("incidents") if m["camera_gb_id"] == chs[1].gb_id]
    assert pub and pub[0]["alarm_method"] == 5 and pub[0]["alarm_type"] == 2
    # device alarm with its own coordinates, and the WVP fixture shape without CmdType
    assert (
        await nvr.send_alarm(chs[0].gb_id, method=2, alarm_type=1, lon=118.6, lat=31.5, cmd_type=False)
    ).status == 200
    await async_wait_for(
        lambda: q(
            db,
            "SELECT 1 FROM incident WHERE type = 'gb_device_alarm' "
            "AND abs(ST_X(location) - 118.6) < 1e-9 AND description LIKE '%视频丢失报警%'",
        )
    )
    before = server.stats["alarm_unplaced"]
    await nvr.send_alarm("34020000001320055999", priority=9)  # unknown camera, no position
    await async_wait_for(lambda: server.stats["alarm_unplaced"] == before + 1)


async def test_subscription_refreshed_in_the_same_dialog(db):
    settings = Gb28181Settings(
        host="127.0.0.1",
        port=0,
        password=PASSWORD,
        tcp=False,
        catalog_on_register=False,
        subscribe_catalog=False,
        subscribe_alarm=False,
        transaction_timeout_s=2,
    )
    async with Gb28181Server(settings) as srv:
        ep = await PeerEndpoint.open(("127.0.0.1", srv.udp_port))
        try:
            dev = SimDevice(ep, "34020000001380000014", PASSWORD, grant_expires=2)  # device grants 2 s
            assert (await dev.register()).status == 200
            await async_wait_for(lambda: len(dev.subscribe_log) >= 2, 5)
            first, second = dev.subscribe_log[:2]
            assert first.call_id == second.call_id and first.get("Event") == second.get("Event")
            assert second.cseq[0] == first.cseq[0] + 1 and "tag=" in second.get("To")
        finally:
            ep.close()


async def test_incomplete_catalog_stored_after_timeout(server, ep, db):
    dev = SimDevice(ep, "34020000001110000015", PASSWORD, answer_catalog=False)
    assert (await dev.register()).status == 200
    ch = Channel("34020000001320015001", "孤页", 118.45, 31.35, ptz_type=3, civil_code="340202")
    inner = f'<SumNum>3</SumNum><DeviceList Num="1">{ch.xml()}</DeviceList>\r\n'
    before = server.stats["catalog_incomplete"]
    resp = await dev.message(body("Response", "Catalog", 4242, dev.device_id, inner))
    assert resp.status == 200
    await async_wait_for(lambda: q(db, "SELECT 1 FROM camera WHERE gb_id = :g", g=ch.gb_id), 6)
    assert server.stats["catalog_incomplete"] == before + 1  # logged and counted, not lost
