"""Acknowledged = stored, for every device protocol, and one admission rule for all of them.

The real app (its lifespan: writer, pipeline, JT/T 808 listener on a real socket) over a copy of the demo
city; terminals speak real JT/T 808 frames, phones real OsmAnd requests.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest_asyncio
from sqlalchemy import event

from app.config import Settings
from app.ingest.jt808 import messages as m
from tests.conftest import login
from tests.ingest.test_jt808 import connect, location_body, register_body

LON, LAT = 24.9384, 60.1699
NOW = datetime.now(UTC).replace(microsecond=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest_asyncio.fixture(scope="module")
async def app_api(demo_db: str):
    """The app with its JT/T 808 listener on a free port."""
    from app.api.main import create_app

    app = create_app(Settings(demo_mode=True, jt808_port=_free_port()), demo_db)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.9.8.7", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.app = app
            yield client


def _sql(db: str, query: str, *args):
    with psycopg.connect(db) as conn:
        return conn.execute(query, args).fetchall()


async def _unit(api, callsign: str, protocol: str, external_id: str) -> int:
    h = await login(api, "admin")
    r = await api.post("/api/v1/units", headers=h, json={
        "callsign": callsign, "kind": "patrol_car", "division_code": "990100",
        "tracker": {"protocol": protocol, "external_id": external_id}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _register(t) -> tuple[int, bytes]:
    """0x0100 → (0x8100 result, the rest of its body: the auth code on success)."""
    serial = t.send(m.REGISTER, register_body(t.version))
    f = await t.recv()
    assert f.header.msg_id == m.REGISTER_REPLY and f.header.version == t.version
    assert struct.unpack(">H", f.body[:2])[0] == serial
    return f.body[2], f.body[3:]


async def _authenticate(t, code: bytes) -> int:
    body = code if t.version is None else bytes([len(code)]) + code + b"8" * 15 + b"\0" * 20
    serial = t.send(m.AUTHENTICATE, body)
    got = await t.reply()
    assert got[:2] == (serial, m.AUTHENTICATE)
    return got[2]


def _batch(kind: int, bodies: list[bytes]) -> bytes:
    return struct.pack(">HB", len(bodies), kind) + b"".join(struct.pack(">H", len(b)) + b for b in bodies)


def _positions(db: str, unit_id: int) -> list[datetime]:
    return [r[0] for r in _sql(db, "SELECT p.fix_time FROM position p JOIN unit u ON u.target_id = p.target_id "
                                   "WHERE u.id = %s ORDER BY 1", unit_id)]


# -- JT/T 808: acknowledged = stored; history is stored but not live ----------------------------------

async def test_jt808_history_is_stored_with_its_time_and_refusals_are_failures(app_api, demo_db):
    api = app_api
    phone = "013912345678"  # 2013 header: 12 digits, the leading zero is part of what the terminal sends
    unit = await _unit(api, "历史1", "jt808", phone)
    rt = api.app.state.ingest
    t = await connect(rt.jt808.port, phone)
    result, code = await _register(t)  # the 2013 registration body under the 2013 header
    assert result == m.REGISTERED
    assert await _authenticate(t, code) == m.OK

    live = NOW - timedelta(seconds=30)
    s = t.send(m.LOCATION, location_body(lat=LAT, lon=LON, when=live))
    assert await t.reply() == (s, m.LOCATION, m.OK)
    # Blind-area backfill days later: 40 days old (its day's partition does not exist yet) and 3 days old,
    # the latter with its SOS bit set and at 200 km/h: history, so no incident and no overspeed event.
    old, older = NOW - timedelta(days=3), NOW - timedelta(days=40)
    s = t.send(m.BATCH_LOCATION, _batch(1, [
        location_body(lat=LAT + 0.01, lon=LON, when=older),
        location_body(lat=LAT + 0.02, lon=LON, alarm=1, speed=200.0, when=old)]))
    assert await t.reply() == (s, m.BATCH_LOCATION, m.OK)
    # A normal 0x0200 that arrives hours late is history too: it must not move the live marker back.
    late = NOW - timedelta(hours=30)
    s = t.send(m.LOCATION, location_body(lat=LAT + 0.03, lon=LON, when=late))
    assert await t.reply() == (s, m.LOCATION, m.OK)

    # What cannot be stored is answered with a failure, never "ok", and nothing of the message is stored.
    for body in (location_body(lat=LAT, lon=LON, when=NOW + timedelta(days=1)),  # in the future
                 location_body(lat=95.0, lon=LON, when=live + timedelta(seconds=1)),  # no such latitude
                 location_body(lat=LAT, lon=LON, when=NOW - timedelta(days=400))):  # past the retention
        s = t.send(m.LOCATION, body)
        assert await t.reply() == (s, m.LOCATION, m.BAD_MESSAGE)
    s = t.send(m.BATCH_LOCATION, _batch(1, [location_body(when=NOW - timedelta(days=2)),
                                            location_body(when=NOW + timedelta(days=2))]))
    assert await t.reply() == (s, m.BATCH_LOCATION, m.BAD_MESSAGE)
    t.writer.close()

    assert _positions(demo_db, unit) == [older, old, late, live]  # every acknowledged fix, with its own time
    await rt.writer.sync_last()
    (last,) = _sql(demo_db, "SELECT t.last_fix_at FROM target t JOIN unit u ON u.target_id = t.id "
                            "WHERE u.id = %s", unit)
    assert last[0] == live  # the live marker never went back
    assert _sql(demo_db, "SELECT count(*) FROM incident WHERE description LIKE %s", f"%{phone}%") == [(0,)]
    assert _sql(demo_db, "SELECT count(*) FROM target_event e JOIN unit u ON u.target_id = e.target_id "
                         "WHERE u.id = %s", unit) == [(0,)]


async def test_jt808_2019_terminal_keeps_its_leading_zeros_and_reports_for_its_unit(app_api, demo_db):
    api = app_api
    phone = "00000000013900000077"  # 2019 header: 20 BCD digits
    unit = await _unit(api, "历史2", "jt808", phone)
    t = await connect(api.app.state.ingest.jt808.port, phone, version=1)
    result, code = await _register(t)  # the 2019 registration body (maker 11, model 30, id 30)
    assert result == m.REGISTERED
    assert await _authenticate(t, code) == m.OK
    s = t.send(m.LOCATION, location_body(lat=LAT, lon=LON, when=NOW - timedelta(seconds=5)))
    assert await t.reply() == (s, m.LOCATION, m.OK)
    t.writer.close()
    assert _positions(demo_db, unit) == [NOW - timedelta(seconds=5)]
    assert _sql(demo_db, "SELECT count(*) FROM target WHERE external_id = '13900000077'") == [(0,)]


async def test_jt808_unit_registered_with_the_number_padded_otherwise_still_matches(app_api, demo_db):
    """A unit registered with the bare number (as earlier versions stored terminal ids) gets the fixes of the
    2013 terminal that sends it with its leading zero: the registered id is kept, no second target."""
    api = app_api
    unit = await _unit(api, "历史3", "jt808", "13900000088")
    t = await connect(api.app.state.ingest.jt808.port, "013900000088")
    result, code = await _register(t)
    assert result == m.REGISTERED
    assert await _authenticate(t, code) == m.OK
    s = t.send(m.LOCATION, location_body(lat=LAT, lon=LON, when=NOW - timedelta(seconds=4)))
    assert await t.reply() == (s, m.LOCATION, m.OK)
    s = t.send(m.BATCH_LOCATION, _batch(0, [location_body(lat=LAT, lon=LON, when=NOW - timedelta(seconds=3))]))
    assert await t.reply() == (s, m.BATCH_LOCATION, m.OK)
    t.writer.close()
    assert _positions(demo_db, unit) == [NOW - timedelta(seconds=4), NOW - timedelta(seconds=3)]
    assert _sql(demo_db, "SELECT count(*) FROM target WHERE external_id = '013900000088'") == [(0,)]


# -- one admission rule ---------------------------------------------------------------------------

async def test_unknown_jt808_terminal_is_refused_then_pending_then_accepted(app_api, demo_db):
    api = app_api
    h = await login(api, "admin")
    port = api.app.state.ingest.jt808.port
    phone = "018800000001"
    t = await connect(port, phone)
    assert (await _register(t))[0] == m.NO_TERMINAL  # registered devices only (the default)
    assert await _authenticate(t, b"whatever") == m.FAIL
    s = t.send(m.LOCATION, location_body(when=NOW - timedelta(seconds=3)))
    assert await t.reply() == (s, m.LOCATION, m.FAIL)
    t.writer.close()
    assert _sql(demo_db, "SELECT count(*) FROM target WHERE external_id = %s", phone) == [(0,)]

    r = await api.get("/api/v1/admission/policy", headers=h)
    assert r.status_code == 200 and r.json() == {"jt808": "registered", "osmand": "registered",
                                                 "gb28181": "registered"}
    r = await api.put("/api/v1/admission/policy/jt808", headers=h, json={"mode": "pending"})
    assert r.status_code == 200 and r.json()["jt808"] == "pending"
    t = await connect(port, phone)
    assert (await _register(t))[0] == m.NO_TERMINAL  # on the pending list now, still refused
    r = await api.get("/api/v1/admission/pending", headers=h, params={"protocol": "jt808"})
    assert r.status_code == 200
    (p,) = [x for x in r.json() if x["external_id"] == phone]
    assert p["status"] == "pending" and p["detail"]["model"] == "MODEL-X" and p["detail"]["version"] == 2013

    r = await api.post(f"/api/v1/admission/pending/{p['id']}/accept", headers=h,
                       json={"kind": "patrol_car", "name": "新终端", "division_code": "990100"})
    assert r.status_code == 200, r.text
    result, code = await _register(t)
    assert result == m.REGISTERED
    assert await _authenticate(t, code) == m.OK
    s = t.send(m.LOCATION, location_body(when=NOW - timedelta(seconds=2)))
    assert await t.reply() == (s, m.LOCATION, m.OK)
    t.writer.close()
    assert _sql(demo_db, "SELECT count(*) FROM position p JOIN target t ON t.id = p.target_id "
                         "WHERE t.protocol = 'jt808' AND t.external_id = %s", phone) == [(1,)]
    actions = [r[0] for r in _sql(demo_db, "SELECT action FROM audit_event WHERE action IN "
                                           "('admission_policy', 'device_accept') ORDER BY id")]
    assert actions == ["admission_policy", "device_accept"]
    assert (await api.post(f"/api/v1/admission/pending/{p['id']}/accept", headers=h, json={})).status_code == 404
    r = await api.put("/api/v1/admission/policy/jt808", headers=h, json={"mode": "registered"})
    assert r.status_code == 200


async def test_a_fleet_reconnecting_at_once_shares_its_admission_look_ups(app_api, demo_db):
    """40 terminals register at the same moment (a platform restart): their admission is decided by a few
    batched look-ups, not one query and pool checkout each, and every answer is still its own: the
    registered units are admitted, the unknown ones refused and put on the pending list with their details."""
    api = app_api
    h = await login(api, "admin")
    port = api.app.state.ingest.jt808.port
    known = [f"01770000{k:04d}" for k in range(5)]
    for k, phone in enumerate(known):
        await _unit(api, f"沪-车队-{k}", "jt808", phone)
    unknown = [f"01780000{k:04d}" for k in range(35)]
    assert (await api.put("/api/v1/admission/policy/jt808", headers=h, json={"mode": "pending"})).status_code == 200
    look_ups = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "FROM unnest" in statement and "admission_policy" in statement:
            look_ups.append(len(parameters[0]) if parameters and isinstance(parameters[0], list) else 1)

    engine = api.app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        terminals = [await connect(port, phone) for phone in known + unknown]
        results = await asyncio.gather(*(_register(t) for t in terminals))
    finally:
        event.remove(engine, "before_cursor_execute", count)
        for t in terminals:
            t.writer.close()
        await api.put("/api/v1/admission/policy/jt808", headers=h, json={"mode": "registered"})
    assert [r[0] for r in results] == [m.REGISTERED] * len(known) + [m.NO_TERMINAL] * len(unknown)
    assert 1 <= len(look_ups) < len(known + unknown) / 4, look_ups
    r = await api.get("/api/v1/admission/pending", headers=h, params={"protocol": "jt808"})
    listed = {x["external_id"]: x for x in r.json()}
    assert set(unknown) <= set(listed) and not set(known) & set(listed)
    assert all(listed[p]["detail"]["model"] == "MODEL-X" for p in unknown)


async def test_osmand_devices_follow_the_same_rule(app_api, demo_db):
    api = app_api
    h = await login(api, "admin")
    q = {"id": "phone-new", "lat": LAT, "lon": LON, "timestamp": int((NOW - timedelta(seconds=5)).timestamp())}
    r = await api.get("/ingest/osmand", params=q)
    assert r.status_code == 403 and r.json()["error"]["code"] == "device_not_admitted"
    assert "not registered" in r.json()["error"]["message"]
    assert (await api.put("/api/v1/admission/policy/osmand", headers=h, json={"mode": "pending"})).status_code == 200
    r = await api.get("/ingest/osmand", params=q)
    assert r.status_code == 403 and "approval" in r.json()["error"]["message"]
    (p,) = [x for x in (await api.get("/api/v1/admission/pending", headers=h)).json()
            if x["external_id"] == "phone-new"]
    r = await api.post(f"/api/v1/admission/pending/{p['id']}/reject", headers=h, json={"reason": "unknown phone"})
    assert r.status_code == 204
    r = await api.get("/ingest/osmand", params=q)
    assert r.status_code == 403 and "rejected" in r.json()["error"]["message"]
    rejected = (await api.get("/api/v1/admission/pending", headers=h, params={"status": "rejected"})).json()
    assert [x["external_id"] for x in rejected if x["id"] == p["id"]] == ["phone-new"]
    assert _sql(demo_db, "SELECT count(*) FROM target WHERE external_id = 'phone-new'") == [(0,)]
    # who may: manage_devices only; bad values are 422 and change nothing
    other = await login(api, "dispatcher")
    assert (await api.get("/api/v1/admission/pending", headers=other)).status_code == 403
    assert (await api.put("/api/v1/admission/policy/osmand", headers=other,
                          json={"mode": "registered"})).status_code == 403
    assert (await api.put("/api/v1/admission/policy/smtp", headers=h, json={"mode": "pending"})).status_code == 422
    assert (await api.put("/api/v1/admission/policy/osmand", headers=h, json={"mode": "open"})).status_code == 422
    r = await api.put("/api/v1/admission/policy/osmand", headers=h, json={"mode": "registered"})
    assert r.status_code == 200 and r.json()["osmand"] == "registered"


# -- OsmAnd and the batch API: refused with a reason, never silently dropped --------------------------

async def test_osmand_root_without_id_is_400_and_pathological_bodies_are_4xx(app_api):
    api = app_api
    r = await api.get("/", params={"lat": LAT, "lon": LON})  # a report, not a browser: no web page as "success"
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("device id is missing")
    nested = b"[" * 100_000 + b"]" * 100_000
    for path in ("/", "/ingest/osmand"):
        r = await api.post(path, content=nested, headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500, (path, r.status_code)
    r = await api.post("/api/v1/positions", content=nested, headers={**await login(api, "admin"),
                                                                     "content-type": "application/json"})
    assert 400 <= r.status_code < 500


async def test_batch_counts_duplicates_apart_and_stores_old_fixes(app_api, demo_db):
    api = app_api
    h = await login(api, "admin")
    t0 = NOW - timedelta(minutes=5)
    items = [{"target": "dup-1", "time": (t0 + timedelta(seconds=i)).isoformat(), "lon": LON, "lat": LAT}
             for i in range(3)]
    items.append(dict(items[1]))  # the same target and time again
    items.append({"target": "dup-1", "time": (NOW - timedelta(days=45)).isoformat(), "lon": LON, "lat": LAT})
    items.append({"target": "dup-1", "time": (NOW + timedelta(days=1)).isoformat(), "lon": LON, "lat": LAT})
    r = await api.post("/api/v1/positions", headers=h, json=items)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["received"], body["accepted"], body["duplicates"]) == (6, 4, 1)
    assert body["duplicate_items"] == [{"index": 3, "duplicate_of": 1}]
    assert [(x["index"], x["reason"]) for x in body["rejected"]] == [(5, "time_in_future")]
    assert _sql(demo_db, "SELECT count(*) FROM position p JOIN target t ON t.id = p.target_id "
                         "WHERE t.protocol = 'api' AND t.external_id = 'dup-1'") == [(4,)]
