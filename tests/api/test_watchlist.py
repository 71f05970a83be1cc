"""Watchlists (布控) over real uploads: a simulated checkpoint (tests/viid_peer.py) sends passes; an entry that
catches one opens a ``watchlist`` incident at the checkpoint, none for another plate, an expired or
cancelled entry, or a pass outside the entry's area; entries are set, seen and cancelled only within the
caller's divisions and audited; the stored image is served only to callers who may see a record of it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text

from app.config import Settings
from app.db.engine import make_engine
from tests.conftest import login
from tests.viid_peer import ViidPeer, jpeg, statuses, tollgate, vehicle
from tests.waiting import async_wait_for

DEVICE = "99010100001190000007"
PASSWORD = "viid-watch-pass-1"
GATE = "99010100001210000007"
PW = "watch-password-1"


@pytest_asyncio.fixture(scope="module")
async def api(demo_db: str, tmp_path_factory):
    from app.api.main import create_app

    images = tmp_path_factory.mktemp("viid-watch-images")
    app = create_app(Settings(demo_mode=False, secret_key="watch-test-secret-" + "x" * 20, viid_image_dir=images),
                     demo_db)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.9.8.9", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest_asyncio.fixture(scope="module")
async def db(demo_db: str):
    engine = make_engine(demo_db)
    yield engine
    await engine.dispose()


async def q(db, sql: str, **params) -> list[dict]:
    async with db.begin() as conn:
        result = await conn.execute(text(sql), params)
        return [dict(r) for r in result.mappings()] if result.returns_rows else []


@pytest_asyncio.fixture(scope="module")
async def users(api) -> dict[str, dict]:
    """Dispatchers of the North-West (990101) and North-East (990102) districts, and a planner."""
    adm = await login(api, "admin")
    for name, role, div in (("disp_nw", "dispatcher", "990101"), ("disp_ne", "dispatcher", "990102"),
                            ("plan_nw", "planner", "990101")):
        r = await api.post("/api/v1/users", headers=adm, json={"username": name, "password": PW, "role": role,
                                                                "division_code": div})
        assert r.status_code == 201, r.text
    return {"admin": adm, "city": await login(api, "dispatcher"),
            **{n: await login(api, n, PW) for n in ("disp_nw", "disp_ne", "plan_nw")}}


@pytest_asyncio.fixture(scope="module")
async def peer(api) -> ViidPeer:
    """A checkpoint camera of district 990101 describing its checkpoint."""
    adm = await login(api, "admin")
    r = await api.post("/api/v1/devices", headers=adm, json={
        "gb_id": DEVICE, "name": "卡口 7", "division_code": "990101", "password": PASSWORD, "kind": "ipc"})
    assert r.status_code == 201, r.text
    p = ViidPeer(api, DEVICE, PASSWORD)
    _, ok = await p.register()
    assert ok is not None and ok.status_code == 200, ok and ok.text
    r = await p.tollgates([tollgate(GATE, "西门卡口", 24.94, 60.17, "990101")])
    assert [s["StatusCode"] for s in statuses(r)] == [0], r.text
    return p


_N = iter(range(1, 10_000))


async def upload(peer: ViidPeer, plate: str, image: bytes | None = None, **extra) -> str:
    at = datetime.now(UTC) - timedelta(seconds=5)
    rid = peer.record_id(next(_N), at)
    r = await peer.motor_vehicles([vehicle(rid, plate, GATE, at, device=DEVICE, image=image, **extra)])
    assert [s["StatusCode"] for s in statuses(r)] == [0], r.text
    return rid


def entry(plate: str, area: list[str], *, hours: float = 2, start: float = 0, **extra) -> dict:
    now = datetime.now(UTC)
    return {"plate": plate, "reason": "被盗车辆 stolen vehicle", "area": area,
            "valid_from": (now + timedelta(hours=start)).isoformat(),
            "valid_until": (now + timedelta(hours=start + hours)).isoformat(), **extra}


async def watchlist_incidents(db, plate: str) -> list[dict]:
    return await q(db, "SELECT i.id, i.type, i.priority, i.division_code, i.source, i.description, "
                       "ST_X(i.location) AS lon, ST_Y(i.location) AS lat, h.entry_id, h.image_sha256, h.direction "
                       "FROM incident i JOIN watchlist_hit h ON h.incident_id = i.id WHERE h.plate_no = :p "
                       "ORDER BY i.id", p=plate)


async def test_crud_is_scoped_and_audited(api, users, db):
    r = await api.post("/api/v1/watchlists", headers=users["disp_nw"], json=entry("京W1000?", ["990101"]))
    assert r.status_code == 201, r.text
    e = r.json()
    assert e["plate"] == "京W1000?" and e["area"] == ["990101"] and e["active"] and e["owner_name"] == "disp_nw"
    # Not within the caller's divisions: refused; a wider dispatcher sees it, a neighbour does not.
    r = await api.post("/api/v1/watchlists", headers=users["disp_nw"], json=entry("京W2000?", ["990101", "990102"]))
    assert r.status_code == 403, r.text
    ids = lambda r: [x["id"] for x in r.json()["items"]]  # noqa: E731
    assert e["id"] in ids(await api.get("/api/v1/watchlists", headers=users["city"]))
    assert e["id"] in ids(await api.get("/api/v1/watchlists", headers=users["disp_nw"]))
    assert e["id"] not in ids(await api.get("/api/v1/watchlists", headers=users["disp_ne"]))
    assert (await api.get(f"/api/v1/watchlists/{e['id']}", headers=users["disp_ne"])).status_code == 404
    assert (await api.delete(f"/api/v1/watchlists/{e['id']}", headers=users["disp_ne"])).status_code == 404
    assert (await api.get("/api/v1/watchlists", headers=users["plan_nw"])).status_code == 403
    # Cancelled by its owner: kept, inactive, gone from the active list.
    r = await api.delete(f"/api/v1/watchlists/{e['id']}", headers=users["disp_nw"], params={"reason": "found"})
    assert r.status_code == 200 and r.json()["cancelled_by"] == "disp_nw" and not r.json()["active"], r.text
    assert e["id"] not in ids(await api.get("/api/v1/watchlists", headers=users["disp_nw"]))
    assert e["id"] in ids(await api.get("/api/v1/watchlists", headers=users["disp_nw"],
                                        params={"active_only": "false"}))
    rows = await q(db, "SELECT action, actor_name, reason, divisions, detail FROM audit_event "
                       "WHERE object_type = 'watchlist' AND object_id = :i ORDER BY id", i=str(e["id"]))
    assert [(x["action"], x["actor_name"]) for x in rows] == [("watchlist_set", "disp_nw"),
                                                              ("watchlist_cancel", "disp_nw")]
    assert rows[0]["reason"] == "被盗车辆 stolen vehicle" and "990101" in rows[0]["divisions"]
    assert rows[0]["detail"]["plate"] == "京W1000?" and rows[1]["reason"] == "found"


@pytest.mark.parametrize("body", [
    {"plate": "京*"},  # too few known characters
    {"plate": "京W<1>"},  # not a plate
    {"reason": "  "},
    {"reason": None},
    {"area": []},
    {"area": ["12"]},
    {"area": ["990199"]},  # no such division
    {"vehicle_color": "红 色"},
    {"valid_until": "2020-01-01T00:00:00+00:00"},  # before valid_from
    {"valid_until": "2030-01-01T00:00:00"},  # no time zone
    {"priority": 9},
    {"extra": 1},
])
async def test_bad_input_is_4xx(api, users, body):
    r = await api.post("/api/v1/watchlists", headers=users["admin"], json=entry("京W3000?", ["990101"]) | body)
    assert 400 <= r.status_code < 500, r.text
    assert (await api.delete("/api/v1/watchlists/0", headers=users["admin"])).status_code == 422
    assert (await api.get("/api/v1/watchlists", headers=users["admin"], params={"limit": 0})).status_code == 422


async def test_a_matching_pass_raises_a_watchlist_incident(api, users, peer, db):
    r = await api.post("/api/v1/watchlists", headers=users["disp_nw"],
                       json=entry("京W4*5", ["990101"], vehicle_color="a", priority=1))
    assert r.status_code == 201, r.text
    e = r.json()
    img = jpeg(20_000, seed=41)
    rid = await upload(peer, "京W41235", image=img)
    incs = await async_wait_for(lambda: watchlist_incidents(db, "京W41235"), timeout=10, what="the alarm")
    assert len(incs) == 1
    inc = incs[0]
    assert inc["type"] == "watchlist" and inc["priority"] == 1 and inc["division_code"] == "990101"
    assert inc["source"] == "viid" and inc["entry_id"] == e["id"] and inc["direction"] == "1"
    assert (inc["lon"], inc["lat"]) == (pytest.approx(24.94), pytest.approx(60.17))  # at the checkpoint
    assert inc["image_sha256"] == hashlib.sha256(img).hexdigest()
    # On the incident path: the console's list, with its type named in both languages.
    got = (await api.get(f"/api/v1/incidents/{inc['id']}", headers=users["disp_nw"])).json()["properties"]
    assert (got["type_zh"], got["type_en"]) == ("布控预警", "Watchlist alarm") and "京W41235" in got["description"]
    assert (await api.get(f"/api/v1/incidents/{inc['id']}/recommend", headers=users["disp_nw"])).status_code == 200
    # Its details: the pass, the image, the entry; as the incident, in its division only.
    r = await api.get(f"/api/v1/watchlists/alarms/{inc['id']}", headers=users["disp_nw"])
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["entry_id"], d["record_id"], d["plate_no"], d["direction"]) == (e["id"], rid, "京W41235", "1")
    assert d["image_sha256"] == inc["image_sha256"] and d["tollgate_name"] == "西门卡口"
    assert (await api.get(f"/api/v1/watchlists/alarms/{inc['id']}", headers=users["disp_ne"])).status_code == 404
    assert (await api.get("/api/v1/watchlists/alarms/2000000000", headers=users["admin"])).status_code == 404
    # Sent again (a lost answer): no second alarm.
    again = await peer.motor_vehicles([vehicle(rid, "京W41235", GATE, datetime.now(UTC), device=DEVICE)])
    assert [s["StatusCode"] for s in statuses(again)] == [0]
    # Another plate, another colour: nothing.
    await upload(peer, "京W46666")
    await upload(peer, "京W4555", VehicleColor="B")
    assert len(await watchlist_incidents(db, "京W41235")) == 1
    assert await watchlist_incidents(db, "京W46666") == [] and await watchlist_incidents(db, "京W4555") == []


async def test_expired_cancelled_future_or_elsewhere_raise_nothing(api, users, peer, db):
    city = users["city"]
    made = [await api.post("/api/v1/watchlists", headers=city, json=body) for body in (
        entry("京W50001", ["990101"], start=-3, hours=1),  # expired
        entry("京W50002", ["990102"]),  # the pass is filed in 990101
        entry("京W50003", ["990101"], start=1),  # not yet valid
        entry("京W50004", ["990101"]))]  # cancelled below
    assert [r.status_code for r in made] == [201] * 4, [r.text for r in made]
    await upload(peer, "京W50004")  # loads this process's active entries while the fourth is still set
    assert len(await watchlist_incidents(db, "京W50004")) == 1
    r = await api.delete(f"/api/v1/watchlists/{made[3].json()['id']}", headers=city)
    assert r.status_code == 200, r.text
    for plate in ("京W50001", "京W50002", "京W50003", "京W50004"):
        await upload(peer, plate)
    for plate in ("京W50001", "京W50002", "京W50003"):
        assert await watchlist_incidents(db, plate) == [], plate
    assert len(await watchlist_incidents(db, "京W50004")) == 1  # the one before the cancel


async def test_image_is_served_in_scope_only_and_audited(api, users, peer, db):
    img = jpeg(12_000, seed=77)
    await upload(peer, "京W60001", image=img)
    sha = hashlib.sha256(img).hexdigest()
    url = f"/api/v1/viid/images/{sha}"
    r = await api.get(url, headers=users["disp_nw"])
    assert r.status_code == 200 and r.content == img, r.text
    assert r.headers["content-type"] == "image/jpeg" and r.headers["cache-control"].startswith("private")
    assert (await api.get(url, headers=users["disp_ne"])).status_code == 404  # out of scope: not told it exists
    assert (await api.get(url, headers=users["plan_nw"])).status_code == 403  # no view_recordings
    assert (await api.get(url)).status_code == 401
    assert (await api.get(f"/api/v1/viid/images/{'0' * 64}", headers=users["admin"])).status_code == 404
    assert (await api.get("/api/v1/viid/images/not-a-hash", headers=users["admin"])).status_code == 422
    assert (await api.get(f"/api/v1/viid/images/{sha.upper()}", headers=users["admin"])).status_code == 422
    rows = await q(db, "SELECT actor_name, divisions FROM audit_event WHERE action = 'viid_image_view' "
                       "AND object_id = :s", s=sha)
    assert [x["actor_name"] for x in rows] == ["disp_nw"] and "990101" in rows[0]["divisions"]
