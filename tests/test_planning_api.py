"""Planner HTTP routes over a real database (the lead wires auth; here the router alone)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.api.routes import planning
from app.db.engine import make_engine


@pytest.fixture(scope="module")
async def client(db_url):
    eng = make_engine(db_url, pool_size=3, max_overflow=2)
    async with eng.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO division (code, name, level, boundary) VALUES ('810000', 'HK', 2,"
                " ST_Multi(ST_MakeEnvelope(113.9, 21.9, 114.1, 22.1, 4326)))"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO key_area (id, name, category, area) VALUES"
                " (1, 'sq', 'square', ST_Multi(ST_MakeEnvelope(114.0, 22.0, 114.001, 22.001, 4326)))"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO camera (id, gb_id, name, location, view) VALUES (1,"
                " '81000000001320000001', 'c1',"
                " ST_SetSRID(ST_MakePoint(114.0, 22.0), 4326), ST_MakeEnvelope(113.999, 21.999,"
                " 114.0005, 22.002, 4326))"
            )
        )
    app = FastAPI()
    app.state.engine = eng
    app.include_router(planning.router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c
    await eng.dispose()


async def test_job_progress_then_instant_reads(client):
    r = await client.post("/api/v1/planning/jobs", json={"kind": "full"})
    assert r.status_code == 202
    job_id = r.json()["id"]
    for _ in range(200):
        job = (await client.get(f"/api/v1/planning/jobs/{job_id}")).json()
        if job["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "done", job["error"]
    kpi = (await client.get("/api/v1/planning/kpi")).json()
    assert kpi["items"][0]["key_area_coverage_rate"] == pytest.approx(0.5, abs=2e-3)
    cov = (await client.get("/api/v1/planning/coverage/key-areas", params={"below": 0.9})).json()
    assert cov["count"] == 1 and cov["items"][0]["camera_ids"] == [1]
    fc = (await client.get("/api/v1/planning/layers/uncovered.geojson")).json()
    assert fc["features"][0]["geometry"]["type"] == "MultiPolygon"
    csv_text = (await client.get("/api/v1/planning/tables/kpi.csv")).text
    assert csv_text.startswith("division_code,")


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
