"""Read replica (DATABASE_READ_URL, issue #19) against a real second database: a copy of the demo city made
"replica", changed on the replica only. Tiles and lists show the replica's rows; writes, single-object reads,
sign-in and rights stay on the primary; a replica that is down is skipped; unset means one pool."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.api.main import create_app
from app.config import Settings
from app.db.engine import make_read_engine
from tests.conftest import _admin, _url, fresh_db
from tests.live_servers import free_port
from tests.mvt import mvt_decode, tile_of

REPLICA_NAME = "replica-only name"
REPLICA_DIVISION = "replica-only division"


@pytest.fixture(scope="module")
def replica(demo_template: str):
    """A second database with the demo city (the same template as the module's primary), then changed: one
    camera renamed, one division renamed, and every user disabled, which the primary knows nothing of."""
    name = fresh_db(demo_template)
    url = _url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        cam_id, lon, lat = conn.execute(
            "SELECT id, ST_X(location), ST_Y(location) FROM camera"
            " ORDER BY location <-> ST_SetSRID(ST_MakePoint(24.944, 60.171), 4326) LIMIT 1").fetchone()
        conn.execute("UPDATE camera SET name = %s WHERE id = %s", (REPLICA_NAME, cam_id))
        div = conn.execute("SELECT code FROM division ORDER BY level DESC, code LIMIT 1").fetchone()[0]
        conn.execute("UPDATE division SET name = %s WHERE code = %s", (REPLICA_DIVISION, div))
        conn.execute("UPDATE app_user SET is_active = false")  # a rights lookup on the replica would be 401
    try:
        yield {"url": url, "camera": cam_id, "lon": lon, "lat": lat, "division": div}
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def client(demo_db_url, replica):
    app = create_app(Settings(demo_mode=True, DATABASE_READ_URL=replica["url"]), demo_db_url)
    with TestClient(app) as c:
        yield c


def login(client, user: str = "admin") -> dict:
    r = client.post("/api/v1/auth/login", json={"username": user, "password": "sharpeyes-demo"})
    assert r.status_code == 200, r.text  # sign-in on the primary: the replica's users are all disabled
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def camera_names(client, headers) -> dict[int, str]:
    r = client.get("/api/v1/cameras", params={"limit": 5000}, headers=headers)
    assert r.status_code == 200, r.text
    return {f["id"]: f["properties"]["name"] for f in r.json()["features"]}


def test_lists_and_tiles_read_the_replica(client, replica):
    h = login(client)
    assert camera_names(client, h)[replica["camera"]] == REPLICA_NAME
    r = client.get("/api/v1/divisions", params={"geometry": "false", "limit": 5000}, headers=h)
    assert r.status_code == 200, r.text
    assert {f["id"]: f["properties"]["name"] for f in r.json()["features"]}[replica["division"]] == REPLICA_DIVISION
    # The tile route (a principal not in the cache: the fast path hands the request to it).
    client.app.state.principals.invalidate()
    x, y = tile_of(replica["lon"], replica["lat"], 15)
    r = client.get(f"/tiles/cameras/15/{x}/{y}.pbf", headers=h)
    assert r.status_code == 200, r.text
    names = {f["id"]: f["name"] for f in mvt_decode(r.content)["cameras"]}
    assert names[replica["camera"]] == REPLICA_NAME


def test_writes_and_single_reads_stay_on_the_primary(client, replica, demo_db_url):
    h = login(client)
    cam = replica["camera"]
    before = client.get(f"/api/v1/cameras/{cam}", headers=h)
    assert before.status_code == 200 and before.json()["properties"]["name"] != REPLICA_NAME  # the primary's
    r = client.patch(f"/api/v1/cameras/{cam}", json={"name": "written to the primary"}, headers=h)
    assert r.status_code == 204, r.text
    with psycopg.connect(demo_db_url) as p, psycopg.connect(replica["url"]) as rep:
        assert p.execute("SELECT name FROM camera WHERE id = %s", (cam,)).fetchone()[0] == "written to the primary"
        assert rep.execute("SELECT name FROM camera WHERE id = %s", (cam,)).fetchone()[0] == REPLICA_NAME
    # Read your write: the object's own GET is the primary's; the list is the replica's (no replication here).
    assert client.get(f"/api/v1/cameras/{cam}", headers=h).json()["properties"]["name"] == "written to the primary"
    assert camera_names(client, h)[cam] == REPLICA_NAME


def test_rights_are_read_on_the_primary(client, demo_db_url):
    h = login(client, "officer")
    assert client.get("/api/v1/cameras", params={"limit": 1}, headers=h).status_code == 200
    with psycopg.connect(demo_db_url, autocommit=True) as p:  # disabled on the primary, active nowhere else...
        p.execute("UPDATE app_user SET is_active = false WHERE username = 'officer'")
    client.app.state.principals.invalidate()
    # ...and refused at once: the list reads the replica, but who may read it is the primary's answer.
    assert client.get("/api/v1/cameras", params={"limit": 1}, headers=h).status_code == 401


async def test_the_replica_pool_refuses_writes(client, replica):
    assert client.app.state.runtime.read_engine is not None  # the app opened one
    reader = make_read_engine(replica["url"])  # the same kind of pool, on this test's event loop
    try:
        async with reader.connect() as conn:
            with pytest.raises(DBAPIError, match="read-only"):
                await conn.execute(text("UPDATE camera SET name = 'x' WHERE id = :i"), {"i": replica["camera"]})
    finally:
        await reader.dispose()


def test_a_replica_that_is_down_is_skipped(demo_db_url):
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"  # nothing listens: refused at once
    with TestClient(create_app(Settings(demo_mode=True, DATABASE_READ_URL=down), demo_db_url)) as c:
        h = login(c)
        r = c.get("/api/v1/cameras", params={"limit": 5000}, headers=h)
        assert r.status_code == 200 and r.json()["features"]
        assert REPLICA_NAME not in {f["properties"]["name"] for f in r.json()["features"]}


def test_unset_means_one_pool(demo_db_url):
    assert Settings(demo_mode=True, DATABASE_READ_URL="").database_read_url == ""
    with TestClient(create_app(Settings(demo_mode=True), demo_db_url)) as c:
        assert c.app.state.runtime.read_engine is None
        assert c.get("/api/v1/cameras", params={"limit": 1}, headers=login(c)).status_code == 200
