"""Ingest over HTTP inside the platform: OsmAnd/Traccar, the batch API, tracks, replay and prediction."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.conftest import login
from tests.waiting import async_wait_for

# A straight street in the demo city (Helsinki centre) and a point on it.
LON, LAT = 24.9384, 60.1699


@pytest.fixture(scope="module")
def registered(demo_db):
    with psycopg.connect(demo_db) as conn:
        conn.execute("INSERT INTO target (protocol, external_id, kind, name, division_code) "
                     "VALUES ('osmand', 'phone-1', 'officer', 'Officer phone', '990100')")
    return "phone-1"


def _dist(p: dict, q) -> float:
    dx = (p["lon"] - q[0]) * 111_320 * math.cos(math.radians(q[1]))
    return math.hypot(dx, (p["lat"] - q[1]) * 110_540)


def _ts(dt: datetime) -> int:
    return int(dt.timestamp())


async def test_osmand_query_form_and_root_path(api, demo_db, registered):
    now = datetime.now(UTC).replace(microsecond=0)
    r = await api.get("/ingest/osmand", params={"id": registered, "lat": LAT, "lon": LON,
                                                "timestamp": _ts(now - timedelta(seconds=30)), "speed": 10,
                                                "bearing": 90})
    assert r.status_code == 200 and r.text == "OK"
    # The apps are configured with a bare URL: GET /?id=… and POST / are reports too.
    r = await api.get("/", params={"id": registered, "lat": LAT, "lon": LON + 0.0005,
                                   "timestamp": _ts(now - timedelta(seconds=20))})
    assert r.status_code == 200 and r.text == "OK"
    form = f"id={registered}&lat={LAT}&lon={LON + 0.001}&timestamp={_ts(now - timedelta(seconds=10))}"
    r = await api.post("/", content=form,
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text
    r = await api.post("/", json={"device_id": registered, "location": {
        "timestamp": now.isoformat(), "coords": {"latitude": LAT, "longitude": LON + 0.0015, "speed": 5,
                                                 "heading": 90}}})
    assert r.status_code == 200, r.text
    assert (await api.get("/")).status_code == 200  # the web root still serves the page
    with psycopg.connect(demo_db) as conn:
        n = conn.execute("SELECT count(*) FROM position p JOIN target t ON t.id = p.target_id "
                         "WHERE t.external_id = %s", (registered,)).fetchone()[0]
    assert n == 4  # acknowledged = committed


@pytest.mark.parametrize("params, reason", [
    ({"lat": LAT, "lon": LON}, "missing_id"),
    ({"id": "phone-1", "lon": LON}, "missing_position"),
    ({"id": "phone-1", "lat": 95, "lon": LON}, "coordinates_out_of_range"),
    ({"id": "phone-1", "lat": "abc", "lon": LON}, "wrong_type"),
    ({"id": "phone-1", "lat": LAT, "lon": LON, "timestamp": "4102444800"}, "time_in_future"),
])
async def test_osmand_bad_reports_are_400_with_reason(api, registered, params, reason):
    r = await api.get("/ingest/osmand", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "fix_rejected" and r.json()["error"]["message"]


async def test_unregistered_device_needs_the_token(api, demo_db):
    q = {"id": "stranger", "lat": LAT, "lon": LON}
    r = await api.get("/ingest/osmand", params=q)
    assert r.status_code == 403 and "not registered" in r.json()["error"]["message"]
    settings, rt = api.app.state.settings, api.app.state.ingest
    rt.devices.token = "t" * 20  # as if SHARPEYES_DEVICE_TOKEN were set
    try:
        assert (await api.get("/ingest/osmand", params={**q, "token": "wrong-token-xxxxxxx"})).status_code == 403
        r = await api.get("/ingest/osmand", params=q, headers={"X-Device-Token": "t" * 20})
        assert r.status_code == 200, r.text
    finally:
        rt.devices.token = settings.device_token
    with psycopg.connect(demo_db) as conn:  # registered by its first report
        assert conn.execute("SELECT count(*) FROM target WHERE external_id = 'stranger'").fetchone()[0] == 1


async def test_batch_api_validates_each_item(api, demo_db):
    h = await login(api, "admin")
    now = datetime.now(UTC)
    items = [{"target": "car-7", "time": (now - timedelta(seconds=60 - i)).isoformat(), "lon": LON + i * 1e-4,
              "lat": LAT, "speed": 36.0, "heading": 90, "accuracy": 5} for i in range(50)]
    items[3] = {**items[3], "lat": 123}
    items[7] = {**items[7], "time": "2026-01-01T00:00:00"}  # no zone
    items[9] = {"target": "car-7", "lon": LON, "lat": LAT}  # no time
    items[11] = "not an object"
    items[13] = {**items[13], "speed": "fast"}
    r = await api.post("/api/v1/positions", json={"positions": items}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["received"] == 50 and body["accepted"] == 45
    assert [(x["index"], x["reason"]) for x in body["rejected"]] == [
        (3, "coordinates_out_of_range"), (7, "bad_timestamp"), (9, "missing_field"), (11, "wrong_type"),
        (13, "wrong_type")]
    with psycopg.connect(demo_db) as conn:
        n = conn.execute("SELECT count(*) FROM position p JOIN target t ON t.id = p.target_id "
                         "WHERE t.protocol = 'api' AND t.external_id = 'car-7'").fetchone()[0]
    assert n == 45
    # a replay of the same batch is harmless: exactly once
    r = await api.post("/api/v1/positions", json=items, headers=h)
    assert r.status_code == 200
    with psycopg.connect(demo_db) as conn:
        assert conn.execute("SELECT count(*) FROM position p JOIN target t ON t.id = p.target_id "
                            "WHERE t.external_id = 'car-7'").fetchone()[0] == 45


async def test_batch_api_permissions_and_bad_bodies(api):
    now = datetime.now(UTC).isoformat()
    officer, planner = await login(api, "officer"), await login(api, "planner")
    item = {"time": now, "lon": LON, "lat": LAT}
    r = await api.post("/api/v1/positions", json=[{**item, "target": "user-officer"},
                                                   {**item, "target": "someone-else"}], headers=officer)
    assert r.status_code == 200
    assert r.json()["accepted"] == 1 and r.json()["rejected"][0]["reason"] == "not_permitted"
    assert (await api.post("/api/v1/positions", json=[], headers=planner)).status_code == 403
    assert (await api.post("/api/v1/positions", json=[])).status_code == 401
    admin = await login(api, "admin")
    for body in (b"{not json", b'{"positions": 5}', b'"x"'):
        r = await api.post("/api/v1/positions", content=body, headers={**admin, "content-type": "application/json"})
        assert r.status_code == 422, r.text


async def test_targets_tracks_replay_and_prediction(api, demo_db):
    h = await login(api, "admin")
    now = datetime.now(UTC)
    # a car driving along the longest road edge for 60 s (2/3 of it), 1 fix per second
    with psycopg.connect(demo_db) as conn:
        edge_id, length, pts = conn.execute("""
            SELECT e.id, e.length_m, array_agg(ARRAY[ST_X(p), ST_Y(p)] ORDER BY f)
            FROM (SELECT id, geom, length_m FROM road_edge WHERE cost > 0 AND reverse_cost < 0
                  ORDER BY length_m DESC LIMIT 1) e,
                 generate_series(0, 59) f, LATERAL ST_LineInterpolatePoint(e.geom, f / 90.0) p
            GROUP BY e.id, e.length_m""").fetchone()
    v = length / 90.0  # m/s
    items = [{"target": "car-9", "time": (now - timedelta(seconds=60 - i)).isoformat(), "lon": x, "lat": y,
              "speed": v * 3.6} for i, (x, y) in enumerate(pts)]
    assert (await api.post("/api/v1/positions", json=items, headers=h)).json()["accepted"] == 60
    # target.last_* follows the acknowledged positions a moment later (a cache the writer updates after commit)
    async def placed() -> tuple[list, dict] | None:
        listed = (await api.get("/api/v1/targets", headers=h)).json()
        car = next(t for t in listed if t["external_id"] == "car-9")
        return (listed, car) if car["lon"] is not None else None

    listed, car = await async_wait_for(placed, what="car-9's last position")
    assert car["lon"] is not None and car["stale"] is False and car["age_s"] < 10
    tid = car["id"]
    window = {"start": (now - timedelta(minutes=5)).isoformat(), "end": (now + timedelta(minutes=1)).isoformat()}
    tr = (await api.get(f"/api/v1/targets/{tid}/track", params=window, headers=h)).json()
    assert tr["points"] == 60 and tr["t"] == sorted(tr["t"])
    simplified = (await api.get(f"/api/v1/targets/{tid}/track", params={**window, "zoom": 12}, headers=h)).json()
    assert 2 <= simplified["points"] < 60  # simplified for the zoom
    s = (await api.get(f"/api/v1/targets/{tid}/summary", params=window, headers=h)).json()
    assert 0.4 * length < s["distance_m"] < 0.7 * length and s["points"] == 60
    other = next(t for t in listed if t["external_id"] == "car-7")["id"]
    rp = (await api.get("/api/v1/replay", params={"ids": f"{tid},{other}", **window}, headers=h)).json()
    assert {t["target_id"] for t in rp["tracks"]} == {tid, other}
    assert all(len(t["offset_s"]) == t["points"] for t in rp["tracks"])
    p = (await api.get(f"/api/v1/targets/{tid}/prediction", headers=h)).json()
    cv = p["methods"]["cv"]
    assert [x["horizon_s"] for x in cv] == [30, 60, 120]
    last = pts[-1]
    assert 0.5 * 30 * v < _dist(cv[0], last) < 1.5 * 30 * v
    assert cv[0]["radius_m"] < cv[1]["radius_m"] < cv[2]["radius_m"]
    road = p["methods"]["road"]
    assert road is not None and p["road_match"]["edge_id"] == edge_id and p["road_match"]["forward"]
    assert len(road) == 3 and road[2]["radius_m"] > road[0]["radius_m"]
    assert 0.8 * 30 * v < _dist(road[0], last) < 1.05 * 30 * v  # along the (one-way) road
    # dispatcher of 990100 does not see a target without division: 404, not 403
    d = await login(api, "dispatcher")
    assert (await api.get(f"/api/v1/targets/{tid}/track", headers=d)).status_code == 404
    assert all(t["external_id"] != "car-9" for t in (await api.get("/api/v1/targets", headers=d)).json())


@pytest.mark.parametrize("url", [
    "/api/v1/replay?ids=a,b", "/api/v1/replay?ids=99999999999", "/api/v1/targets/1/track?start=2026-01-01T00:00:00",
    "/api/v1/targets/1/track?start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z",
    "/api/v1/targets/999999/prediction", "/api/v1/targets/1/track?zoom=99",
])
async def test_bad_track_queries_are_4xx(api, url):
    h = await login(api, "admin")
    r = await api.get(url, headers=h)
    assert 400 <= r.status_code < 500, (url, r.status_code, r.text)


async def test_events_are_stored(api, demo_db):
    h = await login(api, "admin")
    now = datetime.now(UTC)
    r = await api.post("/api/v1/positions", json=[
        {"target": "speeder", "time": (now - timedelta(seconds=5)).isoformat(), "lon": LON, "lat": LAT, "speed": 50},
        {"target": "speeder", "time": now.isoformat(), "lon": LON, "lat": LAT, "speed": 180, "sos": True}], headers=h)
    assert r.json()["accepted"] == 2
    tid = next(t["id"] for t in (await api.get("/api/v1/targets", headers=h)).json() if t["external_id"] == "speeder")
    events = (await api.get(f"/api/v1/targets/{tid}/events", headers=h)).json()
    assert {"overspeed", "sos"} <= {e["type"] for e in events}
    assert all(e["position_time"] for e in events)
    # stale: the periodic check stores it too
    rt = api.app.state.ingest
    await rt.check_stale(now + timedelta(minutes=10))
    with psycopg.connect(demo_db) as conn:
        types = {r[0] for r in conn.execute("SELECT type FROM target_event WHERE target_id = %s", (tid,))}
    assert "stale" in types
