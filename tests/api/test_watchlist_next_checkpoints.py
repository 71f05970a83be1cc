"""Interception at the next checkpoints: a watchlist alarm's details list the checkpoints the vehicle is likely
to pass next, from real uploads (tests/viid_peer.py) on the demo city's roads: those traffic from the hit's
checkpoint was seen going to first (by how often), then the nearest by driving time (pgRouting), never the
hit's own checkpoint nor one beyond the bound, and only checkpoints in the caller's divisions; at each, the
free units of the caller's divisions that get there by road before the vehicle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest_asyncio
from sqlalchemy import text

from tests.api.test_watchlist import api, db  # noqa: F401  (fixtures: the app in-process, the database)
from tests.conftest import login
from tests.viid_peer import ViidPeer, statuses, tollgate, vehicle
from tests.waiting import async_wait_for

PW = "next-gate-password-1"
NW_DEVICE, NE_DEVICE = "99010100001190000041", "99010200001190000042"
DEVICE_PASSWORD = "viid-next-pass-1"
A, B, C, FAR = (f"9901010000121000004{i}" for i in range(1, 5))
D = "99010200001210000045"  # the neighbouring district's


async def peer_of(client, device: str, division: str, gates: list[dict]) -> ViidPeer:
    adm = await login(client, "admin")
    r = await client.post("/api/v1/devices", headers=adm, json={
        "gb_id": device, "name": f"卡口 {device[-2:]}", "division_code": division, "password": DEVICE_PASSWORD,
        "kind": "ipc"})
    assert r.status_code == 201, r.text
    p = ViidPeer(client, device, DEVICE_PASSWORD)
    _, ok = await p.register()
    assert ok is not None and ok.status_code == 200, ok and ok.text
    assert [s["StatusCode"] for s in statuses(await p.tollgates(gates))] == [0] * len(gates)
    return p


@pytest_asyncio.fixture(scope="module")
async def world(api) -> dict:  # noqa: F811
    """Checkpoints A (the hit's), B 300 m and C 600 m away, FAR 25 km away in 990101, D in 990102 beside A;
    history: three plates seen at A then C, one at A then B."""
    nw = await peer_of(api, NW_DEVICE, "990101", [
        tollgate(A, "A 卡口", 24.940, 60.170, "990101"), tollgate(B, "B 卡口", 24.945, 60.171, "990101"),
        tollgate(C, "C 卡口", 24.9505, 60.171, "990101"), tollgate(FAR, "远处卡口", 24.50, 60.30, "990101")])
    ne = await peer_of(api, NE_DEVICE, "990102", [tollgate(D, "D 卡口", 24.943, 60.172, "990102")])
    t0 = datetime.now(UTC) - timedelta(hours=2)
    n = iter(range(1, 1000))
    trips = [("京H00001", C), ("京H00002", C), ("京H00003", C), ("京H00004", B)]
    for i, (plate, then) in enumerate(trips):
        at = t0 + timedelta(minutes=10 * i)
        later = at + timedelta(minutes=4)
        for when, gate in ((at, A), (later, then)):
            r = await nw.motor_vehicles([vehicle(nw.record_id(next(n), when), plate, gate, when, device=NW_DEVICE)])
            assert [s["StatusCode"] for s in statuses(r)] == [0], r.text
    adm = await login(api, "admin")
    r = await api.post("/api/v1/users", headers=adm, json={"username": "next_nw", "password": PW,
                                                            "role": "dispatcher", "division_code": "990101"})
    assert r.status_code == 201, r.text
    # Free patrol cars: one waiting at B, one 4 km away, one of the other district at B too.
    for callsign, division, phone, (x, y) in (("巡B", "990101", "next-car-1", (24.9451, 60.1711)),
                                              ("巡远", "990101", "next-car-2", (25.01, 60.19)),
                                              ("东巡B", "990102", "next-car-3", (24.9451, 60.1711))):
        r = await api.post("/api/v1/units", headers=adm, json={
            "callsign": callsign, "kind": "patrol_car", "division_code": division,
            "tracker": {"protocol": "osmand", "external_id": phone}})
        assert r.status_code == 201, r.text
        r = await api.get("/ingest/osmand", params={"id": phone, "lat": y, "lon": x,
                                                    "timestamp": int(datetime.now(UTC).timestamp())})
        assert r.status_code == 200, r.text
    return {"nw_peer": nw, "ne_peer": ne, "n": n, "nw": await login(api, "next_nw", PW),
            "city": await login(api, "dispatcher")}


async def units_placed(engine) -> bool:
    """The units' last positions are refreshed from their fixes about once a second."""
    async with engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT count(*) FROM unit u JOIN target t ON t.id = u.target_id "
            "WHERE u.callsign IN ('巡B', '巡远', '东巡B') AND t.last_location IS NOT NULL"))).scalar() == 3


async def test_alarm_lists_the_next_checkpoints_in_scope(api, db, world):  # noqa: F811
    await async_wait_for(lambda: units_placed(db), interval=0.2, timeout=30, what="the units' positions")
    now = datetime.now(UTC)
    r = await api.post("/api/v1/watchlists", headers=world["nw"], json={
        "plate": "京H99999", "reason": "在逃车辆", "area": ["990101"],
        "valid_until": (now + timedelta(hours=1)).isoformat()})
    assert r.status_code == 201, r.text
    peer = world["nw_peer"]
    at = now - timedelta(seconds=3)
    up = await peer.motor_vehicles([vehicle(peer.record_id(next(world["n"]), at), "京H99999", A, at, device=NW_DEVICE)])
    assert [s["StatusCode"] for s in statuses(up)] == [0], up.text

    async def incident() -> int | None:
        async with db.connect() as conn:
            return (await conn.execute(text("SELECT incident_id FROM watchlist_hit WHERE plate_no = '京H99999' "
                                            "AND incident_id IS NOT NULL"))).scalar()
    inc = await async_wait_for(incident, timeout=10, what="the alarm")

    r = await api.get(f"/api/v1/watchlists/alarms/{inc}", headers=world["nw"])
    assert r.status_code == 200, r.text
    nxt = r.json()["next_checkpoints"]
    # C first (three vehicles went there from A), then B (one); D is another district's, FAR out of reach.
    assert [x["tollgate_id"] for x in nxt] == [C, B], nxt
    assert [x["seen_next"] for x in nxt] == [3, 1] and [x["name"] for x in nxt] == ["C 卡口", "B 卡口"]
    assert all(0 < x["eta_s"] < 20 * 60 for x in nxt), nxt
    # Who gets there first: the car waiting at B (not the far one, not the other district's).
    assert [[u["callsign"] for u in x["units"]] for x in nxt] == [[], ["巡B"]], nxt
    assert nxt[1]["units"][0]["eta_s"] < nxt[1]["eta_s"]
    # The city's dispatcher sees D too, after the two with history (by driving time, it is the nearest).
    r = await api.get(f"/api/v1/watchlists/alarms/{inc}", headers=world["city"])
    city = r.json()["next_checkpoints"]
    assert [x["tollgate_id"] for x in city] == [C, B, D]
    assert sorted(u["callsign"] for u in city[1]["units"]) == ["东巡B", "巡B"]
