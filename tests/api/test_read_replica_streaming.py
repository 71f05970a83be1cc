"""DATABASE_READ_URL on a real streaming replica (issue #19): a private primary with the demo city, a hot
standby made from it with pg_basebackup, the API on both. An edit is written to the primary and reaches the
replica's lists by replication; with the standby's replay paused (a lagging replica, made deterministic) the
list still shows the old row while the object's own page and the caller's rights are the primary's."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.config import Settings
from app.db import migrate
from app.db.engine import make_engine
from app.services.demo import load_demo
from tests.pgcluster import PrivateCluster
from tests.waiting import wait_for

DB = "sharpeyes"


def db_url(cluster: PrivateCluster) -> str:
    return f"postgresql://postgres@127.0.0.1:{cluster.port}/{DB}"


async def _load(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await load_demo(conn)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def clusters():
    primary = PrivateCluster().init()
    standby = PrivateCluster()
    try:
        primary.start()
        with psycopg.connect(primary.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DB}")
        migrate.upgrade(db_url(primary))
        asyncio.run(_load(db_url(primary)))
        # A hot standby: a base backup that streams the primary's WAL from then on (-R: standby.signal and
        # primary_conninfo written for it).
        standby._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                     "-D", str(standby.dir), "-R", "-X", "stream", "-c", "fast")
        standby.start()
        yield primary, standby
    finally:
        standby.destroy()
        primary.destroy()


@pytest.fixture(scope="module")
def client(clusters):
    primary, standby = clusters
    app = create_app(Settings(demo_mode=True, DATABASE_READ_URL=db_url(standby)), db_url(primary))
    with TestClient(app) as c:
        yield c


def login(client, user: str = "admin") -> dict:
    r = client.post("/api/v1/auth/login", json={"username": user, "password": "sharpeyes-demo"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def listed_name(client, headers, cam_id: int) -> str:
    r = client.get("/api/v1/cameras", params={"limit": 5000}, headers=headers)
    assert r.status_code == 200, r.text
    return {f["id"]: f["properties"]["name"] for f in r.json()["features"]}[cam_id]


def own_name(client, headers, cam_id: int) -> str:
    return client.get(f"/api/v1/cameras/{cam_id}", headers=headers).json()["properties"]["name"]


def rename(client, headers, cam_id: int, name: str) -> None:
    r = client.patch(f"/api/v1/cameras/{cam_id}", json={"name": name}, headers=headers)
    assert r.status_code == 204, r.text


def first_camera(cluster: PrivateCluster) -> int:
    with psycopg.connect(db_url(cluster)) as conn:
        return conn.execute("SELECT min(id) FROM camera").fetchone()[0]


def test_the_replica_is_a_hot_standby(clusters):
    primary, standby = clusters
    with psycopg.connect(db_url(primary)) as p, psycopg.connect(db_url(standby)) as s:
        assert p.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
        assert s.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        assert s.execute("SELECT count(*) FROM camera").fetchone()[0] == \
            p.execute("SELECT count(*) FROM camera").fetchone()[0] > 0


def test_an_edit_reaches_the_replicas_list_by_replication(client, clusters):
    h = login(client)
    cam = first_camera(clusters[0])
    with psycopg.connect(db_url(clusters[1]), autocommit=True) as s:
        rename(client, h, cam, "replicated edit")
        committed = time.monotonic()
        wait_for(lambda: s.execute("SELECT name FROM camera WHERE id = %s", (cam,)).fetchone()[0] == "replicated edit",
                 timeout=30, interval=0.002, what="the edit on the replica")
        print(f"\nreplication lag, commit → visible on the standby: {(time.monotonic() - committed) * 1000:.1f} ms")
    assert own_name(client, h, cam) == "replicated edit"  # the primary's
    assert listed_name(client, h, cam) == "replicated edit"  # the replica's, once replayed


def test_a_lagging_replica_lags_the_lists_only(client, clusters):
    primary, standby = clusters
    h, officer = login(client), login(client, "officer")
    cam = first_camera(primary)
    with psycopg.connect(db_url(standby), autocommit=True) as s:
        s.execute("SELECT pg_wal_replay_pause()")
        try:
            wait_for(lambda: s.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] == "paused",
                     what="replay paused")
            rename(client, h, cam, "written while the replica lags")
            assert own_name(client, h, cam) == "written while the replica lags"
            assert listed_name(client, h, cam) != "written while the replica lags"  # the replica's old row
            # Rights are the primary's: disabled there, refused at once although the replica still has it.
            with psycopg.connect(db_url(primary), autocommit=True) as p:
                p.execute("UPDATE app_user SET is_active = false WHERE username = 'officer'")
            client.app.state.principals.invalidate()
            assert s.execute("SELECT is_active FROM app_user WHERE username = 'officer'").fetchone()[0] is True
            assert client.get("/api/v1/cameras", params={"limit": 1}, headers=officer).status_code == 401
        finally:
            s.execute("SELECT pg_wal_replay_resume()")
    wait_for(lambda: listed_name(client, h, cam) == "written while the replica lags", timeout=30,
             what="the replica caught up")
