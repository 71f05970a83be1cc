"""Plate search (/api/v1/plates/search) over passes uploaded by simulated checkpoints of two districts: the
passes in time order at their checkpoints' positions, wildcards, only the caller's divisions, a reason
required and every search audited (who, which plate, why)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest_asyncio
from sqlalchemy import text

from app.config import Settings
from app.db.engine import make_engine
from tests.conftest import login
from tests.viid_peer import ViidPeer, jpeg, statuses, tollgate, vehicle

API = "/api/v1/plates/search"
START = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
WINDOW = {"since": "2026-12-02T00:00:00+00:00", "until": "2026-12-03T00:00:00+00:00"}
NORTH_GATE, EAST_GATE = "99010100001210000011", "99010200001210000012"


@pytest_asyncio.fixture(scope="module")
async def app_client(demo_db: str, tmp_path_factory):
    from app.api.main import create_app

    app = create_app(Settings(demo_mode=True, viid_image_dir=tmp_path_factory.mktemp("viid-search")), demo_db)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.9.8.7", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest_asyncio.fixture(scope="module")
async def world(app_client, demo_db):
    """Two checkpoints (districts 990101 and 990102), one car passing north, east, north; users per district."""
    c = app_client
    adm = await login(c, "admin")
    peers = {}
    for gb, div, gate, name, lon in (("99010100001190000011", "990101", NORTH_GATE, "北卡口", 24.94),
                                     ("99010200001190000012", "990102", EAST_GATE, "东卡口", 24.97)):
        r = await c.post("/api/v1/devices", headers=adm, json={
            "gb_id": gb, "name": name, "division_code": div, "password": f"pw-{gb[-4:]}-viid", "kind": "ipc"})
        assert r.status_code == 201, r.text
        peer = peers[gate] = ViidPeer(c, gb, f"pw-{gb[-4:]}-viid")
        assert (await peer.register())[1].status_code == 200
        assert [s["StatusCode"] for s in statuses(await peer.tollgates([tollgate(gate, name, lon, 60.17)]))] == [0]
    for i, gate in enumerate((NORTH_GATE, EAST_GATE, NORTH_GATE)):
        at = START + timedelta(minutes=10 * i)
        peer = peers[gate]
        r = await peer.motor_vehicles([vehicle(peer.record_id(i, at), "京A12345", gate, at, device=peer.device_id,
                                               image=jpeg(5000, i)),
                                       vehicle(peer.record_id(50 + i, at), "京B99999", gate, at,
                                               device=peer.device_id)])
        assert [s["StatusCode"] for s in statuses(r)] == [0, 0], r.text
    users = {}
    for name, role, div in (("viid_north", "dispatcher", "990101"), ("viid_east", "dispatcher", "990102"),
                            ("viid_officer", "officer", "990100")):
        r = await c.post("/api/v1/users", headers=adm, json={
            "username": name, "password": f"{name}-password-1", "role": role, "division_code": div})
        assert r.status_code == 201, r.text
        users[name] = await login(c, name, f"{name}-password-1")
    engine = make_engine(demo_db)
    yield {"admin": adm, **users, "db": engine}
    await engine.dispose()


async def search(c, headers, plate: str, reason: str | None = "案件 2026-118 追查", **extra) -> httpx.Response:
    params = {"plate": plate, **WINDOW, **extra} | ({"reason": reason} if reason is not None else {})
    return await c.get(API, headers=headers, params=params)


async def test_passes_in_time_order_at_their_checkpoints(app_client, world):
    r = await search(app_client, world["admin"], "京A12345")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "FeatureCollection" and body["total"] == 3
    props = [f["properties"] for f in body["features"]]
    assert [p["tollgate_id"] for p in props] == [NORTH_GATE, EAST_GATE, NORTH_GATE]
    assert [p["pass_time"] for p in props] == sorted(p["pass_time"] for p in props)
    assert props[0]["pass_time"] == START.isoformat() and props[0]["tollgate_name"] == "北卡口"
    assert [f["geometry"]["coordinates"][0] for f in body["features"]] == [24.94, 24.97, 24.94]
    assert props[0]["images"][0]["format"] == "jpg" and len(props[0]["images"][0]["sha256"]) == 64
    assert props[1]["division_code"] == "990102" and props[0]["speed_kmh"] == 48.5


async def test_wildcards(app_client, world):
    adm = world["admin"]
    for plate, n in (("京A1*", 3), ("京?12345", 3), ("*12345", 3), ("京a12345", 3), ("京A1234", 0), ("京*99", 3),
                     ("京?9999*", 3)):
        r = await search(app_client, adm, plate)
        assert r.status_code == 200 and r.json()["total"] == n, (plate, r.text)
    for bad in ("*", "京*", "??*", "京A*", "京A%", "京A_1", "'; DROP", "x" * 17):  # 3 known characters at least
        r = await search(app_client, adm, bad)
        assert r.status_code == 422, (bad, r.text)
    r = await search(app_client, adm, "京A12345", limit=2, offset=2)
    assert r.json()["total"] == 3 and len(r.json()["features"]) == 1


async def test_only_the_callers_divisions(app_client, world):
    north = [f["properties"]["tollgate_id"] for f in (await search(app_client, world["viid_north"], "京A12345")).json()
             ["features"]]
    east = [f["properties"]["tollgate_id"] for f in (await search(app_client, world["viid_east"], "京A12345")).json()
            ["features"]]
    assert north == [NORTH_GATE, NORTH_GATE] and east == [EAST_GATE]
    r = await search(app_client, world["viid_officer"], "京A12345")  # no right to recorded surveillance
    assert r.status_code == 403, r.text


async def test_a_reason_is_required_and_every_search_audited(app_client, world):
    for reason in (None, "", "   "):
        r = await search(app_client, world["viid_north"], "京A12345", reason=reason)
        assert r.status_code == 422, (reason, r.text)
    for window in ({"since": WINDOW["until"], "until": WINDOW["since"]},
                   {"since": "2026-01-01T00:00:00+00:00", "until": "2026-12-01T00:00:00+00:00"},
                   {"since": "2026-12-02T00:00:00"}):  # no zone
        r = await app_client.get(API, headers=world["viid_north"], params={
            "plate": "京A12345", "reason": "x", **WINDOW, **window})
        assert r.status_code == 422, (window, r.text)
    async with world["db"].connect() as conn:
        before = (await conn.execute(text("SELECT count(*) FROM audit_event WHERE action = 'plate_search'"))).scalar()
    r = await search(app_client, world["viid_north"], "京A1*", reason="寻找走失儿童 case 7")
    assert r.status_code == 200
    async with world["db"].connect() as conn:
        rows = (await conn.execute(text(
            "SELECT actor_name, object_id, reason, detail, divisions FROM audit_event WHERE action = 'plate_search' "
            "ORDER BY id DESC"))).mappings().all()
    assert len(rows) == before + 1
    last = rows[0]
    assert (last["actor_name"], last["object_id"], last["reason"]) == ("viid_north", "京A1*", "寻找走失儿童 case 7")
    assert last["detail"]["passes"] == 2 and "990101" in last["divisions"]
