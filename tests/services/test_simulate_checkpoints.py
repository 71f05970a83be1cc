"""`sharpeyes simulate checkpoints` against a live server (a uvicorn process on a socket): the simulated
checkpoints register with digest auth (the platform-wide password), upload their tollgates on the demo city's
roads and passes with JPEGs; the records are stored and one plate's trajectory has passes and routed legs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from app.simulator.checkpoints import device_ids, jpeg, tollgate_id
from tests.server import running_server

PASSWORD = "sim-checkpoints-pw"


def test_device_ids_and_images():
    assert device_ids("34020000001190000009", 3) == [
        "34020000001190000009", "34020000001190000010", "34020000001190000011"]
    assert tollgate_id("34020000001190000009") == "34020000001210000009"
    img = jpeg("17", 3)
    assert img[:2] == b"\xff\xd8" and img[-2:] == b"\xff\xd9" and len(img) < 10_000


def test_simulated_checkpoints_fill_a_trajectory(demo_db):
    env = {"SHARPEYES_GB_PASSWORD": PASSWORD}
    with running_server(demo_db, env=env) as base:
        r = subprocess.run(
            [sys.executable, "-m", "app.cli", "simulate", "checkpoints", "--base", base,
             "--id", "34020000001190000101", "--password", PASSWORD, "--checkpoints", "4", "--plates", "2",
             "--rate", "20", "--seconds", "4", "--seed", "7"],
            capture_output=True, text=True, timeout=240,
            env={**os.environ, "DATABASE_URL": demo_db, "SHARPEYES_DEMO_MODE": "1", **env})
        assert r.returncode == 0, r.stdout + r.stderr
        assert "4 checkpoints" in r.stdout and "0 refused" in r.stdout, r.stdout
        with psycopg.connect(demo_db.replace("+asyncpg", "").replace("+psycopg", "")) as db:
            stored = db.execute("SELECT count(*), count(DISTINCT tollgate_id), bool_and(images <> '[]'::jsonb) "
                                "FROM viid_motor_vehicle WHERE uploaded_by LIKE '340200000011900001%'").fetchone()
            gates = db.execute("SELECT count(*) FROM viid_tollgate WHERE location IS NOT NULL "
                               "AND tollgate_id LIKE '340200000012100001%'").fetchone()[0]
        assert stored[0] >= 4 and stored[1] >= 2 and stored[2] is True, stored
        assert gates == 4
        tok = httpx.post(f"{base}/api/v1/auth/login", json={"username": "admin", "password": "sharpeyes-demo"}
                         ).json()["access_token"]
        now = datetime.now(UTC)
        r = httpx.get(f"{base}/api/v1/plates/trajectory", headers={"Authorization": f"Bearer {tok}"}, timeout=60,
                      params={"plate": "京A12345", "reason": "simulator test", "since": (now - timedelta(hours=2))
                              .isoformat(), "until": (now + timedelta(minutes=5)).isoformat()})
        assert r.status_code == 200, r.text
        feats = r.json()["features"]
        passes = [f for f in feats if f["properties"]["kind"] == "pass"]
        legs = [f for f in feats if f["properties"]["kind"] == "leg"]
        assert len(passes) >= 2 and legs
        assert all(leg["properties"]["routed"] for leg in legs)
        assert all(not leg["properties"]["implausible"] for leg in legs), [
            (leg["properties"]["distance_m"], leg["properties"]["gap_s"], leg["properties"]["speed_kmh"])
            for leg in legs]
