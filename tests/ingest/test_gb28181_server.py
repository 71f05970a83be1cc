"""The GB/T 28181 server on 127.0.0.1 against the simulator peer and the real database: registration (digest,
refresh, unregister), keepalives and heartbeat loss, UDP and TCP transport, malformed input. What devices report
(catalog, subscriptions, positions, alarms) is tested in tests/ingest/test_gb28181_reports.py."""

# ruff: noqa: F811  (the fixtures imported from tests/gb_server_fixtures.py are the tests' parameters)

from __future__ import annotations

import asyncio
import itertools
import re
import socket

import pytest

from app.ingest.gb28181 import Gb28181Server, Gb28181Settings, sip
from app.services.gb28181_store import Gb28181Store
from tests.gb28181_peer import Channel, PeerEndpoint, SimDevice, body
from tests.gb_server_fixtures import (  # noqa: F401  (fixtures)
    PASSWORD,
    SPECIAL,
    Sink,
    channels,
    db,
    ep,
    q,
    server,
    sink,
)
from tests.waiting import async_wait_for


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
    await async_wait_for(dev.catalog_answered.is_set)
    await async_wait_for(lambda: q(db, "SELECT 1 FROM camera WHERE gb_id = :g", g=dev.device_id))
    queries = sum(1 for m in dev.received if m.method == "MESSAGE" and b"Catalog" in m.body)
    refreshes = server.stats["refreshes"]
    assert (await dev.register()).status == 200  # same Call-ID: a refresh, no new catalog query
    await asyncio.sleep(0.2)  # an idle moment: a catalog query, were the refresh to send one, would arrive in it
    assert server.stats["registrations"] == before + 1 and server.stats["refreshes"] == refreshes + 1
    assert sum(1 for m in dev.received if m.method == "MESSAGE" and b"Catalog" in m.body) == queries
    assert (await dev.register(expires=0)).status == 200
    assert server.registry.get(dev.device_id) is None
    await async_wait_for(
        lambda: q(db, "SELECT 1 FROM camera WHERE gb_id = :g AND status = 'offline'", g=dev.device_id)
    )
    assert (await dev.keepalive()).status == 404  # unregistered devices are told so and register again



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
        await async_wait_for(dev.catalog_answered.is_set)
        await async_wait_for(lambda: q(db, "SELECT 1 FROM camera WHERE gb_id = :g", g=chs[2].gb_id))
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
            await async_wait_for(lambda: q(db, "SELECT 1 FROM camera WHERE gb_id = :g", g=chs[1].gb_id))
            for _ in range(4):  # keepalives within the interval keep it online
                assert (await dev.keepalive()).status == 200
                await asyncio.sleep(0.15)  # pacing the device: keepalives spread over the interval
            assert srv.registry.get(dev_id).online
            await async_wait_for(lambda: not srv.registry.get(dev_id).online, 3)
            await async_wait_for(
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
            await async_wait_for(
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
            # One event per change, ending offline → online. On a loaded machine a keepalive paced within the
            # interval can still arrive late, adding an earlier offline/online pair: allowed, a change each.
            statuses = [h.status for h in hist]
            assert statuses[0] == "online" and statuses[-2:] == ["offline", "online"], statuses
            assert all(a != b for a, b in itertools.pairwise(statuses)), statuses
        finally:
            ep.close()


async def test_run_server_entry_point(db):
    from app.ingest.gb28181 import run_server

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink, started = Sink(), asyncio.Event()
    settings = Gb28181Settings(host="127.0.0.1", port=port, password=PASSWORD, tcp=False)
    task = asyncio.create_task(run_server(settings, sink.positions, sink.publish, Gb28181Store(db), started=started))
    try:
        await asyncio.wait_for(started.wait(), 5)
        ep = await PeerEndpoint.open(("127.0.0.1", port))
        chs = channels("34020000001320033", 1)
        dev = SimDevice(ep, "34020000001110000033", PASSWORD, channels=chs)
        assert (await dev.register()).status == 200
        await async_wait_for(lambda: q(db, "SELECT 1 FROM camera WHERE gb_id = :g", g=chs[0].gb_id))
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
