"""Planning outputs are cut to the caller's scope, jobs belong to their owner, bad job parameters are 422,
and a KPI with nothing to measure is "no data", not 0 % (issue #15), on the demo city over the whole app.

planner plans the city 990100; planner_nw only its district 990101; planner_nw2 holds the same grant as
planner_nw (same scope: may read planner_nw's jobs).
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import text

from app.db.engine import make_engine
from app.services.users import create_user
from tests.conftest import login
from tests.waiting import async_wait_for

NW = "990101"
PW = "planner-nw2-pw"


async def _wait(api, job_id: int, headers: dict) -> dict:
    async def finished() -> dict | None:
        job = (await api.get(f"/api/v1/planning/jobs/{job_id}", headers=headers)).json()
        return job if job["status"] in ("done", "failed") else None

    return await async_wait_for(finished, timeout=120, interval=0.1, what=f"job {job_id} to finish")


@pytest.fixture(scope="module")
async def env(api, demo_db):
    eng = make_engine(demo_db)
    async with eng.begin() as conn:
        await create_user(conn, "planner_nw2", PW, "planner", NW)
        # A community without any camera or key area: its rates have nothing to measure.
        empty = (await conn.execute(text(
            "SELECT d.code FROM division d WHERE d.level = 6 AND NOT EXISTS (SELECT 1 FROM camera c"
            " WHERE c.division_code = d.code) AND NOT EXISTS (SELECT 1 FROM key_area k WHERE"
            " k.division_code = d.code) ORDER BY d.code LIMIT 1"))).scalar_one()
        await create_user(conn, "planner_empty", PW, "planner", empty)
    city = await login(api, "planner")
    nw = await login(api, "planner_nw")
    r = await api.post("/api/v1/planning/jobs", json={"kind": "full"}, headers=city)
    assert r.status_code == 202, r.text
    job = await _wait(api, r.json()["id"], city)
    assert job["status"] == "done", job["error"]
    yield {"engine": eng, "city": city, "nw": nw, "city_job": job, "empty": empty,
           "nw2": await login(api, "planner_nw2", PW), "no_data": await login(api, "planner_empty", PW)}
    await eng.dispose()


async def _in_district(eng, table: str, ids: list[int], geom: str) -> int:
    """How many of ``ids`` lie in (meet) district NW's boundary."""
    async with eng.connect() as conn:
        return (await conn.execute(text(
            f"SELECT count(*) FROM {table} t, division d WHERE d.code = :c AND t.id = ANY(:ids)"
            f" AND ST_Intersects(d.boundary, t.{geom})"), {"c": NW, "ids": ids})).scalar_one()


async def test_layers_are_cut_to_the_district(api, env):
    eng = env["engine"]
    counts = {}
    for layer in ("uncovered", "blind_intersections", "road_gaps", "duplicates", "cameras"):
        city = (await api.get(f"/api/v1/planning/layers/{layer}.geojson", headers=env["city"])).json()["features"]
        nw = (await api.get(f"/api/v1/planning/layers/{layer}.geojson", headers=env["nw"])).json()["features"]
        counts[layer] = (len(city), len(nw))
        ids = [f["properties"]["id"] for f in nw]
        if layer in ("uncovered", "duplicates", "cameras"):
            assert all(f["properties"]["division_code"].startswith(NW) for f in nw), layer
        if layer == "blind_intersections":
            assert await _in_district(eng, "road_node", ids, "location") == len(ids) > 0
        if layer == "road_gaps":
            assert await _in_district(eng, "road_edge", ids, "geom") == len(ids) > 0
        assert len(nw) < len(city), layer
    # The duplicates' partners outside the district are not named.
    async with eng.connect() as conn:
        out = set((await conn.execute(text(
            "SELECT id FROM camera WHERE division_code IS NULL OR division_code NOT LIKE :p"), {"p": NW + "%"})
        ).scalars())
    nw_dups = (await api.get("/api/v1/planning/layers/duplicates.geojson", headers=env["nw"])).json()["features"]
    assert not {f["properties"]["other_camera_id"] for f in nw_dups} & out


async def test_tables_and_key_area_list_are_cut_to_the_district(api, env):
    eng = env["engine"]
    for table in ("kpi", "key_area_coverage", "blind_intersections", "road_gaps", "duplicates"):
        city = list(csv.DictReader(io.StringIO(
            (await api.get(f"/api/v1/planning/tables/{table}.csv", headers=env["city"])).text)))
        nw = list(csv.DictReader(io.StringIO(
            (await api.get(f"/api/v1/planning/tables/{table}.csv", headers=env["nw"])).text)))
        assert len(nw) < len(city), table
        if "division_code" in (nw[0] if nw else {}):
            assert all(r["division_code"].startswith(NW) for r in nw), table
        if table == "blind_intersections":
            ids = sorted({int(r["node_id"]) for r in nw})
            assert await _in_district(eng, "road_node", ids, "location") == len(ids) > 0
        if table == "road_gaps":
            ids = sorted({int(r["edge_id"]) for r in nw})
            assert await _in_district(eng, "road_edge", ids, "geom") == len(ids) > 0
    # Scoped before the LIMIT: the district's worst areas, not the city's worst filtered afterwards.
    items = (await api.get("/api/v1/planning/coverage/key-areas", params={"limit": 5},
                           headers=env["nw"])).json()["items"]
    assert len(items) == 5 and all(i["division_code"].startswith(NW) for i in items)
    kpis = (await api.get("/api/v1/planning/kpi", headers=env["nw"])).json()["items"]
    assert kpis and all(i["code"].startswith(NW) for i in kpis)


async def test_report_page_counts_only_the_district(api, env):
    def legend(page: str) -> dict[str, int]:
        return {m[0]: int(m[1].replace(",", "")) for m in re.findall(
            r"<li data-layer='(\w+)'>.*?<span>([\d,]+)</span></li>", page)}

    city = legend((await api.get("/api/v1/planning/report/index.html", headers=env["city"])).text)
    page = (await api.get("/api/v1/planning/report/index.html", headers=env["nw"])).text
    nw = legend(page)
    for layer in ("blind_intersections", "road_gaps", "uncovered", "duplicates"):
        n = len((await api.get(f"/api/v1/planning/layers/{layer}.geojson", headers=env["nw"])).json()["features"])
        assert nw[layer] == n < city[layer], layer
    assert ">990100<" not in page and "Helsinki" not in page.split("report-kpi")[1].split("</table>")[0]


async def test_placement_stays_in_the_district(api, env):
    r = await api.post("/api/v1/planning/placement", json={"budget": 2, "division_code": "990102"},
                       headers=env["nw"])
    assert r.status_code == 404, r.text
    r = await api.post("/api/v1/planning/jobs", json={"kind": "placement", "params": {
        "budget": 2, "division_code": "990102"}}, headers=env["nw"])
    assert r.status_code == 404, r.text
    r = await api.post("/api/v1/planning/placement", json={"budget": 3, "exact": False}, headers=env["nw"])
    assert r.status_code == 200, r.text
    sites = r.json()["sites"]
    assert len(sites) == 3
    async with env["engine"].connect() as conn:
        inside = (await conn.execute(text(
            "SELECT count(*) FROM division d, unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) AS s(x, y)"
            " WHERE d.code = :c AND ST_DWithin(d.boundary::geography,"
            " ST_SetSRID(ST_MakePoint(s.x, s.y), 4326)::geography, 60)"),
            {"x": [s["lon"] for s in sites], "y": [s["lat"] for s in sites], "c": NW})).scalar_one()
    assert inside == 3


async def test_jobs_belong_to_their_owner_and_scope(api, env):
    city_job = env["city_job"]["id"]
    assert (await api.get(f"/api/v1/planning/jobs/{city_job}", headers=env["nw"])).status_code == 404
    admin = await login(api, "admin")
    assert (await api.get(f"/api/v1/planning/jobs/{city_job}", headers=admin)).status_code == 404
    r = await api.post("/api/v1/planning/jobs", json={"kind": "duplicates"}, headers=env["nw"])
    assert r.status_code == 202, r.text
    job = await _wait(api, r.json()["id"], env["nw"])
    assert job["status"] == "done", job["error"]
    # Same grant, same scope: a colleague reads it; the city planner (another scope) does not.
    assert (await api.get(f"/api/v1/planning/jobs/{job['id']}", headers=env["nw2"])).status_code == 200
    assert (await api.get(f"/api/v1/planning/jobs/{job['id']}", headers=env["city"])).status_code == 404
    # Its result counts the district's duplicates, not the city's.
    nw_dups = (await api.get("/api/v1/planning/layers/duplicates.geojson", headers=env["nw"])).json()["features"]
    assert job["result"] == {"duplicates": len(nw_dups)}
    assert env["city_job"]["result"]["duplicates"] > len(nw_dups)
    # The city job's coverage summary is the city's; a district job's would be the district's.
    blind = env["city_job"]["result"]["coverage"]["all"]["blind_intersections"]
    city_fc = (await api.get("/api/v1/planning/layers/blind_intersections.geojson", headers=env["city"])).json()
    assert blind == len(city_fc["features"])


async def test_bad_job_parameters_are_422_and_store_nothing(api, env):
    nw = env["nw"]
    async with env["engine"].connect() as conn:
        before = (await conn.execute(text("SELECT count(*) FROM planning_job"))).scalar_one()
    bad = [
        {"kind": "placement"},  # no budget
        {"kind": "placement", "params": {"budget": "lots"}},
        {"kind": "placement", "params": {"budget": 10_000}},  # past the bound
        {"kind": "placement", "params": {"budget": 2, "time_limit_s": 3600}},
        {"kind": "placement", "params": {"budget": 2, "n_headings": 0}},
        {"kind": "placement", "params": {"budget": 2, "bogus": 1}},
        {"kind": "full", "params": {"window_days": 7}},
        {"kind": "coverage", "params": {"x": 1}},
        {"kind": "kpi", "params": {"window_days": 0}},
        {"kind": "kpi", "params": {"window": 30}},
        {"kind": "bogus"},
        {"kind": "full", "params": []},
    ]
    for body in bad:
        r = await api.post("/api/v1/planning/jobs", json=body, headers=nw)
        assert r.status_code == 422, (body, r.status_code, r.text)
        assert r.json()["error"]["code"] == "invalid_input"
    # The answered-at-once placement gives the exact solver seconds, not minutes.
    r = await api.post("/api/v1/planning/placement", json={"budget": 2, "time_limit_s": 60}, headers=nw)
    assert r.status_code == 422
    async with env["engine"].connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM planning_job"))).scalar_one() == before


async def test_open_jobs_per_user_are_bounded(api, env):
    async with env["engine"].begin() as conn:
        uid = (await conn.execute(text("SELECT id FROM app_user WHERE username = 'planner_nw2'"))).scalar_one()
        await conn.execute(text(
            "INSERT INTO planning_job (kind, status, owner_id, scope) SELECT 'full', 'queued', :u, '[]'"
            " FROM generate_series(1, 3)"), {"u": uid})
    r = await api.post("/api/v1/planning/jobs", json={"kind": "kpi"}, headers=env["nw2"])
    assert r.status_code == 409, r.text
    async with env["engine"].begin() as conn:
        await conn.execute(text("DELETE FROM planning_job WHERE owner_id = :u AND status = 'queued'"), {"u": uid})


async def test_kpis_with_nothing_to_measure_are_no_data(api, env):
    # The wall's and the planner's key-area KPIs are two measures with two names.
    wall = (await api.get("/api/v1/kpi/summary", headers=env["city"])).json()
    assert "key_area_reach_rate" in wall and "key_area_coverage" not in wall
    plan = (await api.get("/api/v1/planning/kpi", params={"parent": "990100"}, headers=env["city"])).json()
    city = next(i for i in plan["items"] if i["code"] == "990100")
    assert "key_area_surface_rate" in city and "key_area_coverage_rate" not in city
    # A community with no camera: every camera rate is null (no data), never 0.
    empty = (await api.get("/api/v1/planning/kpi", headers=env["no_data"])).json()["items"]
    assert [i["code"] for i in empty] == [env["empty"]]
    for k in ("networked_rate", "online_rate", "hd_rate", "retention_compliance_rate", "key_area_surface_rate"):
        assert empty[0][k] is None, k
    # The demo's cameras come from OSM, which records no retention: unknown, not 0 % compliant.
    nw = next(i for i in (await api.get("/api/v1/planning/kpi", headers=env["nw"])).json()["items"] if i["code"] == NW)
    assert nw["counts"]["cameras"] > 0 and nw["retention_compliance_rate"] is None
    summary = (await api.get("/api/v1/kpi/summary", headers=env["no_data"])).json()
    assert summary["cameras"] == 0 and summary["online_rate"] is None and summary["key_area_reach_rate"] is None
    page = (await api.get("/api/v1/planning/report/index.html", headers=env["no_data"])).text
    assert "无数据" in page and "0.0%" not in page
    en = (await api.get("/api/v1/planning/report/index.html", params={"lang": "en"}, headers=env["no_data"])).text
    assert "no data" in en and "Key-area surface covered" in en
