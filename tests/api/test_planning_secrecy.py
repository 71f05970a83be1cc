"""Stored planning figures never reveal a secret camera (issue #15, "Trust"): a key area and an intersection
seen only by a secrecy-5 camera read uncovered / blind to a planner cleared for secrecy 0 (GeoJSON layers,
CSV tables, report counts, division KPIs, the KPI summary, the key-area tile) and covered to one cleared
for secrecy 5 in that district. Each test failed on the code before (figures were computed from every
camera and served to everyone).
"""

from __future__ import annotations

import csv
import io
import re

import psycopg
import pytest

from tests.conftest import login
from tests.mvt import mvt_decode, tile_of
from tests.waiting import async_wait_for

NW = "990101"


def _sql(db: str, sql: str, *args):
    with psycopg.connect(db.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        cur = conn.execute(sql, args)
        return cur.fetchall() if cur.description else None


@pytest.fixture(scope="module")
async def env(api, demo_db):
    # A spot of the district far from every camera and key area: a junction there (the demo's own are all
    # watched), a key area around it and one secrecy-5 PTZ camera seeing both.
    lon, lat = _sql(demo_db, """
        SELECT ST_X(p), ST_Y(p) FROM (SELECT (ST_Dump(ST_GeneratePoints(boundary, 300, 7))).geom AS p
          FROM division WHERE code = %s) s
        WHERE NOT EXISTS (SELECT 1 FROM camera c WHERE ST_DWithin(c.view::geography, p::geography, 150))
          AND NOT EXISTS (SELECT 1 FROM key_area k WHERE ST_DWithin(k.area::geography, p::geography, 150))
        ORDER BY ST_X(p) LIMIT 1""", NW)[0]
    node = _sql(demo_db, """
        INSERT INTO road_node (osm_id, degree, location) VALUES (-777, 3, ST_SetSRID(ST_MakePoint(%s, %s), 4326))
        RETURNING id""", lon, lat)[0][0]
    area = _sql(demo_db, """
        INSERT INTO key_area (name, category, division_code, area) VALUES ('密点周边', 'square', %s,
          ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, 25, 'quad_segs=4')::geometry))
        RETURNING id""", NW, lon, lat)[0][0]
    cam = _sql(demo_db, """
        INSERT INTO camera (gb_id, name, division_code, location, view, kind, fov_deg, range_m, secrecy, status)
        VALUES ('99010113001329000777', '密级摄像机', %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326),
          ST_Buffer(ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, 60)::geometry, 'ptz', 360, 60, 5, 'online')
        RETURNING id""", NW, lon, lat, lon, lat)[0][0]
    admin = await login(api, "admin")
    r = await api.post("/api/v1/users", headers=admin, json={
        "username": "planner_s5", "password": "planner_s5-password", "role": "planner", "division_code": NW})
    assert r.status_code == 201, r.text
    r = await api.post(f"/api/v1/users/{r.json()['id']}/grants", headers=admin,
                       json={"role_name": "planner", "division_code": NW, "max_secrecy": 5})
    assert r.status_code == 201, r.text
    cleared = await login(api, "planner_s5", "planner_s5-password")
    city = await login(api, "planner")
    r = await api.post("/api/v1/planning/jobs", json={"kind": "full"}, headers=city)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]

    async def finished() -> dict | None:
        job = (await api.get(f"/api/v1/planning/jobs/{job_id}", headers=city)).json()
        return job if job["status"] in ("done", "failed") else None

    job = await async_wait_for(finished, timeout=180, interval=0.2, what="the full planning run")
    assert job["status"] == "done", job["error"]
    return {"node": node, "lon": lon, "lat": lat, "area": area, "cam": cam,
            "open": await login(api, "planner_nw"), "cleared": cleared}


def _ids(fc: dict) -> set[int]:
    return {f["properties"]["id"] for f in fc["features"]}


async def test_layers_hide_what_only_a_secret_camera_sees(api, env):
    for who, sees in (("open", False), ("cleared", True)):
        h = env[who]
        uncovered = (await api.get("/api/v1/planning/layers/uncovered.geojson", headers=h)).json()
        blind = (await api.get("/api/v1/planning/layers/blind_intersections.geojson", headers=h)).json()
        assert (env["area"] in _ids(uncovered)) is not sees, who
        assert (env["node"] in _ids(blind)) is not sees, who
        # The key-area list: the figure, and never the secret camera's id for the reader not cleared.
        items = (await api.get("/api/v1/planning/coverage/key-areas", params={"limit": 5000},
                               headers=h)).json()["items"]
        mine = next(i for i in items if i["key_area_id"] == env["area"])
        assert (mine["fraction"] > 0.99) is sees and (env["cam"] in mine["camera_ids"]) is sees, who


async def test_csv_tables_hide_it(api, env):
    for who, sees in (("open", False), ("cleared", True)):
        h = env[who]

        async def table(name: str, h=h) -> list[dict]:
            r = await api.get(f"/api/v1/planning/tables/{name}.csv", headers=h)
            assert r.status_code == 200, r.text
            return list(csv.DictReader(io.StringIO(r.text)))

        rows = [r for r in await table("key_area_coverage") if int(r["key_area_id"]) == env["area"]]
        assert sorted(r["mode"] for r in rows) == ["all", "online"], who  # one figure per mode, never two
        assert all((float(r["fraction"]) > 0.99) is sees for r in rows), who
        blind = {(int(r["node_id"]), r["mode"]) for r in await table("blind_intersections")}
        assert ((env["node"], "all") in blind) is not sees, who
        assert ((env["node"], "online") in blind) is not sees, who


def _legend(page: str) -> dict[str, int]:
    return {m[0]: int(m[1].replace(",", "")) for m in re.findall(
        r"<li data-layer='(\w+)'>.*?<span>([\d,]+)</span></li>", page)}


async def test_report_counts_and_division_kpis_hide_it(api, env):
    pages = {w: _legend((await api.get("/api/v1/planning/report/index.html", headers=env[w])).text)
             for w in ("open", "cleared")}
    for layer in ("uncovered", "blind_intersections"):
        assert pages["open"][layer] == pages["cleared"][layer] + 1, layer
    kpis = {w: {k["code"]: k for k in (await api.get("/api/v1/planning/kpi", headers=env[w])).json()["items"]}
            for w in ("open", "cleared")}
    for code in (NW, "990100"):
        if code not in kpis["open"]:
            continue
        o, c = kpis["open"][code], kpis["cleared"][code]
        assert o["counts"]["cameras"] == c["counts"]["cameras"] - 1, code
        assert o["counts"]["key_area_covered_m2"] < c["counts"]["key_area_covered_m2"] - 1000, code
        assert o["key_area_surface_rate"] < c["key_area_surface_rate"], code
    csv_kpi = {w: {r["division_code"]: r for r in csv.DictReader(io.StringIO(
        (await api.get("/api/v1/planning/tables/kpi.csv", headers=env[w])).text))} for w in ("open", "cleared")}
    assert int(csv_kpi["open"][NW]["cameras"]) == int(csv_kpi["cleared"][NW]["cameras"]) - 1
    # The wall's KPI summary (also the websocket's KPI push): counted from the cameras the reader may see.
    summary = {w: (await api.get("/api/v1/kpi/summary", headers=env[w])).json() for w in ("open", "cleared")}
    assert summary["open"]["cameras"] == summary["cleared"]["cameras"] - 1
    assert summary["open"]["key_areas_reached"] == summary["cleared"]["key_areas_reached"] - 1


async def test_key_area_tile_hides_it(api, env):
    z = 17
    x, y = tile_of(env["lon"], env["lat"], z)
    status = {}
    for who in ("open", "cleared"):
        r = await api.get(f"/tiles/key_areas/{z}/{x}/{y}.pbf", headers=env[who])
        assert r.status_code == 200, r.text
        feats = [f for f in mvt_decode(r.content).get("key_areas", []) if f.get("id") == env["area"]]
        assert len(feats) == 1, who
        status[who] = feats[0]["coverage_status"]
    assert status == {"open": "uncovered", "cleared": "covered"}
