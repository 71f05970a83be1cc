"""Emergency response (#5): incidents, ranked call-up, PTZ bearing, along-track cameras, signed play URLs,
dispatch by road with pgRouting, arrival, the officer's assignment, and their audit rows."""

import dataclasses
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from app.domain import callup as rank_domain
from app.domain.errors import Forbidden
from app.video import signing
from tests.conftest import login
from tests.server import running_server

# A quiet corner of the demo city (central Helsinki) for hand-placed cameras.
X0, Y0 = 24.9420, 60.1700
M_LON = 1 / (111_320 * 0.4975)  # degrees of longitude per metre at 60.17° N
M_LAT = 1 / 110_950


def at(east_m: float, north_m: float) -> tuple[float, float]:
    return X0 + east_m * M_LON, Y0 + north_m * M_LAT


@pytest.fixture(scope="module")
async def placed(api):
    """Three cameras around (X0, Y0): fixed looking east, PTZ to the south-west, an offline dome."""
    h = await login(api, "admin")
    ids = {}
    for key, (e, n), extra in [
        ("east", (0, 0), {"kind": "fixed", "heading_deg": 90, "fov_deg": 60, "range_m": 120, "cls": 1}),
        ("ptz", (-40, -40), {"kind": "ptz", "range_m": 150, "cls": 2}),
        ("dead", (60, 20), {"kind": "dome", "range_m": 60, "status": "offline"}),
        ("west", (0, 5), {"kind": "fixed", "heading_deg": 270, "fov_deg": 60, "range_m": 120}),
    ]:
        lon, lat = at(e, n)
        r = await api.post("/api/v1/cameras", headers=h, json={"name": f"t-{key}", "lon": lon, "lat": lat, **extra})
        assert r.status_code == 201, r.text
        ids[key] = r.json()["id"]
    return ids


async def test_cameras_seeing_a_point_ranked(api, placed):
    h = await login(api, "dispatcher")
    lon, lat = at(50, 0)  # 50 m east of the fixed camera: on its axis
    r = await api.get("/api/v1/callup/seeing", params={"lon": lon, "lat": lat}, headers=h)
    body = r.json()
    ids = [c["id"] for c in body["cameras"]]
    assert placed["east"] in ids and placed["ptz"] in ids
    assert placed["west"] not in ids  # looks the other way
    assert placed["dead"] not in ids and placed["dead"] in [c["id"] for c in body["unavailable"]]
    east = next(c for c in body["cameras"] if c["id"] == placed["east"])
    ptz = next(c for c in body["cameras"] if c["id"] == placed["ptz"])
    assert ids.index(placed["east"]) < ids.index(placed["ptz"])  # closer, on axis, class 1
    assert east["off_axis_deg"] < 2 and east["pan_bearing_deg"] is None
    # PTZ at (−40, −40) m → the point at (50, 0) lies at atan2(90, 40) ≈ 66° from north.
    assert ptz["pan_bearing_deg"] == pytest.approx(66.0, abs=2.0)
    assert 90 < ptz["distance_m"] < 105


def test_ranking_prefers_on_axis_hd_online():
    base = dict(kind="fixed", heading_deg=0.0, fov_deg=60.0, range_m=100.0, cls=2, status="online")
    on_axis = rank_domain.Candidate(1, 50, 0, hd=True, **base)
    off_axis = rank_domain.Candidate(2, 50, 25, hd=True, **base)
    sd = rank_domain.Candidate(3, 50, 0, hd=False, **base)
    offline = rank_domain.Candidate(4, 10, 0, hd=True, **{**base, "status": "fault"})
    online, others = rank_domain.rank([off_axis, sd, offline, on_axis])
    assert [c.camera_id for c, _ in online] == [1, 3, 2] and [c.camera_id for c, _ in others] == [4]
    assert rank_domain.angle_diff(350, 10) == 20


def test_off_axis_is_unknown_without_a_heading_and_zero_on_the_spot():
    # OSM cameras often carry no direction: their view is modelled all-round, their axis is unknown
    # (the console then shows no "off axis" figure instead of a made-up 0°).
    no_heading = rank_domain.Candidate(1, 30, 123, "fixed", None, 360.0, 100.0, True, 2, "online")
    assert rank_domain.off_axis_deg(no_heading) is None
    aimed_away = dataclasses.replace(no_heading, heading_deg=0.0, fov_deg=60.0)  # 123° off its axis
    assert rank_domain.score(no_heading) > rank_domain.score(aimed_away)
    on_spot = rank_domain.Candidate(2, 0.2, 0.0, "fixed", 200.0, 60.0, 100.0, True, 2, "online")
    assert rank_domain.off_axis_deg(on_spot) == 0.0  # no bearing from a camera standing on the point
    ptz_on_spot = rank_domain.Candidate(3, 0.2, 0.0, "ptz", None, 360.0, 100.0, True, 2, "online")
    assert rank_domain.pan_bearing(ptz_on_spot) is None


async def test_cameras_along_a_track(api, demo_db, placed):
    # A target walks west → east through the fixed camera's view, one fix every 10 s.
    now = datetime.now(UTC).replace(microsecond=0)
    with psycopg.connect(demo_db, autocommit=True) as conn:
        # Filed in the dispatcher's city: a track is only read inside the reader's scope.
        tid = conn.execute("INSERT INTO target (protocol, external_id, kind, name, division_code) VALUES ('api', "
                           "'walker-1', 'vehicle', '走失儿童', '990100') RETURNING id").fetchone()[0]
        for i in range(13):
            lon, lat = at(-100 + i * 25, 10)
            conn.execute("INSERT INTO position (target_id, fix_time, location, source) VALUES "
                         "(%s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), 'api')",
                         (tid, now - timedelta(seconds=600 - i * 10), lon, lat))
    h = await login(api, "dispatcher")
    r = await api.get("/api/v1/callup/along-track", headers=h, params={
        "target_id": tid, "start": (now - timedelta(hours=1)).isoformat(), "end": now.isoformat()})
    body = r.json()
    assert body["fixes"] == 13
    seen = {s["camera_id"]: s for s in body["sightings"]}
    assert placed["east"] in seen and placed["west"] in seen
    s = seen[placed["east"]]
    enter, exit_ = datetime.fromisoformat(s["enter"]), datetime.fromisoformat(s["exit"])
    # At 2.5 m/s along y = 10 m it enters the 60° sector at x = 10/tan 30° ≈ 17 m and leaves at the
    # 120 m range (x ≈ 119.6 m): ≈ 102 m, i.e. ≈ 41 s, between two fixes at both ends.
    assert (exit_ - enter).total_seconds() == pytest.approx(41.0, abs=2.0)
    first_fix = now - timedelta(seconds=600)
    assert (enter - first_fix).total_seconds() == pytest.approx((100 + 17.3) / 2.5, abs=2.0)
    bad = await api.get("/api/v1/callup/along-track", headers=h, params={
        "target_id": tid, "start": now.isoformat(), "end": (now - timedelta(hours=1)).isoformat()})
    assert bad.status_code == 422


def test_signed_url_expiry_and_tamper():
    url, exp = signing.play_url("k" * 32, 7, 3, minutes=10, now=1_000_000)
    sig = url.split("sig=")[1]
    signing.verify("k" * 32, 7, 3, exp, sig, now=1_000_000 + 599)
    with pytest.raises(Forbidden, match="expired"):
        signing.verify("k" * 32, 7, 3, exp, sig, now=1_000_000 + 601)
    with pytest.raises(Forbidden, match="signature"):
        signing.verify("k" * 32, 8, 3, exp, sig, now=1_000_000)


async def test_callup_is_audited_and_plays_mjpeg(api, demo_db, placed):
    h = await login(api, "dispatcher")
    r = await api.post("/api/v1/callup", headers=h, json={"camera_ids": [placed["east"], placed["ptz"]],
                                                          "reason": "事件核查 incident check"})
    streams = r.json()["streams"]
    assert [s["format"] for s in streams] == ["mjpeg", "mjpeg"]
    log = (await api.get("/api/v1/audit", params={"action": "video_callup"}, headers=await login(api, "auditor")))
    ev = log.json()["items"][0]
    assert ev["actor_name"] == "dispatcher" and ev["reason"] == "事件核查 incident check"
    assert ev["detail"]["cameras"] == [placed["east"], placed["ptz"]]
    # A camera the user may not see cannot be called up (planner_nw has no live video at all).
    nw = await login(api, "planner_nw")
    assert (await api.post("/api/v1/callup", headers=nw, json={"camera_ids": [placed["east"]],
                                                               "reason": "x1"})).status_code == 403
    with running_server(demo_db) as base:
        url = base + streams[0]["url"]
        with httpx.stream("GET", url, timeout=10) as resp:
            assert resp.status_code == 200 and "multipart/x-mixed-replace" in resp.headers["content-type"]
            data = b""
            for chunk in resp.iter_bytes():
                data += chunk
                if data.count(b"\xff\xd8") >= 2:  # two JPEG frames arrived
                    break
        frames = [f for f in data.split(b"--sharpeyesframe") if b"\xff\xd8" in f]
        assert len(frames) >= 2 and frames[0] != frames[1]  # the picture changes over time
        assert httpx.get(url.replace("sig=", "sig=0"), timeout=5).status_code == 403


async def test_ptz_commands_are_audited(api, placed):
    h = await login(api, "dispatcher")
    r = await api.post(f"/api/v1/cameras/{placed['ptz']}/ptz", headers=h,
                       json={"action": "goto", "bearing_deg": 66, "reason": "turn to incident"})
    assert r.status_code == 202
    assert (await api.post(f"/api/v1/cameras/{placed['east']}/ptz", headers=h,
                           json={"action": "left", "reason": "fixed cam"})).status_code == 422
    log = (await api.get("/api/v1/audit", params={"action": "ptz"}, headers=await login(api, "auditor"))).json()
    assert log["items"][0]["detail"]["bearing_deg"] == 66


@pytest.fixture(scope="module")
def units(demo_db):
    """Four patrol cars with trackers: three fresh, one stale, one in an island off the road graph."""
    now = datetime.now(UTC)
    made = {}
    with psycopg.connect(demo_db, autocommit=True) as conn:
        officer = conn.execute("SELECT id FROM app_user WHERE username = 'officer'").fetchone()[0]
        # An island: two road nodes and one edge, nowhere near the city's graph.
        n1, n2 = [conn.execute("INSERT INTO road_node (osm_id, degree, location) VALUES (%s, 1, "
                               "ST_SetSRID(ST_MakePoint(%s, 60.1600), 4326)) RETURNING id", (o, x)).fetchone()[0]
                  for o, x in ((-1, 24.9700), (-2, 24.9702))]
        conn.execute("INSERT INTO road_edge (osm_way_id, seq, source, target, highway, length_m, speed_kmh, cost, "
                     "reverse_cost, geom) VALUES (-1, 0, %s, %s, 'service', 11, 15, 3, 3, "
                     "ST_SetSRID(ST_MakeLine(ST_MakePoint(24.97, 60.16), ST_MakePoint(24.9702, 60.16)), 4326))",
                     (n1, n2))
        for name, (lon, lat), age_s, user in [
            ("巡逻1", at(300, 150), 5, officer), ("巡逻2", at(-500, -300), 5, None),
            ("巡逻3", at(100, 40), 3600, None), ("孤岛", (24.9701, 60.1600), 5, None)]:
            tid = conn.execute(
                "INSERT INTO target (protocol, external_id, kind, name, last_fix_at, last_location) VALUES "
                "('sim', %s, 'patrol_car', %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id",
                (name, name, now - timedelta(seconds=age_s), lon, lat)).fetchone()[0]
            made[name] = conn.execute(
                "INSERT INTO unit (callsign, kind, status, target_id, user_id, division_code) VALUES "
                "(%s, 'patrol_car', 'available', %s, %s, '990100') RETURNING id", (name, tid, user)).fetchone()[0]
    return made


async def test_dispatch_by_road_to_arrival(api, demo_db, units):
    h = await login(api, "dispatcher")
    lon, lat = at(60, 0)
    inc = await api.post("/api/v1/incidents", headers=h, json={
        "type": "theft", "priority": 1, "lon": lon, "lat": lat, "description": "手机被抢"})
    assert inc.status_code == 201, inc.text
    iid = inc.json()["id"]
    assert inc.json()["properties"]["status"] == "new" and inc.json()["properties"]["division_code"]
    rec = (await api.get(f"/api/v1/incidents/{iid}/recommend", headers=h)).json()
    by_name = {r["callsign"]: r for r in rec["recommended"]}
    assert {"巡逻1", "巡逻2", "孤岛"} <= set(by_name) and "巡逻3" not in by_name
    assert rec["stale"][0]["callsign"] == "巡逻3"
    assert by_name["孤岛"]["eta_s"] is None  # unreachable: unknown, never zero
    assert 0 < by_name["巡逻1"]["eta_s"] < by_name["巡逻2"]["eta_s"]
    assert rec["recommended"][0]["callsign"] == "巡逻1" and rec["recommended"][-1]["callsign"] == "孤岛"

    d = await api.post(f"/api/v1/incidents/{iid}/dispatch", headers=h, json={"unit_ids": [units["巡逻1"]]})
    assert d.status_code == 201, d.text
    disp = d.json()["dispatches"][0]
    assert disp["route"]["type"] == "LineString" and len(disp["route"]["coordinates"]) > 2
    assert d.json()["incident"]["properties"]["status"] == "dispatched"
    again = await api.post(f"/api/v1/incidents/{iid}/dispatch", headers=h, json={"unit_ids": [units["巡逻1"]]})
    assert again.status_code == 409

    # The officer sees the assignment on the phone and accepts.
    off = await login(api, "officer")
    mine = (await api.get("/api/v1/me/assignment", headers=off)).json()
    assert mine["dispatch"]["incident_id"] == iid and mine["dispatch"]["route"]["type"] == "LineString"
    acc = await api.post(f"/api/v1/me/dispatches/{disp['dispatch_id']}/status", headers=off,
                         json={"status": "accepted"})
    assert acc.status_code == 200 and acc.json()["status"] == "en_route"
    other = await login(api, "commander")
    assert (await api.post(f"/api/v1/me/dispatches/{disp['dispatch_id']}/status", headers=other,
                           json={"status": "cleared"})).status_code in (403, 404)

    # The unit moves: ETA recomputed; inside the arrival radius the incident goes on scene.
    from app.db.engine import make_engine
    from app.services import dispatch as svc

    engine = make_engine(demo_db)
    async with engine.begin() as conn:
        tid = (await conn.exec_driver_sql(f"SELECT target_id FROM unit WHERE id = {units['巡逻1']}")).scalar()
        coords = disp["route"]["coordinates"]
        half = coords[len(coords) // 2]
        mid = await svc.on_position(conn, tid, *half)  # halfway along its own route
        assert mid[0]["status"] == "en_route" and 0 < mid[0]["eta_s"] < disp["eta_s"]
        # Re-routed from there: the driven half is gone from the route (published and stored).
        assert mid[0]["route"]["coordinates"][0] == pytest.approx(half) and mid[0]["route"]["coordinates"][-1] == \
            pytest.approx([lon, lat])
        assert len(mid[0]["route"]["coordinates"]) < len(coords)
    mine = (await api.get("/api/v1/me/assignment", headers=off)).json()
    assert mine["dispatch"]["route"] == mid[0]["route"]
    async with engine.begin() as conn:
        arrived = await svc.on_position(conn, tid, *at(70, 5))
        assert arrived[0]["status"] == "on_scene"
    await engine.dispose()
    got = (await api.get(f"/api/v1/incidents/{iid}", headers=h)).json()
    assert got["properties"]["status"] == "on_scene" and got["properties"]["on_scene_at"]
    assert got["properties"]["dispatches"][0]["on_scene_at"]
    clear = await api.post(f"/api/v1/dispatches/{disp['dispatch_id']}/status", headers=h, json={"status": "cleared"})
    assert clear.status_code == 200
    for status in ("resolved", "closed"):
        assert (await api.post(f"/api/v1/incidents/{iid}/status", headers=h,
                               json={"status": status})).status_code == 200
    back = await api.post(f"/api/v1/incidents/{iid}/status", headers=h, json={"status": "new"})
    assert back.status_code == 409
    units_now = {u["callsign"]: u for u in (await api.get("/api/v1/units", headers=h)).json()}
    assert units_now["巡逻1"]["status"] == "available" and units_now["巡逻3"]["stale"]
    log = (await api.get("/api/v1/audit", params={"action": "dispatch"}, headers=await login(api, "auditor"))).json()
    assert log["items"][0]["detail"]["units"] == [units["巡逻1"]]


async def test_place_search_and_bad_incidents(api):
    h = await login(api, "dispatcher")
    places = (await api.get("/api/v1/incidents/places", params={"q": "katu"}, headers=h)).json()
    assert places and all(-180 <= p["lon"] <= 180 for p in places)
    for bad in [{"type": "alien", "lon": X0, "lat": Y0}, {"type": "theft", "lon": 500, "lat": Y0},
                {"type": "theft", "lon": X0, "lat": Y0, "priority": 9}]:
        assert (await api.post("/api/v1/incidents", headers=h, json=bad)).status_code == 422
    assert (await api.post("/api/v1/incidents", headers=await login(api, "planner"),
                           json={"type": "theft", "lon": X0, "lat": Y0})).status_code == 403


async def test_incident_without_an_address_gets_its_place(api, demo_db):
    """A spot given only as coordinates (map click, alarm) is named for the dispatcher: the key area it
    lies in and the nearest named street within 80 m; an address typed in is kept as it is."""
    with psycopg.connect(demo_db, autocommit=True) as conn:
        # A spot 5 m off the middle of a named street, inside no key area, and a key area's inner point.
        street, lon, lat = conn.execute("""
            SELECT e.name, ST_X(p.q), ST_Y(p.q) FROM road_edge e,
                 LATERAL (SELECT ST_Project(ST_LineInterpolatePoint(e.geom, 0.5)::geography, 5, 0)::geometry AS q) p
            WHERE e.name IS NOT NULL AND e.length_m > 60
              AND NOT EXISTS (SELECT 1 FROM key_area k WHERE ST_DWithin(k.area::geography, p.q::geography, 10))
              AND NOT EXISTS (SELECT 1 FROM road_edge o WHERE o.name IS DISTINCT FROM e.name
                              AND ST_DWithin(o.geom::geography, p.q::geography, 30))
            ORDER BY e.id LIMIT 1""").fetchone()
        area, alon, alat = conn.execute("""
            SELECT name, ST_X(c), ST_Y(c) FROM key_area, ST_PointOnSurface(area) c
            WHERE NOT EXISTS (SELECT 1 FROM key_area o WHERE o.id <> key_area.id AND ST_Intersects(o.area, c))
            ORDER BY id LIMIT 1""").fetchone()
    h = await login(api, "dispatcher")

    async def place(**where) -> str | None:
        r = await api.post("/api/v1/incidents", headers=h, json={"type": "theft", **where})
        assert r.status_code == 201, r.text
        return r.json()["properties"]["address"]

    assert await place(lon=lon, lat=lat) == street
    at_area = await place(lon=alon, lat=alat)
    assert at_area.split(" · ")[0] == area
    assert await place(lon=lon, lat=lat, address="  ") == street  # blank is no address
    assert await place(lon=lon, lat=lat, address="Mannerheimintie 1") == "Mannerheimintie 1"


async def test_positions_through_ingest_move_eta_and_arrive(api, demo_db):
    """End to end: a dispatched car reports through the batch position API; the pipeline puts it on scene."""
    now = datetime.now(UTC)
    start = at(-250, -120)
    with psycopg.connect(demo_db, autocommit=True) as conn:
        tid = conn.execute(
            "INSERT INTO target (protocol, external_id, kind, last_fix_at, last_location) VALUES "
            "('api', 'car-9', 'patrol_car', %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id",
            (now, *start)).fetchone()[0]
        uid = conn.execute("INSERT INTO unit (callsign, kind, status, target_id, division_code) VALUES "
                           "('巡逻9', 'patrol_car', 'available', %s, '990100') RETURNING id", (tid,)).fetchone()[0]
    h = await login(api, "admin")
    lon, lat = at(-20, 30)
    made = await api.post("/api/v1/incidents", headers=h, json={"type": "assault", "lon": lon, "lat": lat})
    iid = made.json()["id"]
    disp = (await api.post(f"/api/v1/incidents/{iid}/dispatch", headers=h, json={"unit_ids": [uid]})).json()
    assert disp["dispatches"][0]["eta_s"] > 0
    t0 = datetime.now(UTC)
    fixes = [{"target": "car-9", "time": (t0 + timedelta(seconds=i)).isoformat(), "lon": x, "lat": y, "speed": 30}
             for i, (x, y) in enumerate([start, at(-150, -50), at(-60, 10), (lon + 0.00001, lat)])]
    r = await api.post("/api/v1/positions", headers=h, json=fixes)
    assert r.status_code == 200 and r.json()["accepted"] == 4, r.text
    got = (await api.get(f"/api/v1/incidents/{iid}", headers=h)).json()
    assert got["properties"]["status"] == "on_scene"
    assert got["properties"]["dispatches"][0]["status"] == "on_scene"


async def test_webrtc_offer_goes_through_the_signed_url(api, placed):
    """WHEP signalling through the platform: refused clearly for a camera without WebRTC, for a body that
    is no SDP offer, and when the media server cannot be reached (the browser shows "no signal")."""
    adm = await login(api, "admin")
    lon, lat = at(10, 10)
    r = await api.post("/api/v1/cameras", headers=adm, json={"name": "t-whep", "lon": lon, "lat": lat, "kind": "ptz",
                                                             "stream_url": "http://127.0.0.1:9/live/x/whep"})
    whep_cam = r.json()["id"]
    h = await login(api, "dispatcher")
    streams = (await api.post("/api/v1/callup", headers=h, json={"camera_ids": [placed["east"], whep_cam],
                                                                 "reason": "WebRTC check"})).json()["streams"]
    assert [s["format"] for s in streams] == ["mjpeg", "webrtc"]
    offer = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    sdp = {"content-type": "application/sdp"}
    no_webrtc = await api.post(streams[0]["url"], content=offer, headers=sdp)
    assert no_webrtc.status_code == 422 and "WebRTC" in no_webrtc.json()["error"]["message"]
    not_sdp = await api.post(streams[1]["url"], content=b"hello", headers=sdp)
    assert not_sdp.status_code == 422 and "SDP" in not_sdp.json()["error"]["message"]
    away = await api.post(streams[1]["url"], content=offer, headers=sdp)
    assert away.status_code == 503 and "media server" in away.json()["error"]["message"]
    tampered = await api.post(streams[1]["url"].replace("sig=", "sig=0"), content=offer, headers=sdp)
    assert tampered.status_code == 403


async def test_routes_start_on_the_units_street_not_at_its_nearest_node(demo_db):
    """A car 30 % along a street drives on to the scene further along it: no leg back to the street's
    start (its nearest node), and the ETA is the 65 % of the street it really drives."""
    from app.db.engine import make_engine
    from app.services import dispatch as svc

    engine = make_engine(demo_db)
    async with engine.begin() as conn:
        e = (await conn.exec_driver_sql(
            "SELECT cost, ST_X(ST_StartPoint(geom)), ST_Y(ST_StartPoint(geom)),"
            " ST_X(ST_LineInterpolatePoint(geom, 0.3)), ST_Y(ST_LineInterpolatePoint(geom, 0.3)),"
            " ST_X(ST_LineInterpolatePoint(geom, 0.95)), ST_Y(ST_LineInterpolatePoint(geom, 0.95))"
            " FROM road_edge WHERE cost > 0 AND reverse_cost > 0 AND length_m > 150 ORDER BY id LIMIT 1")).one()
        cost, start_node, car, scene = e[0], (e[1], e[2]), (e[3], e[4]), (e[5], e[6])
        [eta] = await svc.road_etas(conn, [car], scene)
        geo = await svc.route(conn, car, scene)
    await engine.dispose()
    assert eta == pytest.approx(0.65 * cost, abs=1.0)
    coords = geo["coordinates"]
    assert coords[0] == pytest.approx(list(car)) and coords[-1] == pytest.approx(list(scene))
    assert not any(c == pytest.approx(list(start_node), abs=1e-6) for c in coords)


async def test_foot_patrols_walk_any_street_and_drones_fly_straight(demo_db):
    """A unit's kind decides how it gets there: an officer on foot walks along any street either way at
    walking speed, a drone flies the straight line, a car keeps to one-way streets."""
    from pyproj import Geod

    from app.db.engine import make_engine
    from app.domain import dispatch as flow
    from app.services import dispatch as svc

    engine = make_engine(demo_db)
    async with engine.begin() as conn:
        # 90 % along a one-way street, the scene at 10 % of it: behind, against the traffic.
        e = (await conn.exec_driver_sql(
            "SELECT length_m, ST_X(ST_LineInterpolatePoint(geom, 0.9)), ST_Y(ST_LineInterpolatePoint(geom, 0.9)),"
            " ST_X(ST_LineInterpolatePoint(geom, 0.1)), ST_Y(ST_LineInterpolatePoint(geom, 0.1))"
            " FROM road_edge WHERE cost > 0 AND reverse_cost < 0 AND length_m > 100 ORDER BY id LIMIT 1")).one()
        length, unit, scene = e[0], (e[1], e[2]), (e[3], e[4])
        drive, walk, fly = await svc.road_etas(conn, [unit] * 3, scene, None, ["drive", "walk", "fly"])
        driven = await svc.route(conn, unit, scene)
        walked = await svc.route(conn, unit, scene, mode="walk")
        flown = await svc.route(conn, unit, scene, mode="fly")
    await engine.dispose()
    geod = Geod(ellps="WGS84")

    def metres(geo) -> float:
        xs, ys = zip(*geo["coordinates"], strict=True)
        return geod.line_length(xs, ys)

    assert walk == pytest.approx(0.8 * length / (flow.WALK_KMH / 3.6), rel=0.02)
    assert metres(walked) == pytest.approx(0.8 * length, rel=0.02)  # straight back along the street
    assert driven is None or metres(driven) > 1.5 * metres(walked)  # the car goes round the block
    assert drive is None or drive > 0
    straight = geod.inv(*unit, *scene)[2]
    assert fly == pytest.approx(straight / (flow.FLY_KMH / 3.6), abs=0.1)
    assert flown["coordinates"] == [list(unit), list(scene)]
