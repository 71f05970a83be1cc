"""Planner HTTP routes over a real database (the lead wires auth; here the router alone)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from app.api.main import create_app
from app.config import Settings
from app.db.engine import make_engine
from app.services.users import create_user
from tests.waiting import async_wait_for


@pytest.fixture(scope="module")
async def client(db_url):
    """The whole app (auth, errors, middleware) over a small hand-built city, as a planner of 810000."""
    eng = make_engine(db_url, pool_size=3, max_overflow=2)
    async with eng.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO division (code, name, level, boundary) VALUES ('810000', 'HK', 2,"
                " ST_Multi(ST_MakeEnvelope(113.9, 21.9, 114.1, 22.1, 4326))), ('820000', 'MO', 2, NULL)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO key_area (id, name, category, area, division_code) VALUES"
                " (1, 'sq', 'square', ST_Multi(ST_MakeEnvelope(114.0, 22.0, 114.001, 22.001, 4326)), '810000')"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO camera (id, gb_id, name, location, view, division_code) VALUES (1,"
                " '81000000001320000001', 'c1',"
                " ST_SetSRID(ST_MakePoint(114.0, 22.0), 4326), ST_MakeEnvelope(113.999, 21.999,"
                " 114.0005, 22.002, 4326), '810000')"
            )
        )
        await conn.execute(text("SELECT setval('camera_id_seq', 10)"))
        await create_user(conn, "hk_planner", "hk-planner-pw", "planner", "810000")
        await create_user(conn, "mo_planner", "mo-planner-pw", "planner", "820000")
    await eng.dispose()
    app = create_app(Settings(demo_mode=True), db_url)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            r = await c.post("/api/v1/auth/login", json={"username": "hk_planner", "password": "hk-planner-pw"})
            c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
            r = await c.post("/api/v1/auth/login", json={"username": "mo_planner", "password": "mo-planner-pw"})
            c.other = {"Authorization": f"Bearer {r.json()['access_token']}"}
            yield c


async def test_job_progress_then_instant_reads(client):
    r = await client.post("/api/v1/planning/jobs", json={"kind": "full"})
    assert r.status_code == 202
    job_id = r.json()["id"]
    async def finished() -> dict | None:
        job = (await client.get(f"/api/v1/planning/jobs/{job_id}")).json()
        return job if job["status"] in ("done", "failed") else None

    job = await async_wait_for(finished, what=f"job {job_id} to finish")
    assert job["status"] == "done", job["error"]
    kpi = (await client.get("/api/v1/planning/kpi")).json()
    assert kpi["items"][0]["key_area_surface_rate"] == pytest.approx(0.5, abs=2e-3)
    cov = (await client.get("/api/v1/planning/coverage/key-areas", params={"below": 0.9})).json()
    assert cov["count"] == 1 and cov["items"][0]["camera_ids"] == [1]
    fc = (await client.get("/api/v1/planning/layers/uncovered.geojson")).json()
    assert fc["features"][0]["geometry"]["type"] == "MultiPolygon"
    csv_text = (await client.get("/api/v1/planning/tables/kpi.csv")).text
    assert csv_text.startswith("division_code,")
    # A planner of another division sees none of it, through any route or export.
    other = client.other
    codes = {i["code"] for i in (await client.get("/api/v1/planning/kpi", headers=other)).json()["items"]}
    assert codes <= {"820000"}
    assert (await client.get("/api/v1/planning/coverage/key-areas", headers=other)).json()["count"] == 0
    assert (await client.get("/api/v1/planning/layers/cameras.geojson", headers=other)).json()["features"] == []
    assert "810000" not in (await client.get("/api/v1/planning/tables/kpi.csv", headers=other)).text
    assert (await client.get("/api/v1/planning/kpi", headers={"Authorization": "Bearer x"})).status_code == 401


async def test_placement_report_and_errors(client):
    r = await client.post("/api/v1/planning/placement", json={"budget": 1, "fov_deg": 360, "range_m": 40})
    assert r.status_code == 200 and len(r.json()["sites"]) == 1
    assert (await client.post("/api/v1/planning/placement", json={"budget": -1})).status_code == 422
    assert (await client.get("/api/v1/planning/jobs/999999")).status_code == 404
    assert (await client.get("/api/v1/planning/layers/nope.geojson")).status_code == 404
    assert (await client.post("/api/v1/planning/jobs", json={"kind": "bogus"})).status_code == 422
    html = (await client.get("/api/v1/planning/report/index.html")).text
    assert "https://" not in html and "http://" not in html and 'src="deckgl/index.js"' in html
    js = await client.get("/api/v1/planning/report/deckgl/index.js")
    assert js.status_code == 200 and "createDeck" in js.text


async def test_accepting_suggestions_creates_planned_cameras(client):
    r = await client.post("/api/v1/planning/accept", json={"sites": [
        {"lon": 114.0003, "lat": 22.0003, "heading_deg": 90, "fov_deg": 60, "range_m": 50},
        {"lon": 114.0006, "lat": 22.0006}]})
    assert r.status_code == 201, r.text
    ids = r.json()["camera_ids"]
    layer = (await client.get("/api/v1/planning/layers/cameras.geojson")).json()
    planned = [f for f in layer["features"] if f["properties"]["id"] in ids]
    assert len(planned) == 2 and {f["properties"]["status"] for f in planned} == {"planned"}
    bad = await client.post("/api/v1/planning/accept", json={"sites": [{"lon": 114.5, "lat": 22.9}]},
                            headers=client.other)
    assert bad.status_code == 403


async def test_report_page_speaks_the_readers_language_and_keeps_user_text_inert(client):
    # A camera whose name tries to close the page's script: it must stay data inside the deck.gl JSON.
    r = await client.post("/api/v1/planning/accept", json={
        "name_prefix": "</script><script>alert(1)</script>", "sites": [{"lon": 114.0009, "lat": 22.0009}]})
    assert r.status_code == 201, r.text
    zh = await client.get("/api/v1/planning/report/index.html")
    assert zh.status_code == 200
    page = zh.text
    assert '<html lang="zh-CN">' in page and "覆盖规划报告" in page and "重点区域盲区" in page
    assert "<script>alert(1)" not in page and "\\u003c/script>\\u003cscript>alert(1)" in page
    # The map is framed on the findings in the page (not a fixed zoom on the cameras' centroid).
    assert "const bounds = [113.99" in page and "spec.initialViewState = fit(" in page
    en = (await client.get("/api/v1/planning/report/index.html", params={"lang": "en"})).text
    assert '<html lang="en">' in en and "Coverage planning report" in en and "Key-area blind spots" in en
    assert "覆盖规划报告" not in en
    bad = await client.get("/api/v1/planning/report/index.html", params={"lang": "fr"})
    assert bad.status_code == 422 and "lang" in bad.text
    # Another division's planner gets the page without this division's findings or KPIs.
    other = (await client.get("/api/v1/planning/report/index.html", headers=client.other)).text
    assert "const bounds = null" in other and "<script>alert" not in other and ">HK<" not in other
