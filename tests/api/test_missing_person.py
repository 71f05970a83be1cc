"""Missing person search (POST /api/v1/missing-person/search) on the demo city with real PostGIS and
pgRouting: cameras by earliest arrival along the streets, the reach bounded, a scoped user's cut, the
person/face records of the cameras' devices in each window, the audit row, and bad input as 422."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest_asyncio
from sqlalchemy import text

from app.config import Settings
from app.db.engine import make_engine
from tests.conftest import login

API = "/api/v1/missing-person/search"
X0, Y0 = 24.9420, 60.1700  # central Helsinki, on the demo city's streets
REASON = "走失老人 2026-0412 家属报警"


@pytest_asyncio.fixture(scope="module")
async def client(demo_db: str):
    from app.api.main import create_app

    app = create_app(Settings(demo_mode=True), demo_db)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.9.8.7", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as c:
            yield c


@pytest_asyncio.fixture(scope="module")
async def db(demo_db: str):
    engine = make_engine(demo_db)
    yield engine
    await engine.dispose()


def body(minutes: float = 30, **extra) -> dict:
    seen = datetime.now(UTC) - timedelta(minutes=minutes)
    return {"lon": X0, "lat": Y0, "last_seen": seen.isoformat(), "reason": REASON, **extra}


async def test_cameras_by_arrival_bounded_and_with_records(client, db):
    adm = await login(client, "admin")
    r = await client.post(API, headers=adm, json=body(30))
    assert r.status_code == 200, r.text
    out = r.json()
    cams = out["cameras"]
    assert out["reach_m"] > 2000 and out["area"]["type"] == "MultiLineString" and len(cams) >= 3
    arrivals = [c["arrival_m"] for c in cams]
    assert arrivals == sorted(arrivals) and max(arrivals) <= out["reach_m"]
    assert [c["start"] for c in cams] == sorted(c["start"] for c in cams)
    for c in cams:  # the demo's cameras are not GB/T 28181 channels: listed, not asked, no error
        assert c["state"] in ("not_recording_device", "no_answer", "answered")
        seen = datetime.fromisoformat(out["last_seen"])
        assert abs((datetime.fromisoformat(c["start"]) - seen).total_seconds() - c["arrival_m"] / 1.4) < 1.5
    # A smaller reach (between two arrivals): the far cameras drop out, the near ones stay, same arrivals.
    k = next(i for i in range(len(arrivals) // 2, len(arrivals) - 1) if arrivals[i] < arrivals[i + 1])
    cut = (arrivals[k] + arrivals[k + 1]) / 2
    near = [a for a in arrivals if a <= cut]
    far = {c["camera_id"] for c in cams if c["arrival_m"] > cut}
    assert far
    r = await client.post(API, headers=adm, json=body(30, max_radius_m=cut))
    assert r.status_code == 200, r.text
    small = r.json()["cameras"]
    assert not {c["camera_id"] for c in small} & far
    assert [c["arrival_m"] for c in small] == near

    # Person/face records: one of the first camera's device in its window, one before it, one elsewhere.
    first = cams[0]
    assert first["gb_id"]
    at = datetime.fromisoformat(first["start"]) + timedelta(seconds=30)
    async with db.begin() as conn:
        for rec, shot, dev in (("MP-IN", at, first["gb_id"]),
                               ("MP-EARLY", datetime.fromisoformat(out["last_seen"]) - timedelta(hours=2),
                                first["gb_id"]),
                               ("MP-OTHER", at, "99999999991190000001")):
            await conn.execute(text(
                "INSERT INTO viid_object (kind, record_id, device_id, uploaded_by, division_code, shot_time, images)"
                " VALUES ('face', :rid, :dev, '99999999991190000001', :div, :at, CAST(:img AS jsonb))"),
                {"rid": rec, "dev": dev, "div": first["division_code"], "at": shot,
                 "img": '[{"type": "14", "format": "Jpeg", "sha256": "' + "a" * 64 + '", "bytes": 10}]'})
    r = await client.post(API, headers=adm, json=body(30))
    got = {c["camera_id"]: c for c in r.json()["cameras"]}
    recs = got[first["camera_id"]]["records"]
    assert [x["record_id"] for x in recs] == ["MP-IN"] and recs[0]["images"][0]["sha256"] == "a" * 64
    assert all(not c["records"] for cid, c in got.items() if cid != first["camera_id"] and c["gb_id"] !=
               first["gb_id"])

    async with db.connect() as conn:
        row = (await conn.execute(text(
            "SELECT actor_name, reason, detail, divisions FROM audit_event WHERE action = 'missing_person_search' "
            "ORDER BY id DESC LIMIT 1"))).first()
    assert row.actor_name == "admin" and row.reason == REASON
    assert row.detail["cameras"] == list(got) and row.detail["records"] == 1
    assert first["division_code"] in row.divisions


async def test_scoped_user_gets_only_their_division(client):
    adm = await login(client, "admin")
    everything = (await client.post(API, headers=adm, json=body(30))).json()["cameras"]
    divisions = sorted({c["division_code"] for c in everything})
    assert len(divisions) >= 2, divisions
    mine = divisions[0]
    r = await client.post("/api/v1/users", headers=adm, json={
        "username": "mp_scoped", "password": "mp-scoped-password-1", "role": "dispatcher", "division_code": mine})
    assert r.status_code == 201, r.text
    h = await login(client, "mp_scoped", "mp-scoped-password-1")
    r = await client.post(API, headers=h, json=body(30))
    assert r.status_code == 200, r.text
    cams = r.json()["cameras"]
    assert cams and {c["division_code"] for c in cams} == {mine}
    # The admin's cameras of that division all remain (the list is cut by arrival: the scoped one has fewer
    # rivals, so it may reach further into the division), the other divisions' are gone.
    assert {c["camera_id"] for c in everything if c["division_code"] == mine} <= {c["camera_id"] for c in cams}


async def test_bad_input_is_422(client):
    adm = await login(client, "admin")
    now = datetime.now(UTC)
    bad = [
        {k: v for k, v in body().items() if k != "reason"},
        body(reason="   "),
        body(until=(now - timedelta(hours=2)).isoformat()),
        body(lon=200),
        body(speed_ms=0),
        body(last_seen="2026-12-01T08:00:00"),  # no time zone
        body(last_seen=(now + timedelta(hours=1)).isoformat()),
        body(lon=0.0, lat=0.0),  # no street anywhere near
        body(minutes=60 * 24 * 5),  # beyond the longest search
        body(extra_field=1),
    ]
    for b in bad:
        r = await client.post(API, headers=adm, json=b)
        assert r.status_code == 422, (b, r.status_code, r.text)


async def test_devices_that_cannot_answer_are_listed_as_such(client, db):
    adm = await login(client, "admin")
    cams = (await client.post(API, headers=adm, json=body(10))).json()["cameras"]
    offline, unregistered = cams[1]["camera_id"], cams[2]["camera_id"]
    async with db.begin() as conn:  # two GB/T 28181 channels: one offline, one whose device never registered
        await conn.execute(text("UPDATE camera SET source = 'gb28181', status = 'offline' WHERE id = :i"),
                           {"i": offline})
        await conn.execute(text("UPDATE camera SET source = 'gb28181' WHERE id = :i"), {"i": unregistered})
    r = await client.post(API, headers=adm, json=body(10))
    assert r.status_code == 200, r.text
    got = {c["camera_id"]: c for c in r.json()["cameras"]}
    assert got[offline]["state"] == "no_answer" and "offline" in got[offline]["reason"]
    assert got[unregistered]["state"] == "no_answer" and got[unregistered]["reason"]
    assert got[cams[0]["camera_id"]]["state"] == "not_recording_device"
