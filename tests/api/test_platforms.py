"""SharpEyes as a lower platform (GB/T 28181 cascade): an upper platform configured over the API, over real
sockets to a simulated upper (tests/gb_upper_peer.py): digest registration, keepalives, loss and recovery,
the shared catalog (every shared camera, nothing beyond the rule), a wrong password shown, and the
unregister when the platform is deleted.
"""

from __future__ import annotations

import pytest_asyncio
from sqlalchemy import text

from app.db.engine import make_engine
from tests.conftest import login
from tests.gb_upper_peer import UpperPeer
from tests.waiting import async_wait_for

API = "/api/v1/platforms"


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


def lower_id(api) -> str:
    return api.app.state.gb28181.settings.server_id


async def create(api, headers, peer: UpperPeer, **extra) -> dict:
    body = {"name": "市级平台", "sip_id": peer.sip_id, "domain": peer.domain, "host": "127.0.0.1",
            "port": peer.port, "password": peer.password, "keepalive_s": 1, "keepalive_misses": 2,
            "register_expires_s": 60, "share_divisions": ["990102"], "share_max_secrecy": 2, **extra}
    r = await api.post(API, headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def state(api, headers, pid: int) -> dict:
    r = await api.get(f"{API}/{pid}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def delete(api, headers, pid: int) -> None:
    r = await api.delete(f"{API}/{pid}", headers=headers)
    assert r.status_code == 204, r.text


async def test_registers_keeps_alive_recovers_and_unregisters(api, db, upper):
    adm = await login(api, "admin")
    me = lower_id(api)
    row = await create(api, adm, upper)
    assert "password" not in row and "password_sealed" not in row
    assert row["share_divisions"] == ["990102"] and row["local_id"] is None
    async with db.connect() as conn:
        sealed = (await conn.execute(text("SELECT password_sealed FROM upper_platform WHERE id = :i"),
                                     {"i": row["id"]})).scalar_one()
    assert upper.password not in sealed

    await async_wait_for(lambda: upper.keepalives.get(me, 0) >= 2, what="keepalives at the upper")
    assert [s for _, _, s in upper.registers][:2] == [401, 200]  # challenged, then digest accepted
    st = await async_wait_for(lambda: _registered(api, adm, row["id"]), what="link registered in the API")
    assert st["registered_at"] and st["last_keepalive_at"] and st["last_error"] is None

    listed = (await api.get(API, headers=adm)).json()["platforms"]
    assert [p["id"] for p in listed] == [row["id"]] and "password" not in listed[0]

    port = upper.port
    await upper.stop()  # the upper goes away
    st = await async_wait_for(lambda: _state_is(api, adm, row["id"], "offline", "registering"), timeout=30,
                              what="link offline after the upper went away")
    assert st["last_error"]
    await upper.start(port)  # back, with no memory of us
    await async_wait_for(lambda: me in upper.lowers, timeout=30, what="re-registration")
    await async_wait_for(lambda: _registered(api, adm, row["id"]), what="link registered again")

    audit = (await api.get("/api/v1/audit", headers=adm, params={"action": "platform_create"})).json()
    assert any(e.get("object_id") == str(row["id"]) for e in audit.get("events", audit.get("items", [])))

    await delete(api, adm, row["id"])
    await async_wait_for(lambda: me in upper.unregistered, what="Expires: 0 unregister")
    assert upper.registers[-1] == (me, 0, 200)


async def _registered(api, headers, pid: int) -> dict | None:
    st = await state(api, headers, pid)
    return st if st["link_state"] == "registered" and st["last_keepalive_at"] else None


async def _state_is(api, headers, pid: int, *states: str) -> dict | None:
    st = await state(api, headers, pid)
    return st if st["link_state"] in states and st["last_error"] else None


async def test_wrong_password_is_shown(api, upper):
    adm = await login(api, "admin")
    row = await create(api, adm, upper, password="not-the-password")
    st = await async_wait_for(lambda: _state_is(api, adm, row["id"], "offline", "registering"),
                              what="the refusal shown")
    assert "403" in st["last_error"] and st["link_state"] != "registered"
    r = await api.patch(f"{API}/{row['id']}", headers=adm, json={"password": upper.password})
    assert r.status_code == 200, r.text
    await async_wait_for(lambda: _registered(api, adm, row["id"]), what="registered with the right password")
    me = lower_id(api)
    r = await api.patch(f"{API}/{row['id']}", headers=adm, json={"enabled": False})
    assert r.status_code == 200 and r.json()["link_state"] == "disabled", r.text
    await async_wait_for(lambda: me in upper.unregistered, what="Expires: 0 when disabled")
    assert (await state(api, adm, row["id"]))["link_state"] == "disabled"
    await delete(api, adm, row["id"])


async def test_catalog_answers_exactly_the_shared_cameras(api, db, upper):
    """300 cameras more in the shared district, some above the secrecy ceiling; others outside it."""
    async with db.begin() as conn:
        await conn.execute(text(
            "INSERT INTO camera (gb_id, name, division_code, location, view, secrecy, cls, kind, status, source)"
            " SELECT '9901020000131' || lpad(g::text, 7, '0'), '级联测试 ' || g,"
            " CASE WHEN g % 2 = 0 THEN '990102001001' ELSE '990102002001' END,"
            " pt, ST_Buffer(pt::geography, 20)::geometry,"
            " CASE WHEN g % 10 = 0 THEN 5 WHEN g % 10 = 1 THEN 2 ELSE 0 END, 3, 'fixed',"
            " CASE WHEN g % 7 = 0 THEN 'offline' ELSE 'online' END, 'manual'"
            " FROM generate_series(1, 330) g, ST_SetSRID(ST_MakePoint(24.95 + g * 0.0001, 60.2), 4326) pt"))
        expected = set((await conn.execute(text(
            "SELECT gb_id FROM camera WHERE division_code LIKE '990102%' AND secrecy <= 2"
            " AND status <> 'planned'"))).scalars())
        secret = set((await conn.execute(text(
            "SELECT gb_id FROM camera WHERE division_code LIKE '990102%' AND secrecy > 2"))).scalars())
        outside = set((await conn.execute(text(
            "SELECT gb_id FROM camera WHERE division_code NOT LIKE '990102%'"))).scalars())
        n_divs = (await conn.execute(text("SELECT count(*) FROM division WHERE code LIKE '990102%'"))).scalar_one()
    assert len(expected) >= 300 and secret and outside

    adm = await login(api, "admin")
    me = lower_id(api)
    row = await create(api, adm, upper, charset="GB2312")
    await async_wait_for(lambda: me in upper.lowers, what="registration")
    ans = await upper.query_catalog(me)
    assert ans.sum_num == len(ans.items) == len(expected) + n_divs + 1
    assert ans.messages > 1  # split over several MESSAGEs
    ids = [it["DeviceID"] for it in ans.items]
    assert len(set(ids)) == len(ids)
    cams = {it["DeviceID"]: it for it in ans.items if it["DeviceID"][10:13] not in ("215", "216")}
    assert set(cams) == expected and not set(cams) & (secret | outside)

    groups = [it for it in ans.items if it["DeviceID"][10:13] == "215"]
    orgs = {it["DeviceID"]: it for it in ans.items if it["DeviceID"][10:13] == "216"}
    assert len(groups) == 1 and groups[0]["ParentID"] == me and len(orgs) == n_divs
    bg = groups[0]["DeviceID"]
    assert all(o["BusinessGroupID"] == bg and (o["ParentID"] == bg or o["ParentID"] in orgs)
               for o in orgs.values())
    sample = cams["99010200001310000003"]
    assert sample["ParentID"] in orgs and sample["CivilCode"] == "990102" and sample["Name"] == "级联测试 3"
    assert sample["Status"] == "ON" and sample["Secrecy"] == "0" and float(sample["Longitude"]) > 24.9
    assert cams["99010200001310000007"]["Status"] == "OFF" and cams["99010200001310000001"]["Secrecy"] == "2"
    for f in ("Manufacturer", "Model", "Owner", "Address", "Parental", "SafetyWay", "RegisterWay", "Latitude"):
        assert sample[f], f

    # The upper's id from another address is not the upper: refused, nothing sent there.
    spoof = await UpperPeer(sip_id=upper.sip_id, host="127.0.0.2").start()
    try:
        resp, stolen = await spoof.catalog_request(me, ("127.0.0.1", api.app.state.gb28181.udp_port))
        assert resp.status == 403 and not stolen.items
    finally:
        await spoof.stop()

    # The rule narrowed: the next query has only the first street's cameras.
    r = await api.patch(f"{API}/{row['id']}", headers=adm, json={"share_divisions": ["990102001"],
                                                                 "share_max_secrecy": 0})
    assert r.status_code == 200, r.text
    async with db.connect() as conn:
        narrow = set((await conn.execute(text(
            "SELECT gb_id FROM camera WHERE division_code LIKE '990102001%' AND secrecy = 0"))).scalars())
    ans = await upper.query_catalog(me)
    got = {it["DeviceID"] for it in ans.items if it["DeviceID"][10:13] not in ("215", "216")}
    assert got == narrow and ans.sum_num == len(ans.items)
    await delete(api, adm, row["id"])


async def test_over_tcp(api, upper):
    adm = await login(api, "admin")
    me = lower_id(api)
    row = await create(api, adm, upper, transport="tcp")
    await async_wait_for(lambda: upper.keepalives.get(me, 0) >= 1 and upper.lowers[me].transport == "TCP",
                         what="registered and keeping alive over TCP")
    ans = await upper.query_catalog(me)
    assert ans.sum_num == len(ans.items) > 1
    await delete(api, adm, row["id"])
    await async_wait_for(lambda: me in upper.unregistered, what="unregistered over TCP")


async def test_refreshes_before_the_granted_expiry(api, upper):
    """The upper grants 2 s: the registration is refreshed (same Call-ID) before it lapses, keepalives go on."""
    upper.grant_expires = 2
    adm = await login(api, "admin")
    me = lower_id(api)
    row = await create(api, adm, upper)
    await async_wait_for(lambda: len(upper.call_ids) >= 3, what="two refreshes")
    assert len(set(upper.call_ids)) == 1 and upper.keepalives.get(me, 0) >= 1
    info = await upper.ask(me, "DeviceInfo")  # what uppers ask a lower platform after it registered
    assert info["result"] == "OK" and info["deviceid"] == me and int(info["channel"]) > 0
    assert (await upper.ask(me, "DeviceStatus"))["online"] == "ONLINE"
    assert (await state(api, adm, row["id"]))["link_state"] == "registered"
    await delete(api, adm, row["id"])
