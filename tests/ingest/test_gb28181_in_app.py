"""The SIP server runs inside the platform: a device registers and its MobilePosition fixes are stored
through the same ingest pipeline as every other protocol."""

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from app.db.engine import make_engine
from app.ingest.gb28181.ptz import ptz_cmd
from tests.conftest import login
from tests.gb28181_peer import PeerEndpoint, SimDevice
from tests.waiting import async_wait_for


async def test_device_positions_reach_the_position_table(api, demo_db):
    server = api.app.state.gb28181
    assert server is not None, "the app starts its GB/T 28181 server"
    ep = await PeerEndpoint.open(("127.0.0.1", server.udp_port))
    try:
        dev = SimDevice(ep, "99010100001380000001", "gb-test-password", answer_catalog=False)
        assert (await dev.register()).status == 200
        now_local = datetime.now(server.tz).replace(microsecond=0, tzinfo=None)
        fixes = [(dev.device_id, now_local - timedelta(seconds=20 - i * 5), 24.94 + i * 0.0005, 60.17, 30.0, 90.0)
                 for i in range(4)]
        assert (await dev.send_positions(fixes[:1], "flat", "NOTIFY")).status == 200  # one fix per flat body
        assert (await dev.send_positions(fixes[1:], "list", "MESSAGE")).status == 200
        engine = make_engine(demo_db)

        async def stored() -> bool:
            async with engine.connect() as conn:
                return (await conn.execute(text(
                    "SELECT count(*) FROM position p JOIN target t ON t.id = p.target_id "
                    "WHERE t.protocol = 'gb28181' AND t.external_id = :d"), {"d": dev.device_id})).scalar() == 4

        try:
            await async_wait_for(stored, interval=0.1, what="the 4 positions stored")
        finally:
            await engine.dispose()
    finally:
        ep.close()


def test_ptz_command_codes():
    # Sum of bytes 1–7 modulo 256 as the last byte; WVP's "left at pan speed 0x1F" is A50F01021F0000D6.
    assert ptz_cmd("left", 5) == "A50F01025500000C"
    assert ptz_cmd("stop", 1) == "A50F0100000000B5"
    assert ptz_cmd("zoom_in", 15) == "A50F01100000F0B5"  # zoom speed in the high nibble of byte 7
    assert ptz_cmd("up", 15)[8:12] == "00FF"  # tilt speed 255, no pan
    with pytest.raises(ValueError):
        ptz_cmd("goto", 5)


async def test_ptz_request_reaches_the_camera_as_device_control(api, demo_db):
    """POST /cameras/{id}/ptz → audited → bus → the SIP server → MESSAGE DeviceControl to the device."""
    server = api.app.state.gb28181
    ep = await PeerEndpoint.open(("127.0.0.1", server.udp_port))
    try:
        dev = SimDevice(ep, "99010100001320000077", "gb-test-password", answer_catalog=False)
        assert (await dev.register()).status == 200
        adm = await login(api, "admin")
        r = await api.post("/api/v1/cameras", headers=adm, json={
            "name": "路口球机", "lon": 24.94, "lat": 60.17, "kind": "ptz", "gb_id": dev.device_id})
        assert r.status_code == 201, r.text
        h = await login(api, "dispatcher")
        r = await api.post(f"/api/v1/cameras/{r.json()['id']}/ptz", headers=h,
                           json={"action": "left", "speed": 5, "reason": "跟踪可疑车辆"})
        assert r.status_code == 202, r.text
        await asyncio.wait_for(dev.controlled.wait(), 10)
        body = dev.controls[0]
        assert "<CmdType>DeviceControl</CmdType>" in body and f"<DeviceID>{dev.device_id}</DeviceID>" in body
        assert "<PTZCmd>A50F01025500000C</PTZCmd>" in body
        assert "<Info><ControlPriority>5</ControlPriority></Info>" in body
        await async_wait_for(lambda: server.stats["ptz_sent"] == 1, interval=0.1, what="the PTZ command counted")
    finally:
        ep.close()
