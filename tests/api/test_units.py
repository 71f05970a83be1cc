"""Patrol units registered by an administrator: tracker and officer links, duty, removal, refusals, audit.

End to end: a unit registered with a phone's device id is accepted when the phone reports over OsmAnd,
and the dispatcher then gets it recommended for an incident nearby.
"""

from datetime import UTC, datetime

import psycopg

from tests.conftest import login
from tests.waiting import async_wait_for

X0, Y0 = 24.9420, 60.1700  # a quiet corner of the demo city (central Helsinki)


def _count(demo_db: str, sql: str, *args) -> int:
    with psycopg.connect(demo_db, autocommit=True) as conn:
        return conn.execute(sql, args).fetchone()[0]


async def test_register_a_unit_its_phone_reports_and_it_is_recommended(api, demo_db):
    admin = await login(api, "admin")
    r = await api.post("/api/v1/units", headers=admin, json={
        "callsign": "步巡7", "kind": "officer", "division_code": "990100",
        "tracker": {"protocol": "osmand", "external_id": "unit-phone-7"}})
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    listed = {u["id"]: u for u in (await api.get("/api/v1/units", headers=admin)).json()}
    assert listed[uid]["callsign"] == "步巡7" and listed[uid]["status"] == "available" and listed[uid]["stale"]

    # The phone was registered with the unit: its first report is accepted (an unknown device gets 403).
    now = datetime.now(UTC)
    r = await api.get("/ingest/osmand", params={"id": "unit-phone-7", "lat": Y0, "lon": X0,
                                                "timestamp": int(now.timestamp())})
    assert r.status_code == 200, r.text
    assert (await api.get("/ingest/osmand", params={"id": "nobody-9", "lat": Y0, "lon": X0})).status_code == 403

    inc = await api.post("/api/v1/incidents", headers=admin, json={"type": "theft", "lon": X0 + 0.0004, "lat": Y0})
    iid = inc.json()["id"]

    async def recommended() -> dict | None:
        rec = (await api.get(f"/api/v1/incidents/{iid}/recommend", headers=await login(api, "dispatcher"),
                             params={"kind": "officer"})).json()
        return rec if any(u["unit_id"] == uid for u in rec["recommended"]) else None

    # the unit's last position is refreshed from its fixes about once a second
    rec = await async_wait_for(recommended, interval=0.2, what="the unit recommended")
    assert [u["unit_id"] for u in rec["recommended"]] == [uid]

    # Off duty: no longer recommended; back on duty: recommended again.
    assert (await api.patch(f"/api/v1/units/{uid}", headers=admin, json={"status": "off_duty"})).status_code == 204
    rec = (await api.get(f"/api/v1/incidents/{iid}/recommend", headers=admin, params={"kind": "officer"})).json()
    assert rec["recommended"] == []
    assert (await api.patch(f"/api/v1/units/{uid}", headers=admin, json={"status": "available"})).status_code == 204

    # Dispatched: its duty cannot be changed, and a unit with dispatch history cannot be removed.
    r = await api.post(f"/api/v1/incidents/{iid}/dispatch", headers=admin, json={"unit_ids": [uid]})
    assert r.status_code == 201, r.text
    r = await api.patch(f"/api/v1/units/{uid}", headers=admin, json={"status": "off_duty"})
    assert r.status_code == 409 and "dispatch" in r.text
    assert (await api.delete(f"/api/v1/units/{uid}", headers=admin)).status_code == 409

    log = (await api.get("/api/v1/audit", params={"object_type": "unit"}, headers=await login(api, "auditor"))).json()
    assert {e["action"] for e in log["items"]} >= {"unit_create", "unit_update"}


async def test_links_refusals_and_removal(api, demo_db):
    admin = await login(api, "admin")
    units_before = _count(demo_db, "SELECT count(*) FROM unit")
    bad = [
        ({"callsign": "x", "kind": "tank", "division_code": "990100"}, 422),
        ({"callsign": "x", "division_code": "99"}, 422),
        ({"callsign": "x", "division_code": "990199"}, 404),  # well formed, but no such division
        ({"callsign": "", "division_code": "990100"}, 422),
        ({"callsign": "x", "division_code": "990100", "tracker": {"protocol": "pigeon", "external_id": "1"}}, 422),
        ({"callsign": "x", "division_code": "990100", "tracker": {"protocol": "osmand", "external_id": "a b"}}, 422),
        ({"callsign": "x", "division_code": "990100", "officer": "nobody"}, 422),
    ]
    for body, status in bad:
        r = await api.post("/api/v1/units", headers=admin, json=body)
        assert r.status_code == status, (body, r.text)
        assert "error" in r.json()
    r = await api.post("/api/v1/units", headers=await login(api, "dispatcher"),
                       json={"callsign": "x", "division_code": "990100"})
    assert r.status_code == 403
    assert _count(demo_db, "SELECT count(*) FROM unit") == units_before  # nothing refused was written

    terminal = {"protocol": "jt808", "external_id": "013800138000"}
    a = await api.post("/api/v1/units", headers=admin, json={"callsign": "巡逻A", "division_code": "990100",
                                                               "tracker": terminal})
    b = await api.post("/api/v1/units", headers=admin, json={"callsign": "巡逻B", "division_code": "990100"})
    assert a.status_code == b.status_code == 201
    ua, ub = a.json()["id"], b.json()["id"]
    # A callsign, a tracker or an officer belongs to one unit.
    assert (await api.patch(f"/api/v1/units/{ua}", headers=admin, json={"officer": "officer"})).status_code == 204
    r = await api.patch(f"/api/v1/units/{ub}", headers=admin, json={"officer": "officer"})
    assert r.status_code == 409 and "巡逻A" in r.text
    r = await api.post("/api/v1/units", headers=admin, json={"callsign": "巡逻A", "division_code": "990100"})
    assert r.status_code == 409 and "callsign" in r.text
    r = await api.patch(f"/api/v1/units/{ub}", headers=admin, json={"tracker": terminal})
    assert r.status_code == 409 and "tracker" in r.text
    assert (await api.patch(f"/api/v1/units/{ub}", headers=admin, json={"status": "assigned"})).status_code == 422
    assert (await api.patch(f"/api/v1/units/{ub}", headers=admin, json={"callsign": None})).status_code == 422
    # Moving the tracker: unlink it from A, link it to B (the same target, so its track follows).
    target = _count(demo_db, "SELECT target_id FROM unit WHERE id = %s", ua)
    assert (await api.patch(f"/api/v1/units/{ua}", headers=admin, json={"tracker": None})).status_code == 204
    assert (await api.patch(f"/api/v1/units/{ub}", headers=admin, json={"tracker": terminal})).status_code == 204
    assert _count(demo_db, "SELECT target_id FROM unit WHERE id = %s", ub) == target
    # Never dispatched: removed; its tracker (and any track) stays.
    assert (await api.delete(f"/api/v1/units/{ub}", headers=admin)).status_code == 204
    assert (await api.delete(f"/api/v1/units/{ub}", headers=admin)).status_code == 404
    assert _count(demo_db, "SELECT count(*) FROM target WHERE id = %s", target) == 1
