"""Trust (issue "every scope holds everywhere"): per-grant secrecy, scoped audit and look-ups, objects placed
by where they are, and a platform that always keeps an administrator. Each test failed on the code before."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import login

NW, NE = "990101", "990102"


def _sql(db: str, sql: str, *args):
    with psycopg.connect(db.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        cur = conn.execute(sql, args)
        return cur.fetchall() if cur.description else None


async def _user(api, name: str, role: str, division: str, *grants: dict) -> dict:
    admin = await login(api, "admin")
    r = await api.post("/api/v1/users", headers=admin, json={
        "username": name, "password": f"{name}-password", "role": role, "division_code": division})
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    for g in grants:
        r = await api.post(f"/api/v1/users/{uid}/grants", headers=admin, json=g)
        assert r.status_code == 201, r.text
    return await login(api, name, f"{name}-password")


@pytest.fixture(scope="module")
def secret_cameras(demo_db):
    """One camera in each of two districts made secret (level 2 in NW, level 1 in NE)."""
    nw = _sql(demo_db, "SELECT id, ST_X(location), ST_Y(location) FROM camera WHERE division_code LIKE %s "
                       "AND status = 'online' ORDER BY id LIMIT 1", NW + "%")[0]
    ne = _sql(demo_db, "SELECT id, ST_X(location), ST_Y(location) FROM camera WHERE division_code LIKE %s "
                       "AND status = 'online' ORDER BY id LIMIT 1", NE + "%")[0]
    _sql(demo_db, "UPDATE camera SET secrecy = 2 WHERE id = %s", nw[0])
    _sql(demo_db, "UPDATE camera SET secrecy = 1 WHERE id = %s", ne[0])
    return {"nw": nw, "ne": ne}


async def test_secrecy_is_per_grant(api, secret_cameras):
    """Secrecy 2 in NW opens NW's secret camera, not NE's secrecy-1 camera where the user holds secrecy 0."""
    h = await _user(api, "split_secrecy", "dispatcher", NE, {"role_name": "dispatcher", "division_code": NW,
                                                             "max_secrecy": 2})
    nw, ne = secret_cameras["nw"], secret_cameras["ne"]
    ids = {f["id"] for f in (await api.get("/api/v1/cameras", headers=h, params={"limit": 5000})).json()["features"]}
    assert nw[0] in ids and ne[0] not in ids
    assert (await api.get(f"/api/v1/cameras/{ne[0]}", headers=h)).status_code == 404
    seen = (await api.get("/api/v1/callup/seeing", headers=h, params={"lon": ne[1], "lat": ne[2]})).json()
    assert ne[0] not in {c["id"] for part in ("cameras", "others") for c in seen.get(part, [])}
    r = await api.post("/api/v1/callup", headers=h, json={"camera_ids": [ne[0]], "reason": "incident check"})
    assert r.status_code == 404
    # The same user may not hand out more secrecy in NE than they hold there.
    uid = _sql_user_id(api, "split_secrecy")
    r = await api.post(f"/api/v1/users/{uid}/grants", headers=h, json={
        "role_name": "dispatcher", "division_code": NE, "max_secrecy": 1})
    assert r.status_code == 403


def _sql_user_id(api, name: str) -> int:
    return _sql(api.db, "SELECT id FROM app_user WHERE username = %s", name)[0][0]


@pytest.fixture(autouse=True, scope="module")
def _db_on_client(api, demo_db):
    api.db = demo_db


async def test_audit_is_scoped_to_the_readers_divisions(api, secret_cameras):
    admin = await login(api, "admin")
    # A call-up of an NE camera by a city dispatcher, and a user created in NW.
    disp = await login(api, "dispatcher")
    cam = _sql(api.db, "SELECT id FROM camera WHERE division_code LIKE %s AND secrecy = 0 LIMIT 1", NE + "%")[0][0]
    r = await api.post("/api/v1/callup", headers=disp, json={"camera_ids": [cam], "reason": "incident check"})
    assert r.status_code == 200, r.text
    nw_admin = await _user(api, "nw_auditing_admin", "admin", NW)
    rows = (await api.get("/api/v1/audit", headers=nw_admin, params={"limit": 1000})).json()["items"]
    assert rows, "a division administrator reads the events of their subtree"
    assert all(any(d.startswith(NW) for d in (r["divisions"] or [])) for r in rows)
    assert not any(r["action"] == "video_callup" and r["object_id"] == str(cam) for r in rows)
    everything = (await api.get("/api/v1/audit", headers=admin, params={"limit": 1000})).json()["items"]
    assert any(r["action"] == "video_callup" and r["object_id"] == str(cam) for r in everything)
    assert (await api.get("/api/v1/audit/verify", headers=nw_admin)).status_code == 403
    assert (await api.get("/api/v1/audit/verify", headers=admin)).json()["intact"]


async def test_place_search_is_scoped(api):
    name = _sql(api.db, "SELECT name FROM key_area WHERE division_code LIKE %s AND length(name) > 5 "
                        "AND name NOT IN (SELECT name FROM key_area WHERE division_code NOT LIKE %s) LIMIT 1",
                NE + "%", NE + "%")[0][0]
    admin, nw = await login(api, "admin"), await login(api, "planner_nw")
    assert any(p["name"] == name for p in (await api.get("/api/v1/incidents/places", headers=admin,
                                                         params={"q": name})).json())
    assert not any(p["name"] == name and p["kind"] == "key_area"
                   for p in (await api.get("/api/v1/incidents/places", headers=nw, params={"q": name})).json())
    # Streets: only those crossing the caller's divisions.
    street = _sql(api.db, """SELECT e.name FROM road_edge e WHERE e.name IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM division d WHERE d.code LIKE %s AND d.boundary IS NOT NULL AND ST_Intersects(d.boundary, e.geom))
        GROUP BY e.name LIMIT 1""", NW + "%")[0][0]
    assert not any(p["name"] == street for p in (await api.get("/api/v1/incidents/places", headers=nw,
                                                               params={"q": street})).json())


async def test_objects_are_placed_by_where_they_are(api):
    h = await _user(api, "nw_device_admin", "admin", NW)
    ne_pt = _sql(api.db, "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(boundary) p FROM division "
                         "WHERE code = %s) s", NE)[0]
    nw_pt = _sql(api.db, "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(boundary) p FROM division "
                         "WHERE code = %s) s", NW + "001001")[0]
    # An NE location labelled NW: the label is checked against the place (422), the place against the scope (403).
    r = await api.post("/api/v1/cameras", headers=h, json={"name": "x", "lon": ne_pt[0], "lat": ne_pt[1],
                                                          "division_code": NW})
    assert r.status_code == 422, r.text
    r = await api.post("/api/v1/cameras", headers=h, json={"name": "x", "lon": ne_pt[0], "lat": ne_pt[1]})
    assert r.status_code == 403, r.text
    r = await api.post("/api/v1/cameras", headers=h, json={"name": "mine", "lon": nw_pt[0], "lat": nw_pt[1],
                                                          "division_code": NW})
    assert r.status_code == 201, r.text
    cam = r.json()["id"]
    assert _sql(api.db, "SELECT division_code FROM camera WHERE id = %s", cam)[0][0] == NW + "001001"
    r = await api.patch(f"/api/v1/cameras/{cam}", headers=h, json={"lon": ne_pt[0], "lat": ne_pt[1]})
    assert r.status_code == 403
    assert _sql(api.db, "SELECT division_code FROM camera WHERE id = %s", cam)[0][0] == NW + "001001"
    # Key areas: a whole-world polygon is no key area; one reaching into NE is outside an NW admin's divisions.
    world = {"type": "Polygon", "coordinates": [[[-180, -85], [180, -85], [180, 85], [-180, 85], [-180, -85]]]}
    admin = await login(api, "admin")
    r = await api.post("/api/v1/key-areas", headers=admin, json={"name": "world", "category": "square",
                                                                "geometry": world})
    assert r.status_code == 422, r.text
    x1, y1, x2, y2 = nw_pt[0], nw_pt[1], ne_pt[0], ne_pt[1]
    straddle = {"type": "Polygon", "coordinates": [[[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]]}
    r = await api.post("/api/v1/key-areas", headers=h, json={"name": "straddle", "category": "square",
                                                            "geometry": straddle})
    assert r.status_code == 403, r.text


async def test_the_platform_keeps_an_administrator(api):
    admin = await login(api, "admin")
    root = _sql(api.db, "SELECT g.id FROM \"grant\" g JOIN app_user u ON u.id = g.user_id WHERE u.username = 'admin' "
                        "AND g.role_name = 'admin' AND g.division_code = '000000'")[0][0]
    r = await api.delete(f"/api/v1/users/grants/{root}", headers=admin)
    assert r.status_code == 409, r.text
    # With a second platform administrator, one may go; then the other is the last again.
    await _user(api, "second_root", "admin", "000000")
    second = _sql_user_id(api, "second_root")
    r = await api.put(f"/api/v1/users/{second}/active", headers=admin, json={"is_active": False})
    assert r.status_code == 204
    assert (await api.delete(f"/api/v1/users/grants/{root}", headers=admin)).status_code == 409
    assert _sql(api.db, "SELECT status FROM \"grant\" WHERE id = %s", root)[0][0] == "active"
