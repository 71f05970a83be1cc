"""A GB/T 28181 channel's presets, cruises, PTZ position, precise PTZ and snapshots, end to end over real
sockets: simulated 2016 and 2022 devices register with a live platform process; a dispatcher lists and
calls presets, starts a cruise, points a 2022 channel precisely and takes a snapshot the device uploads by
HTTP; a 2016 device gets a clear 409 for what its edition lacks; another district's dispatcher sees none of
it (404); every command leaves its audit row."""

from __future__ import annotations

import hashlib

import httpx
import psycopg
import pytest

from tests.gb28181_peer import Channel, SimDevice, jpeg_picture
from tests.gb_live import gb_platform, registered
from tests.live_servers import token
from tests.waiting import async_wait_for

SPOT = (24.9420, 60.1700)  # a quiet corner of the demo city
USER_PASSWORD = "sharpeyes-demo"  # what tests.live_servers.token logs in with


@pytest.fixture(scope="module")
def server(demo_db_url, tmp_path_factory):
    with gb_platform(demo_db_url, SHARPEYES_GB_TRANSACTION_TIMEOUT_S="3", SHARPEYES_SNAPSHOT_WAIT_S="4",
                     SHARPEYES_SNAPSHOT_DIR=str(tmp_path_factory.mktemp("snapshots"))) as proc:
        yield proc


def _sql(db: str, q: str, params=()) -> list[tuple]:
    with psycopg.connect(db) as conn:
        return conn.execute(q, params).fetchall()


async def _device(server, device_id: str, channel_id: str, **kw):
    return await registered(server, device_id, Channel(channel_id, "路口球机", SPOT[0], SPOT[1], ptz_type=1), **kw)


def _outsider(server, cam: int) -> dict:
    """A dispatcher of another district than the camera's."""
    (div,), = _sql(server.db, "SELECT division_code FROM camera WHERE id = %s", (cam,))
    other = next(d for d in ("990101", "990102", "990103", "990104") if not (div or "").startswith(d))
    name = f"disp_{other}"
    admin = {"Authorization": f"Bearer {token(server.base, 'admin')}"}
    r = httpx.post(f"{server.base}/api/v1/users", headers=admin, timeout=10, json={
        "username": name, "password": USER_PASSWORD, "role": "dispatcher", "division_code": other})
    assert r.status_code in (201, 409), r.text
    return {"Authorization": f"Bearer {token(server.base, name)}"}


def _audits(server, cam: int) -> list[tuple]:
    return _sql(server.db, "SELECT action, actor_name, detail FROM audit_event WHERE object_type = 'camera' "
                           "AND object_id = %s ORDER BY id", (str(cam),))


def _ptz_cmds(dev: SimDevice) -> list[str]:
    return [c.split("<PTZCmd>")[1].split("</PTZCmd>")[0] for c in dev.controls if "<PTZCmd>" in c]


async def test_presets_and_cruise_on_a_2016_device_which_refuses_2022_commands_clearly(server):
    ep, dev, cam = await _device(server, "34020000001320000201", "34020000001320000201",
                                 presets=[(1, "大门"), (2, "路口"), (3, "停车场"), (7, "加油站"), (9, "东侧")])
    hdr = {"Authorization": f"Bearer {token(server.base, 'dispatcher')}"}
    try:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            r = await client.get(f"/api/v1/cameras/{cam}/presets", headers=hdr)
            assert r.status_code == 200, r.text
            assert r.json()["complete"] and [(p["preset"], p["name"]) for p in r.json()["presets"]] == [
                (1, "大门"), (2, "路口"), (3, "停车场"), (7, "加油站"), (9, "东侧")]  # three MESSAGEs gathered

            for body in ({"action": "set", "preset": 4, "name": "北门"}, {"action": "call", "preset": 2},
                         {"action": "delete", "preset": 255}):
                r = await client.post(f"/api/v1/cameras/{cam}/presets", headers=hdr, json=body)
                assert r.status_code == 200, r.text
            for body in ({"action": "start", "cruise": 1}, {"action": "stop", "cruise": 1}):
                r = await client.post(f"/api/v1/cameras/{cam}/cruise", headers=hdr, json=body)
                assert r.status_code == 200, r.text
            assert _ptz_cmds(dev) == ["A50F01810004003A", "A50F018200020039", "A50F018300FF0037",
                                      "A50F01880100003E", "A50F0100000000B5"]

            r = await client.post(f"/api/v1/cameras/{cam}/presets", headers=hdr, json={"action": "call", "preset": 0})
            assert r.status_code == 422, r.text
            for method, path, body in (("GET", "ptz-position", None),
                                       ("POST", "ptz-precise", {"pan": 10, "tilt": 5, "zoom": 2}),
                                       ("POST", "snapshot", {})):
                r = await client.request(method, f"/api/v1/cameras/{cam}/{path}", headers=hdr, json=body)
                assert r.status_code == 409 and "GB/T 28181-2016" in r.text, (path, r.text)
            assert not any(m.method == "MESSAGE" and b"PTZPosition" in m.body for m in dev.received)

            outsider = _outsider(server, cam)
            r = await client.get(f"/api/v1/cameras/{cam}/presets", headers=outsider)
            assert r.status_code == 404, r.text
            r = await client.post(f"/api/v1/cameras/{cam}/presets", headers=outsider, json={"action": "call",
                                                                                             "preset": 1})
            assert r.status_code == 404, r.text
            officer = {"Authorization": f"Bearer {token(server.base, 'officer')}"}  # live video, no PTZ
            r = await client.post(f"/api/v1/cameras/{cam}/cruise", headers=officer, json={"action": "start",
                                                                                           "cruise": 1})
            assert r.status_code == 403, r.text
        rows = _audits(server, cam)
        assert [(a, who) for a, who, _ in rows] == [("camera_preset", "dispatcher")] * 3 + [
            ("camera_cruise", "dispatcher")] * 2
        assert rows[0][2] == {"gb_id": "34020000001320000201", "action": "set", "preset": 4, "name": "北门"}
    finally:
        ep.close()


async def test_a_2022_channel_points_precisely_reports_its_position_and_uploads_a_snapshot(server):
    ep, dev, cam = await _device(server, "34020000001320000202", "34020000001320000202", gb_version="3.0")
    hdr = {"Authorization": f"Bearer {token(server.base, 'dispatcher')}"}
    try:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            r = await client.post(f"/api/v1/cameras/{cam}/ptz-precise", headers=hdr,
                                  json={"pan": 123.5, "tilt": -10.25, "zoom": 4, "reason": "看清车牌"})
            assert r.status_code == 200, r.text
            assert dev.ptz == (123.5, -10.25, 4.0)
            r = await client.get(f"/api/v1/cameras/{cam}/ptz-position", headers=hdr)
            assert r.status_code == 200, r.text
            assert r.json() == {"camera_id": cam, "pan": 123.5, "tilt": -10.25, "zoom": 4.0}
            r = await client.post(f"/api/v1/cameras/{cam}/ptz-precise", headers=hdr,
                                  json={"pan": 400, "tilt": 0, "zoom": 1})
            assert r.status_code == 422, r.text

            r = await client.post(f"/api/v1/cameras/{cam}/snapshot", headers=hdr, json={"reason": "留存现场"})
            assert r.status_code == 201, r.text
            snap = r.json()
            picture = jpeg_picture()
            assert snap["sha256"] == hashlib.sha256(picture).hexdigest() and snap["size"] == len(picture)
            await async_wait_for(lambda: len(dev.snapshots) == 1, timeout=10, interval=0.1,
                                 what="the device's UploadSnapShotFinished answered")
            (url, uploaded, finished), = dev.snapshots
            assert uploaded == 200 and url.startswith(f"{server.base}/api/v1/snapshots/upload/")
            assert finished == 200  # the device's UploadSnapShotFinished was accepted
            r = await client.get(snap["url"], headers=hdr)
            assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content == picture

            # The token was for one upload, and only a JPEG is taken.
            assert (await client.post(url, content=picture)).status_code == 404
            assert (await client.post(url.replace("upload/", "upload/x")[:-1], content=b"GIF89a")).status_code \
                == 422
            # Out of scope: the picture and the channel are 404 to another district's dispatcher.
            outsider = _outsider(server, cam)
            assert (await client.get(snap["url"], headers=outsider)).status_code == 404
            assert (await client.get(f"/api/v1/cameras/{cam}/ptz-position", headers=outsider)).status_code == 404
            assert (await client.post(f"/api/v1/cameras/{cam}/snapshot", headers=outsider)).status_code == 404
            assert (await client.get(snap["url"])).status_code == 401

            dev.snapshot_multipart = True  # the picture as a form's file: taken as well
            r = await client.post(f"/api/v1/cameras/{cam}/snapshot", headers=hdr)
            assert r.status_code == 201 and r.json()["sha256"] == snap["sha256"] and r.json()["id"] != snap["id"]

            dev.snapshot_upload = False  # takes the command, uploads nothing
            r = await client.post(f"/api/v1/cameras/{cam}/snapshot", headers=hdr)
            assert r.status_code == 503 and "uploaded no picture" in r.text, r.text
            late = dev.snapshots[-1][0]
            assert (await client.post(late, content=picture)).status_code == 404  # withdrawn after the wait
        actions = [(a, d.get("snapshot_id")) for a, _, d in _audits(server, cam)]
        assert [a for a, _ in actions] == ["camera_ptz_precise"] + ["camera_snapshot"] * 3
        assert actions[1][1] == snap["id"]
    finally:
        ep.close()
