"""GB/T 28181 devices admitted by the API (/api/v1/devices) register with their own password, over real SIP
(tests/gb28181_peer.py) to the SIP server the app runs, with their live state in the database.

The module's app runs outside demo mode (the platform-wide password admits no unknown device); one test
uses the demo app (the ``api`` fixture), where it still does, as before the registry.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text

from app.config import Settings
from app.db.engine import make_engine
from tests.conftest import login
from tests.gb28181_peer import PeerEndpoint, SimDevice, body
from tests.waiting import async_wait_for

PLATFORM_PASSWORD = "gb-test-password"  # SHARPEYES_GB_PASSWORD of the test run (tests/conftest.py)
API = "/api/v1/devices"


class AnsweringDevice(SimDevice):
    """A SimDevice that also answers DeviceInfo and DeviceStatus queries, as cameras do."""

    ANSWERS: ClassVar[dict[str, str]] = {
        "DeviceInfo": "<DeviceName>Gate cam</DeviceName><Result>OK</Result><Manufacturer>SimCam</Manufacturer>"
                      "<Model>SIM-2</Model><Firmware>V5.7.3</Firmware><Channel>1</Channel>\r\n",
        "DeviceStatus": "<Result>OK</Result><Online>ONLINE</Online><Status>OK</Status><Encode>ON</Encode>"
                        "<Record>OFF</Record>\r\n",
    }

    def on_request(self, msg) -> None:
        super().on_request(msg)
        text_ = msg.body.decode("gb18030") if msg.body else ""
        for cmd, inner in self.ANSWERS.items():
            if f"<CmdType>{cmd}</CmdType>" in text_ and text_.lstrip().find("<Query>") >= 0:
                sn = int(text_.split("<SN>")[1].split("</SN>")[0])
                task = asyncio.get_running_loop().create_task(
                    self.message(body("Response", cmd, sn, self.device_id, inner, self.charset)))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    def got(self, needle: str) -> bool:
        return any(needle.encode() in m.body for m in self.received if m.method == "MESSAGE")


@pytest_asyncio.fixture(scope="module")
async def strict(demo_db: str):
    """The app outside demo mode, over the module's demo city."""
    from app.api.main import create_app

    app = create_app(Settings(demo_mode=False, secret_key="devices-test-secret-" + "x" * 20), demo_db)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.9.8.7", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.app = app
            yield client


@pytest_asyncio.fixture(scope="module")
async def db(demo_db: str):
    engine = make_engine(demo_db)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(scope="module")
async def district_admin(strict) -> dict:
    """An administrator of district 990101 only."""
    adm = await login(strict, "admin")
    r = await strict.post("/api/v1/users", headers=adm, json={
        "username": "dev_admin_nw", "password": "dev-admin-password-1", "role": "admin", "division_code": "990101"})
    assert r.status_code == 201, r.text
    return await login(strict, "dev_admin_nw", "dev-admin-password-1")


@pytest_asyncio.fixture
async def ep(strict):
    e = await PeerEndpoint.open(("127.0.0.1", strict.app.state.gb28181.udp_port))
    yield e
    e.close()


async def row(db, gb_id: str) -> dict | None:
    async with db.connect() as conn:
        r = (await conn.execute(text("SELECT * FROM gb_device WHERE gb_id = :g"), {"g": gb_id})).mappings().first()
        return dict(r) if r else None


async def admit(client, headers, gb_id: str, password: str, division: str = "990101", **extra) -> dict:
    r = await client.post(API, headers=headers, json={
        "gb_id": gb_id, "name": f"设备 {gb_id[-4:]}", "division_code": division, "password": password, **extra})
    assert r.status_code == 201, r.text
    return r.json()


async def test_an_admitted_device_registers_with_its_own_password(strict, db, ep, district_admin):
    gb_id = "99010100001320000101"
    dev = admit_json = await admit(strict, district_admin, gb_id, "cam-pass-0101", kind="ipc")
    assert dev["gb_id"] == gb_id and dev["division_code"] == "990101" and dev["online"] is False
    assert "password" not in admit_json and "ha1" not in admit_json
    stored = await row(db, gb_id)
    assert stored["ha1"] != "cam-pass-0101" and len(stored["ha1"]) == 32  # MD5(id:realm:password) only

    cam = AnsweringDevice(ep, gb_id, "cam-pass-0101", gb_version="3.0", answer_catalog=False)
    wrong = await cam.register(password="not-its-password")
    assert (wrong.status, wrong.reason) == (403, "wrong password")
    assert (await cam.register(password=PLATFORM_PASSWORD)).status == 403  # its own password, not the platform's
    assert (await cam.register()).status == 200
    assert (await cam.keepalive()).status == 200

    async def state() -> dict | None:
        r = await row(db, gb_id)
        return r if r["online"] and r["manufacturer"] and r["last_keepalive_at"] else None

    r = await async_wait_for(state, what="online, keepalive and DeviceInfo in the row")
    assert (r["edition"], r["transport"], r["model"], r["firmware"]) == ("2022", "UDP", "SIM-2", "V5.7.3")
    assert r["address"] == f"{ep.local[0]}:{ep.local[1]}" and r["registered_at"] and r["expires_at"]
    assert r["status_since"] is not None
    assert cam.got("<CmdType>DeviceInfo</CmdType>")  # asked after registering

    listed = (await strict.get(API, headers=district_admin, params={"q": "0101"})).json()["devices"]
    assert [d["gb_id"] for d in listed] == [gb_id]
    d = listed[0]
    assert d["online"] and d["manufacturer"] == "SimCam" and d["edition"] == "2022" and "ha1" not in d
    assert (await strict.get(API, headers=district_admin, params={"online": False})).json()["devices"] == []


async def test_an_unknown_device_is_refused(strict, db, ep):
    for password in (PLATFORM_PASSWORD, "whatever-1"):
        resp = await SimDevice(ep, "99010100001320000199", password).register()
        assert (resp.status, resp.reason) == (403, "Unknown Device")
    assert await row(db, "99010100001320000199") is None


async def test_editions_2016_and_default(strict, db, ep, district_admin):
    for gb_id, version in (("99010100001320000102", "2.0"), ("99010100001110000103", None)):
        created = await admit(strict, district_admin, gb_id, "cam-pass-0102")
        assert created["kind"] == ("dvr" if gb_id[10:13] == "111" else "ipc")  # from the id's type code
        assert (await SimDevice(ep, gb_id, "cam-pass-0102", gb_version=version, answer_catalog=False)
                .register()).status == 200
        await async_wait_for(lambda g=gb_id: _field(db, g, "edition"), what="edition stored")
        assert (await row(db, gb_id))["edition"] == "2016"


async def _field(db, gb_id, name):
    r = await row(db, gb_id)
    return r and r[name]


async def test_validation_and_conflicts(strict, district_admin):
    good = {"gb_id": "99010100001320000104", "name": "x", "division_code": "990101", "password": "12345678"}
    for bad in ({"gb_id": "9901"}, {"gb_id": "9901010000132000010x"}, {"password": "short"},
                {"kind": "toaster"}, {"password": "p" * 65}):
        r = await strict.post(API, headers=district_admin, json={**good, **bad})
        assert r.status_code == 422, (bad, r.text)
    assert (await strict.post(API, headers=district_admin, json=good)).status_code == 201
    r = await strict.post(API, headers=district_admin, json=good)
    assert r.status_code == 409, r.text
    r = await strict.post(API, headers=district_admin, json={**good, "gb_id": "99010100001320000105",
                                                              "division_code": "990102"})
    assert r.status_code == 403, r.text


async def test_a_district_administrator_sees_and_admits_only_their_devices(strict, district_admin):
    adm = await login(strict, "admin")
    other = await admit(strict, adm, "99010200001320000201", "cam-pass-0201", division="990102")
    mine = {d["gb_id"] for d in (await strict.get(API, headers=district_admin)).json()["devices"]}
    assert mine and all(g.startswith("990101") for g in mine) and other["gb_id"] not in mine
    assert other["gb_id"] in {d["gb_id"] for d in (await strict.get(API, headers=adm)).json()["devices"]}
    for method, extra in (("GET", {}), ("PATCH", {"json": {"name": "x"}}), ("DELETE", {}),
                          ("POST", {"json": {"action": "reboot"}})):
        url = f"{API}/{other['id']}" + ("/actions" if method == "POST" else "")
        r = await strict.request(method, url, headers=district_admin, **extra)
        assert r.status_code == 404, (method, r.text)
    own = (await strict.get(API, headers=district_admin)).json()["devices"][0]
    r = await strict.patch(f"{API}/{own['id']}", headers=district_admin, json={"division_code": "990102"})
    assert r.status_code == 403, r.text
    dispatcher = await login(strict, "dispatcher")  # no manage_devices
    assert (await strict.get(API, headers=dispatcher)).status_code == 403


async def pending(client, headers) -> list[dict]:
    return (await client.get("/api/v1/admission/pending", headers=headers, params={"protocol": "gb28181"})).json()


async def test_pending_mode_lists_then_accept_admits(strict, db, ep, district_admin):
    adm = await login(strict, "admin")
    r = await strict.put("/api/v1/admission/policy/gb28181", headers=adm, json={"mode": "pending"})
    assert r.status_code == 200 and r.json()["gb28181"] == "pending"
    try:
        newcomer = SimDevice(ep, "99010100001320000301", PLATFORM_PASSWORD, answer_catalog=False)
        resp = await newcomer.register()
        assert (resp.status, resp.reason) == (403, "Pending Approval")
        impostor = SimDevice(ep, "99010100001320000302", "not-the-platform-password")
        assert (await impostor.register()).reason == "wrong password"  # proves nothing: not listed
        listed = await async_wait_for(lambda: pending(strict, adm), what="the newcomer on the pending list")
        assert [p["external_id"] for p in listed] == [newcomer.device_id]
        assert listed[0]["detail"]["transport"] == "UDP" and "ha1" not in listed[0]["detail"]
        assert (await newcomer.register()).status == 403  # still waiting
        r = await strict.post(f"/api/v1/admission/pending/{listed[0]['id']}/accept", headers=district_admin,
                              json={"division_code": "990101", "name": "门口", "kind": "ipc"})
        assert r.status_code == 200, r.text
        assert r.json()["device_id"] and r.json()["target_id"] is None
        assert (await newcomer.register()).status == 200  # at once: the accept dropped the cached refusal
        dev = await strict.get(f"{API}/{r.json()['device_id']}", headers=district_admin)
        assert dev.json()["name"] == "门口" and dev.json()["division_code"] == "990101"

        rejected = SimDevice(ep, "99010100001320000303", PLATFORM_PASSWORD)
        assert (await rejected.register()).reason == "Pending Approval"
        listed = await async_wait_for(lambda: pending(strict, adm), what="the second device listed")
        pid = next(p["id"] for p in listed if p["external_id"] == rejected.device_id)
        r = await strict.post(f"/api/v1/admission/pending/{pid}/reject", headers=adm, json={"reason": "unknown"})
        assert r.status_code == 204, r.text
        assert (await rejected.register()).reason == "Rejected"
    finally:
        r = await strict.put("/api/v1/admission/policy/gb28181", headers=adm, json={"mode": "registered"})
        assert r.status_code == 200
    # Back to "registered": an unknown device is refused again at once (the policy change dropped the cache).
    resp = await SimDevice(ep, "99010100001320000304", PLATFORM_PASSWORD).register()
    assert resp.reason == "Unknown Device"


async def test_password_change_and_delete_take_effect_at_once(strict, db, ep, district_admin):
    gb_id = "99010100001320000401"
    dev = await admit(strict, district_admin, gb_id, "old-password-1")
    cam = SimDevice(ep, gb_id, "old-password-1", answer_catalog=False)
    assert (await cam.register()).status == 200
    r = await strict.patch(f"{API}/{dev['id']}", headers=district_admin,
                           json={"password": "new-password-1", "name": "改名"})
    assert r.status_code == 200 and r.json()["name"] == "改名" and "password" not in r.json()
    assert (await cam.register()).reason == "wrong password"  # a refresh with the old one
    assert (await cam.register(password="new-password-1")).status == 200
    server = strict.app.state.gb28181
    assert server.registry.get(gb_id) is not None
    r = await strict.delete(f"{API}/{dev['id']}", headers=district_admin)
    assert r.status_code == 204, r.text
    assert server.registry.get(gb_id) is None  # dropped at once
    assert (await cam.register(password="new-password-1")).reason == "Unknown Device"
    assert (await strict.get(f"{API}/{dev['id']}", headers=district_admin)).status_code == 404
    audit = (await strict.get("/api/v1/audit", headers=await login(strict, "admin"),
                              params={"limit": 200})).json()["items"]
    actions = [a["action"] for a in audit if a.get("object_type") == "gb_device" and a["object_id"] == str(dev["id"])]
    assert {"device_create", "device_update", "device_delete"} <= set(actions)
    assert all("new-password-1" not in str(a) for a in audit)


async def test_actions_reach_the_device(strict, db, ep, district_admin):
    gb_id = "99010100001320000501"
    dev = await admit(strict, district_admin, gb_id, "cam-pass-0501")
    url = f"{API}/{dev['id']}/actions"
    r = await strict.post(url, headers=district_admin, json={"action": "reboot"})
    assert r.status_code == 503 and "not online" in r.json()["error"]["message"]  # no server holds it
    cam = AnsweringDevice(ep, gb_id, "cam-pass-0501", answer_catalog=False)
    assert (await cam.register()).status == 200
    await async_wait_for(lambda: _field(db, gb_id, "online"), what="online in the row")
    r = await strict.post(url, headers=district_admin, json={"action": "device_info", "reason": "巡检"})
    assert r.status_code == 202, r.text
    assert r.json()["result"]["manufacturer"] == "SimCam" and r.json()["result"]["firmware"] == "V5.7.3"
    r = await strict.post(url, headers=district_admin, json={"action": "device_status"})
    assert r.status_code == 202 and r.json()["result"]["online"] == "ONLINE", r.text
    for action, needle in (("reboot", "<TeleBoot>Boot</TeleBoot>"), ("guard", "<GuardCmd>SetGuard</GuardCmd>"),
                           ("unguard", "<GuardCmd>ResetGuard</GuardCmd>"),
                           ("reset_alarm", "<AlarmCmd>ResetAlarm</AlarmCmd>"),
                           ("catalog", "<CmdType>Catalog</CmdType>")):
        r = await strict.post(url, headers=district_admin, json={"action": action})
        assert r.status_code == 202 and r.json() == {"action": action, "result": {"status": 200}}, r.text
        assert cam.got(needle), action
    assert (await strict.post(url, headers=district_admin, json={"action": "selfdestruct"})).status_code == 422


async def test_a_silent_or_unregistered_device_goes_offline_in_its_row(strict, db, ep, district_admin):
    server = strict.app.state.gb28181
    for gb_id in ("99010100001320000601", "99010100001320000602"):
        await admit(strict, district_admin, gb_id, "cam-pass-0600")
    quiet = SimDevice(ep, "99010100001320000601", "cam-pass-0600", answer_catalog=False)
    leaving = SimDevice(ep, "99010100001320000602", "cam-pass-0600", answer_catalog=False)
    for d in (quiet, leaving):
        assert (await d.register()).status == 200
        await async_wait_for(lambda g=d.device_id: _field(db, g, "online"), what="online in the row")
    server.registry.get(quiet.device_id).last_seen -= 10_000  # its keepalives stopped long ago: the sweep sees it
    assert (await leaving.register(expires=0)).status == 200  # unregisters
    for d in (quiet, leaving):
        await async_wait_for(lambda g=d.device_id: _offline(db, g), what=f"{d.device_id} offline in the row")


async def _offline(db, gb_id):
    r = await row(db, gb_id)
    return r["online"] is False and r["status_since"] is not None


async def test_demo_mode_still_admits_with_the_platform_password(api, db):
    """Demo mode (the demo's simulators, the other tests): an unknown device with SHARPEYES_GB_PASSWORD
    registers as before the registry, and is filed as a device of the division its id names."""
    server = api.app.state.gb28181
    ep = await PeerEndpoint.open(("127.0.0.1", server.udp_port))
    try:
        dev = SimDevice(ep, "99010100001380000701", PLATFORM_PASSWORD, answer_catalog=False)
        assert (await dev.register()).status == 200
        r = await async_wait_for(lambda: row(db, dev.device_id), what="the device filed")
        assert (r["kind"], r["division_code"], r["created_by"]) == ("mobile", "990101", "gb28181")
        assert (await dev.register()).status == 200  # now as an admitted device (same HA1)
    finally:
        ep.close()


@pytest.mark.parametrize("path", [API, f"{API}/1"])
async def test_devices_need_authentication(strict, path):
    assert (await strict.get(path)).status_code == 401
