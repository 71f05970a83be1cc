"""The GB/T 28181 server on 127.0.0.1 against the simulator peer and the real database."""

from __future__ import annotations

import asyncio
import inspect
import re
import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from app.db.engine import make_engine, make_sessionmaker
from app.domain import crs
from app.ingest.gb28181 import Gb28181Server, Gb28181Settings, sip
from app.services.gb28181_store import Gb28181Store
from tests.gb28181_peer import Channel, PeerEndpoint, SimDevice, body

PASSWORD = "12345678"
SPECIAL = "34020000001320009999"  # has its own password
GCJ_DEVICE = "34020000001110000077"  # NVR that reports GCJ-02 coordinates


async def wait_for(cond, within_s: float = 5.0, step: float = 0.02):
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        value = cond()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


@pytest.fixture(scope="module")
async def db(db_url):
    engine = make_engine(db_url, pool_size=5, max_overflow=5)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO division (code, name, level, parent_code) VALUES "
                "('340000', '安徽省', 2, NULL), ('340200', '芜湖市', 3, '340000'), "
                "('340202', '镜湖区', 4, '340200')"
            )
        )
    yield make_sessionmaker(engine)
    await engine.dispose()


async def q(db, sql: str, **params):
    async with db() as s:
        return (await s.execute(text(sql), params)).all()


class Sink:
    def __init__(self) -> None:
        self.fixes: list = []
        self.events: list[tuple[str, dict]] = []

    async def positions(self, fixes) -> None:
        self.fixes.extend(fixes)

    async def publish(self, topic: str, message: dict) -> None:
        self.events.append((topic, message))

    def topics(self, topic: str) -> list[dict]:
        return [m for t, m in self.events if t == topic]


@pytest.fixture(scope="module")
async def sink():
    return Sink()


@pytest.fixture(scope="module")
async def server(db, sink):
    settings = Gb28181Settings(
        host="127.0.0.1",
        port=0,
        password=PASSWORD,
        heartbeat_interval_s=30,
        transaction_timeout_s=2,
        catalog_timeout_s=2,
        max_message_bytes=8192,
    )
    srv = Gb28181Server(
        settings,
        store=Gb28181Store(db),
        position_sink=sink.positions,
        publish=sink.publish,
        device_passwords={SPECIAL: "special-pw"},
        device_crs={GCJ_DEVICE: "gcj02"},
    )
    async with srv:
        yield srv


@pytest.fixture
async def ep(server):
    e = await PeerEndpoint.open(("127.0.0.1", server.udp_port))
    yield e
    e.close()


def channels(prefix: str, n: int, lon: float = 118.38, lat: float = 31.33) -> list[Channel]:
    return [
        Channel(
            f"{prefix}{i:03d}",
            f"通道{i}号",
            lon + i * 1e-3,
            lat + i * 1e-3,
            ptz_type=1 + i % 3,
            civil_code="340202",
            info_inside=i % 2 == 0,
        )
        for i in range(1, n + 1)
    ]


async def test_register_401_then_200_with_date(server, ep):
    dev = SimDevice(ep, "34020000001320000001", PASSWORD)
    first = await ep.transact(dev._request("REGISTER", headers=[("Expires", "3600")]))
    assert first.status == 401
    ch = first.get("WWW-Authenticate")
    assert 'realm="3402000000"' in ch and 'qop="auth"' in ch and re.search(r'nonce="[0-9a-f]{32}"', ch)
    ok = await dev.register()
    assert ok.status == 200 and ok.get("Expires") == "3600" and dev.device_id in ok.get("Contact")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", ok.get("Date"))
    assert server.registry.get(dev.device_id).online


async def test_wrong_password_is_403_and_device_password_wins(server, ep):
    dev = SimDevice(ep, "34020000001320000002", "not-the-password")
    resp = await dev.register()
    assert resp.status == 403 and resp.reason == "wrong password"
    assert server.registry.get(dev.device_id) is None
    special = SimDevice(ep, SPECIAL, PASSWORD)  # the platform default is not its password
    assert (await special.register()).status == 403
    assert (await special.register(password="special-pw")).status == 200
    plain = SimDevice(ep, "34020000001320000003", PASSWORD, qop=False)  # RFC 2069 response
    assert (await plain.register()).status == 200


async def test_refresh_by_call_id_and_unregister(server, ep, db):
    dev = SimDevice(
        ep,
        "34020000001320000004",
        PASSWORD,
        channels=[Channel("34020000001320000004", "单机", 118.4, 31.3, ptz_type=3, civil_code="340202")],
    )
    before = server.stats["registrations"]
    assert (await dev.register()).status == 200
    await wait_for(dev.catalog_answered.is_set)
    await wait_for(lambda: q(db, "SELECT 1 FROM camera WHERE gb_id = :g", g=dev.device_id))
    queries = sum(1 for m in dev.received if m.method == "MESSAGE" and b"Catalog" in m.body)
    refreshes = server.stats["refreshes"]
    assert (await dev.register()).status == 200  # same Call-ID: a refresh, no new catalog query
    await asyncio.sleep(0.2)
    assert server.stats["registrations"] == before + 1 and server.stats["refreshes"] == refreshes + 1
    assert sum(1 for m in dev.received if m.method == "MESSAGE" and b"Catalog" in m.body) == queries
    assert (await dev.register(expires=0)).status == 200
    assert server.registry.get(dev.device_id) is None
    await wait_for(
        lambda: q(db, "SELECT 1 FROM camera WHERE gb_id = :g AND status = 'offline'", g=dev.device_id)
    )
    assert (await dev.keepalive()).status == 404  # unregistered devices are told so and register again


async def test_catalog_multi_message_becomes_cameras(server, ep, db, sink):
    nvr = SimDevice(ep, GCJ_DEVICE, PASSWORD, channels=channels("34020000001320077", 5), page_size=2)
    nvr.channels[1].secrecy = 1
    nvr.channels[2].parent_id = "34020000002160000001"  # virtual org: not a device
    nvr.channels.append(Channel("34020000001320077999", "无坐标", None, None))
    nvr.channels.append(Channel("34020000002150000001", "业务分组"))  # a group node, not a camera
    assert (await nvr.register()).status == 200
    await wait_for(nvr.catalog_answered.is_set)
    rows = await wait_for(
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
    await wait_for(lambda: q(db, "SELECT 1 FROM camera WHERE gb_id = :g", g=chs[2].gb_id))
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

    await wait_for(
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
    await wait_for(
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
    await wait_for(lambda: "Alarm" in dev.subscriptions and dev.guard)
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
    fixes = await wait_for(
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
    await wait_for(lambda: q(db, "SELECT 1 FROM camera WHERE gb_id = :g", g=chs[1].gb_id))
    assert (await nvr.send_alarm(chs[1].gb_id, method=5, alarm_type=2, priority=1)).status == 200
    inc = await wait_for(
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
    pub = [m for m in sink.topics("incident.created") if m["camera_gb_id"] == chs[1].gb_id]
    assert pub and pub[0]["alarm_method"] == 5 and pub[0]["alarm_type"] == 2
    # device alarm with its own coordinates, and the WVP fixture shape without CmdType
    assert (
        await nvr.send_alarm(chs[0].gb_id, method=2, alarm_type=1, lon=118.6, lat=31.5, cmd_type=False)
    ).status == 200
    await wait_for(
        lambda: q(
            db,
            "SELECT 1 FROM incident WHERE type = 'gb_device_alarm' "
            "AND abs(ST_X(location) - 118.6) < 1e-9 AND description LIKE '%视频丢失报警%'",
        )
    )
    before = server.stats["alarm_unplaced"]
    await nvr.send_alarm("34020000001320055999", priority=9)  # unknown camera, no position
    await wait_for(lambda: server.stats["alarm_unplaced"] == before + 1)


async def test_garbage_oversize_bad_xml_and_unknown_devices(server, ep):
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw.setblocking(False)  # the server shares this event loop
    target = ("127.0.0.1", server.udp_port)
    garbage = server.stats["garbage"]
    for junk in (b"\x00\x01\x02garbage", b"GET / HTTP/1.1\r\n\r\n", b"\r\n\r\n", b"SIP/2.0 200 OK\r\n\r\n"):
        raw.sendto(junk, target)
    dev = SimDevice(ep, "34020000001320000010", PASSWORD)
    assert (await dev.register()).status == 200  # still serving
    assert server.stats["garbage"] >= garbage + 3
    # oversize (limit 8192 in this server): 513, and nothing processed
    big = body("Notify", "Keepalive", 1, dev.device_id, "<Pad>" + "x" * 9000 + "</Pad>")
    assert (await dev.message(big)).status == 513
    # a Content-Length larger than the datagram: 400
    msg = dev._request("MESSAGE", b"<Notify/>")
    data = msg.to_bytes().replace(b"Content-Length: 9", b"Content-Length: 99")
    raw.sendto(data, target)
    data, _ = await asyncio.wait_for(asyncio.get_running_loop().sock_recvfrom(raw, 65535), 2)
    resp = sip.parse_datagram(data)
    assert resp.status == 400
    assert (await dev.message(b"<Notify><CmdType>Keepalive</Notify>")).status == 400  # bad XML
    assert server.stats["bad_xml"] >= 1
    stranger = SimDevice(ep, "34020000001320000011", PASSWORD)
    assert (await stranger.keepalive()).status == 404  # never registered
    bad_id = SimDevice(ep, "12345", PASSWORD)
    assert (await bad_id.register()).status == 400
    assert (await dev.message(b"", method="INFO")).status == 405
    assert (await dev.keepalive()).status == 200
    raw.close()


async def test_tcp_device_full_flow(server, db):
    ep = await PeerEndpoint.open(("127.0.0.1", server.tcp_port), "TCP")
    try:
        chs = channels("34020000001320066", 3)
        dev = SimDevice(ep, "34020000001110000066", PASSWORD, channels=chs)
        assert (await dev.register()).status == 200
        assert server.registry.get(dev.device_id).transport == "TCP"
        await wait_for(dev.catalog_answered.is_set)
        await wait_for(lambda: q(db, "SELECT 1 FROM camera WHERE gb_id = :g", g=chs[2].gb_id))
        assert (await dev.keepalive()).status == 200
    finally:
        ep.close()


async def test_many_devices_register_and_keep_alive(server, ep):
    devs = [SimDevice(ep, f"3402000000132010{i:04d}", PASSWORD, answer_catalog=False) for i in range(60)]
    resps = await asyncio.gather(*(d.register() for d in devs))
    assert all(r.status == 200 for r in resps)
    resps = await asyncio.gather(*(d.keepalive() for d in devs))
    assert all(r.status == 200 for r in resps)
    assert all(server.registry.get(d.device_id).keepalives == 1 for d in devs)


async def test_heartbeat_loss_marks_offline_then_keepalive_online(db):
    sink = Sink()
    settings = Gb28181Settings(
        host="127.0.0.1",
        port=0,
        password=None,
        heartbeat_interval_s=0.2,
        heartbeat_count=2,
        subscribe_catalog=False,
        subscribe_mobile_position=False,
        subscribe_alarm=False,
        transaction_timeout_s=2,
        tcp=False,
    )
    dev_id = "34020000001110000044"
    async with Gb28181Server(
        settings, store=Gb28181Store(db), publish=sink.publish, device_passwords={dev_id: "pw-44"}
    ) as srv:
        ep = await PeerEndpoint.open(("127.0.0.1", srv.udp_port))
        try:
            unknown = SimDevice(ep, "34020000001110000045", "pw-44")
            resp = await unknown.register()
            assert resp.status == 403 and resp.reason == "Unknown Device"  # no platform default password
            chs = channels("34020000001320044", 2)
            dev = SimDevice(ep, dev_id, "pw-44", channels=chs)
            assert (await dev.register()).status == 200
            await wait_for(lambda: q(db, "SELECT 1 FROM camera WHERE gb_id = :g", g=chs[1].gb_id))
            for _ in range(4):  # keepalives within the interval keep it online
                assert (await dev.keepalive()).status == 200
                await asyncio.sleep(0.15)
            assert srv.registry.get(dev_id).online
            await wait_for(lambda: not srv.registry.get(dev_id).online, 3)
            await wait_for(
                lambda: q(
                    db,
                    "SELECT 1 FROM camera WHERE parent_device = :d HAVING bool_and(status = 'offline')",
                    d=dev_id,
                )
            )
            assert any(
                m["device_id"] == dev_id and m["status"] == "offline" for m in sink.topics("gb28181.device")
            )
            assert {m["gb_id"] for m in sink.topics("camera.status") if m["status"] == "offline"} >= {
                c.gb_id for c in chs
            }
            assert (await dev.keepalive()).status == 200
            await wait_for(
                lambda: q(
                    db,
                    "SELECT 1 FROM camera WHERE parent_device = :d HAVING bool_and(status = 'online')",
                    d=dev_id,
                )
            )
            hist = await q(
                db,
                "SELECT e.status FROM camera_status_event e JOIN camera c ON c.id = e.camera_id "
                "WHERE c.gb_id = :g ORDER BY e.id",
                g=chs[0].gb_id,
            )
            assert [h.status for h in hist] == ["online", "offline", "online"]
        finally:
            ep.close()


async def test_run_server_entry_point(db):
    from app.ingest.gb28181 import run_server

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink, started = Sink(), asyncio.Event()
    settings = Gb28181Settings(host="127.0.0.1", port=port, password=PASSWORD, tcp=False)
    task = asyncio.create_task(run_server(settings, sink.positions, sink.publish, db, started=started))
    try:
        await asyncio.wait_for(started.wait(), 5)
        ep = await PeerEndpoint.open(("127.0.0.1", port))
        chs = channels("34020000001320033", 1)
        dev = SimDevice(ep, "34020000001110000033", PASSWORD, channels=chs)
        assert (await dev.register()).status == 200
        await wait_for(lambda: q(db, "SELECT 1 FROM camera WHERE gb_id = :g", g=chs[0].gb_id))
        ep.close()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_retransmitted_register_answered_from_cache(server, ep):
    dev = SimDevice(ep, "34020000001320000012", PASSWORD)
    req = dev._request("REGISTER", headers=[("Expires", "3600")])
    first = await ep.transact(req)
    before = (server.stats["retransmissions"], server.stats["challenges"])
    again = await ep.transact(req)  # same branch, CSeq and Call-ID: a UDP retransmission
    assert again.get("WWW-Authenticate") == first.get("WWW-Authenticate")  # same nonce: not re-processed
    assert (server.stats["retransmissions"], server.stats["challenges"]) == (before[0] + 1, before[1])


async def test_tcp_oversize_answered_513_and_closed(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.tcp_port)
    dev = SimDevice(PeerEndpoint("TCP"), "34020000001320000013", PASSWORD)
    head = dev._request("MESSAGE", b"x").to_bytes().replace(b"Content-Length: 1", b"Content-Length: 100000")
    writer.write(head[:-1])
    data = await asyncio.wait_for(reader.read(65536), 5)
    assert sip.parse_datagram(data).status == 513
    assert await asyncio.wait_for(reader.read(65536), 5) == b""  # framing lost: connection closed
    writer.close()


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
            await wait_for(lambda: len(dev.subscribe_log) >= 2, 5)
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
    await wait_for(lambda: q(db, "SELECT 1 FROM camera WHERE gb_id = :g", g=ch.gb_id), 6)
    assert server.stats["catalog_incomplete"] == before + 1  # logged and counted, not lost
