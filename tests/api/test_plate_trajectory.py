"""A plate's trajectory (/api/v1/plates/trajectory) from passes uploaded by simulated checkpoints on the demo
city's roads: pass points in time order, legs between consecutive passes routed along the roads with distance,
gap and speed, implausible speeds flagged, only the caller's passes (legs between visible ones), a reason
required and every request audited as a plate search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest_asyncio
from sqlalchemy import text

from app.config import Settings
from app.db.engine import make_engine
from tests.conftest import login
from tests.viid_peer import ViidPeer, jpeg, statuses, tollgate, vehicle

API = "/api/v1/plates/trajectory"
START = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
WINDOW = {"since": "2026-12-02T00:00:00+00:00", "until": "2026-12-03T00:00:00+00:00"}
G1, G2, G3 = "99010100001210000021", "99010200001210000022", "99010100001210000023"


@pytest_asyncio.fixture(scope="module")
async def app_client(demo_db: str, tmp_path_factory):
    from app.api.main import create_app

    app = create_app(Settings(demo_mode=True, viid_image_dir=tmp_path_factory.mktemp("viid-traj")), demo_db)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.9.8.7", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def _road_points(engine) -> list[tuple[float, float]]:
    """Three drivable edges' midpoints about a kilometre apart in a row (the demo city's roads)."""
    async with engine.connect() as conn:
        rows = (await conn.execute(text("""
            WITH m AS (SELECT id, ST_LineInterpolatePoint(geom, 0.5) AS p FROM road_edge
                       WHERE cost >= 0 AND reverse_cost >= 0 ORDER BY id LIMIT 4000),
            a AS (SELECT p FROM m ORDER BY id LIMIT 1)
            SELECT ST_X(m.p), ST_Y(m.p), ST_Distance(m.p::geography, a.p::geography) AS d FROM m, a
            ORDER BY abs(ST_Distance(m.p::geography, a.p::geography) - 1000) LIMIT 1"""))).all()
        a = (await conn.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_LineInterpolatePoint(geom, 0.5) AS p "
                                     "FROM road_edge WHERE cost >= 0 AND reverse_cost >= 0 ORDER BY id LIMIT 1) q"
                                     ))).one()
    b = rows[0]
    return [(a[0], a[1]), (b[0], b[1]), (a[0], a[1])]


@pytest_asyncio.fixture(scope="module")
async def world(app_client, demo_db):
    """Checkpoints G1, G3 (district 990101) and G2 (990102) on the roads; 京A12345 drives G1 → G2 → G3 five
    minutes apart, 京C77777 is seen at G1 and, ten seconds later, at G2 (a cloned plate)."""
    c = app_client
    adm = await login(c, "admin")
    engine = make_engine(demo_db)
    pts = await _road_points(engine)
    peers = {}
    for gb, div, gates in (("99010100001190000021", "990101", ((G1, pts[0]), (G3, pts[2]))),
                           ("99010200001190000022", "990102", ((G2, pts[1]),))):
        r = await c.post("/api/v1/devices", headers=adm, json={
            "gb_id": gb, "name": gb[-4:], "division_code": div, "password": f"pw-{gb[-4:]}-viid", "kind": "ipc"})
        assert r.status_code == 201, r.text
        peer = ViidPeer(c, gb, f"pw-{gb[-4:]}-viid")
        assert (await peer.register())[1].status_code == 200
        r = await peer.tollgates([tollgate(g, f"卡口{g[-2:]}", p[0], p[1]) for g, p in gates])
        assert [s["StatusCode"] for s in statuses(r)] == [0] * len(gates)
        for g, _ in gates:
            peers[g] = peer
    n = 0
    for plate, gate, at in (("京A12345", G1, START), ("京A12345", G2, START + timedelta(minutes=5)),
                            ("京A12345", G3, START + timedelta(minutes=10)),
                            ("京C77777", G1, START), ("京C77777", G2, START + timedelta(seconds=10))):
        peer, n = peers[gate], n + 1
        r = await peer.motor_vehicles([vehicle(peer.record_id(n, at), plate, gate, at, device=peer.device_id,
                                               image=jpeg(3000, n))])
        assert [s["StatusCode"] for s in statuses(r)] == [0], r.text
    users = {}
    for name, role, div in (("traj_north", "dispatcher", "990101"), ("traj_officer", "officer", "990100")):
        r = await c.post("/api/v1/users", headers=adm, json={
            "username": name, "password": f"{name}-password-1", "role": role, "division_code": div})
        assert r.status_code == 201, r.text
        users[name] = await login(c, name, f"{name}-password-1")
    yield {"admin": adm, **users, "db": engine, "points": pts}
    await engine.dispose()


async def trajectory(c, headers, plate: str, reason: str | None = "案件 2026-118 轨迹", **extra) -> httpx.Response:
    params = {"plate": plate, **WINDOW, **extra} | ({"reason": reason} if reason is not None else {})
    return await c.get(API, headers=headers, params=params)


def split(body: dict) -> tuple[list[dict], list[dict]]:
    feats = body["features"]
    return ([f for f in feats if f["properties"]["kind"] == "pass"],
            [f for f in feats if f["properties"]["kind"] == "leg"])


async def test_passes_and_routed_legs_in_time_order(app_client, world):
    r = await trajectory(app_client, world["admin"], "京A12345")
    assert r.status_code == 200, r.text
    body = r.json()
    passes, legs = split(body)
    assert body["type"] == "FeatureCollection" and body["total"] == 3 and body["max_kmh"] == 150
    assert [p["properties"]["tollgate_id"] for p in passes] == [G1, G2, G3]
    assert all(p["geometry"]["type"] == "Point" for p in passes)
    assert [(leg["properties"]["from_tollgate_id"], leg["properties"]["to_tollgate_id"]) for leg in legs] == [
        (G1, G2), (G2, G3)]
    for leg in legs:
        p = leg["properties"]
        assert leg["geometry"]["type"] == "LineString" and len(leg["geometry"]["coordinates"]) >= 2
        assert p["routed"] is True and p["gap_s"] == 300
        assert p["distance_m"] >= 900  # along the roads: at least the straight kilometre
        assert p["speed_kmh"] == round(p["distance_m"] / 300 * 3.6, 1) and p["implausible"] is False


async def test_an_impossible_speed_is_flagged(app_client, world):
    body = (await trajectory(app_client, world["admin"], "京C77777")).json()
    (leg,) = split(body)[1]
    assert leg["properties"]["routed"] is True and leg["properties"]["gap_s"] == 10
    assert leg["properties"]["speed_kmh"] > 150 and leg["properties"]["implausible"] is True


async def test_only_the_callers_passes_and_legs_between_them(app_client, world):
    r = await trajectory(app_client, world["traj_north"], "京A12345")
    passes, legs = split(r.json())
    assert [p["properties"]["tollgate_id"] for p in passes] == [G1, G3]
    assert [(leg["properties"]["from_tollgate_id"], leg["properties"]["to_tollgate_id"]) for leg in legs] == [
        (G1, G3)]
    assert legs[0]["properties"]["gap_s"] == 600
    r = await trajectory(app_client, world["traj_officer"], "京A12345")  # no right to recorded surveillance
    assert r.status_code == 403, r.text


async def test_bad_input_is_refused_and_every_request_audited(app_client, world):
    for reason in (None, "", "   "):
        r = await trajectory(app_client, world["traj_north"], "京A12345", reason=reason)
        assert r.status_code == 422, (reason, r.text)
    for plate in ("京A1*", "京A1234?", "*", "'; DROP"):
        r = await trajectory(app_client, world["admin"], plate)
        assert r.status_code == 422, (plate, r.text)
    r = await app_client.get(API, headers=world["admin"], params={
        "plate": "京A12345", "reason": "x", "since": WINDOW["until"], "until": WINDOW["since"]})
    assert r.status_code == 422, r.text
    async with world["db"].connect() as conn:
        before = (await conn.execute(text("SELECT count(*) FROM audit_event WHERE action = 'plate_search'"))).scalar()
    r = await trajectory(app_client, world["traj_north"], "京a12345", reason="寻找走失儿童 case 7")
    assert r.status_code == 200 and r.json()["total"] == 2
    async with world["db"].connect() as conn:
        rows = (await conn.execute(text(
            "SELECT actor_name, object_id, reason, detail, divisions FROM audit_event WHERE action = 'plate_search' "
            "ORDER BY id DESC"))).mappings().all()
    assert len(rows) == before + 1
    last = rows[0]
    assert (last["actor_name"], last["object_id"], last["reason"]) == ("traj_north", "京a12345", "寻找走失儿童 case 7")
    assert last["detail"] == {"since": WINDOW["since"], "until": WINDOW["until"], "passes": 2, "view": "trajectory"}
    assert last["divisions"] == ["990101"]


def test_a_leg_is_judged_by_its_speed_and_its_road():
    from app.domain.plate_legs import leg

    t0 = START
    assert leg(t0, t0 + timedelta(minutes=1), 1000, True) == {
        "distance_m": 1000, "gap_s": 60, "speed_kmh": 60.0, "routed": True, "implausible": False}
    assert leg(t0, t0 + timedelta(seconds=20), 1000, True)["implausible"] is True  # 180 km/h
    assert leg(t0, t0 + timedelta(seconds=20), 1000, True, max_kmh=200)["implausible"] is False
    assert leg(t0, t0 + timedelta(hours=1), 1000, False)["implausible"] is True  # no road: a straight line
    assert leg(t0, t0, 0.0, True)["implausible"] is False  # the same checkpoint twice in a second
    same_second = leg(t0, t0, 500, True)
    assert same_second["speed_kmh"] is None and same_second["implausible"] is True
