"""The tile cache's fast path and its Redis sharing: a cached tile never crosses scopes (other division:
its own content; no permission: 403; bad or expired token: 401; deactivated: 401 at once), ETag/304 before
FastAPI, versions and tiles shared by processes through Redis, and a change made through one API process seen
by another's tiles."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import jwt
import pytest
import redis
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.config import Settings
from app.domain.access import Scope
from app.services.tile_cache import TileCache
from app.services.tiles import LAYERS
from tests.live_servers import api_process, new_bus_prefix, token
from tests.mvt import mvt_features, tile_of
from tests.waiting import async_wait_for, wait_for

REDIS_URL = "redis://127.0.0.1:6379/0"
CENTER = (24.944, 60.171)
CITY_TILE = "/tiles/cameras/10/{}/{}.pbf".format(*tile_of(*CENTER, 10))  # the whole demo city


@pytest.fixture(scope="module")
def client(demo_db_url):
    redis.Redis.from_url(REDIS_URL).ping()  # precondition: the real Redis is there
    settings = Settings(demo_mode=True, REDIS_URL=REDIS_URL, bus_prefix=new_bus_prefix())
    with TestClient(create_app(settings, demo_db_url)) as c:
        yield c
    forget(settings.bus_prefix)


def forget(prefix: str) -> None:
    r = redis.Redis.from_url(REDIS_URL)
    if keys := r.keys(prefix + "*"):
        r.delete(*keys)


def login(client, user: str, password: str = "sharpeyes-demo") -> dict:
    r = client.post("/api/v1/auth/login", json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def early(client) -> int:
    return client.app.state.tiles.served_early


def count(r) -> int:
    return mvt_features(r.content) if r.status_code == 200 else 0


def test_warm_tile_is_served_before_fastapi_with_etag_and_304(client):
    h = login(client, "commander")
    first = client.get(CITY_TILE, headers={**h, "Accept-Encoding": "gzip"})
    assert first.status_code == 200 and count(first) == 221
    n = early(client)
    again = client.get(CITY_TILE, headers={**h, "Accept-Encoding": "gzip"})
    assert early(client) == n + 1  # the fast path answered
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    for name in ("cache-control", "vary", "content-type", "content-encoding", "x-content-type-options"):
        assert again.headers[name] == first.headers[name], name
    assert again.headers["cache-control"] == "private, no-cache"
    plain = client.get(CITY_TILE, headers={**h, "Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and count(plain) == 221
    etag = first.headers["etag"]
    r = client.get(CITY_TILE, headers={**h, "If-None-Match": f'"other", {etag}'})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    assert early(client) == n + 3


def test_cached_tile_never_crosses_scopes(client):
    city, nw = login(client, "planner"), login(client, "planner_nw")
    n_city = count(client.get(CITY_TILE, headers=city))
    n_nw = count(client.get(CITY_TILE, headers=nw))  # same tile, other division: its own entry
    assert 0 < n_nw < n_city == 221
    n = early(client)
    assert count(client.get(CITY_TILE, headers=nw)) == n_nw  # warm now, still its own
    assert count(client.get(CITY_TILE, headers=city)) == n_city
    assert early(client) == n + 2
    # The city's ETag does not let the district revalidate the city's tile.
    etag = client.get(CITY_TILE, headers=city).headers["etag"]
    assert client.get(CITY_TILE, headers={**nw, "If-None-Match": etag}).status_code == 200


def test_cached_tile_needs_permission_and_a_valid_token(client):
    h = login(client, "commander")
    assert client.get(CITY_TILE, headers=h).status_code == 200  # cached now
    n = early(client)
    assert client.get(CITY_TILE, headers=login(client, "auditor")).status_code == 403  # no VIEW_MAP
    assert client.get(CITY_TILE).status_code == 401
    tok = h["Authorization"].split()[1]
    forged = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
    assert client.get(CITY_TILE, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    claims = jwt.decode(tok, options={"verify_signature": False})
    expired = jwt.encode({**claims, "exp": int(time.time()) - 10}, client.app.state.settings.secret_key,
                         algorithm="HS256")
    assert client.get(CITY_TILE, headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    assert client.get(CITY_TILE, headers={"Authorization": f"Basic {tok}"}).status_code == 401
    assert early(client) == n  # none of these went the fast way


def test_deactivated_user_stops_at_once(client):
    admin = login(client, "admin")
    name = f"tiles_{uuid.uuid4().hex[:6]}"
    r = client.post("/api/v1/users", headers=admin, json={"username": name, "password": "tiles-pass-1",
                                                          "role": "planner", "division_code": "990101"})
    assert r.status_code == 201, r.text
    user = login(client, name, "tiles-pass-1")
    assert client.get(CITY_TILE, headers=user).status_code == 200
    n = early(client)
    assert client.get(CITY_TILE, headers=user).status_code == 200 and early(client) == n + 1
    assert client.put(f"/api/v1/users/{r.json()['id']}/active", headers=admin,
                      json={"is_active": False}).status_code == 204
    assert client.get(CITY_TILE, headers=user).status_code == 401


async def test_two_caches_share_tiles_and_versions_through_redis():
    """Two processes' caches on one Redis: a tile stored by one is found by the other; a bump in one moves
    the other's version with no bus message at all (its periodic re-read)."""
    prefix = new_bus_prefix()
    a = TileCache(redis_url=REDIS_URL, prefix=prefix, refresh_s=0.05)
    b = TileCache(redis_url=REDIS_URL, prefix=prefix, refresh_s=0.05)
    layer, scope = LAYERS["cameras"], Scope.within(["990101"])
    async with a.running(), b.running():
        await async_wait_for(lambda: a._synced and b._synced, what="versions read")
        stored = await a.store(a.key(layer, 16, 1, 2, scope), b"tile-bytes")
        found = await b.lookup(b.key(layer, 16, 1, 2, scope))
        assert found is not None and found.etag == stored.etag and b.shared_hits == 1
        assert await b.lookup(b.key(layer, 16, 1, 2, Scope.within(["990102"]))) is None  # another scope
        before = b.key(layer, 16, 1, 2, scope)
        a.bump("cameras")
        await async_wait_for(lambda: b.key(layer, 16, 1, 2, scope)[1] > before[1], what="b sees a's bump")
        assert await b.lookup(b.key(layer, 16, 1, 2, scope)) is None
        assert a.key(layer, 16, 1, 2, scope)[1] == b.key(layer, 16, 1, 2, scope)[1]
        assert a.versions["camera_views"] == b.versions["camera_views"] > 0
    forget(prefix)


def test_bump_from_another_thread_applies_at_once():
    prefix = new_bus_prefix()
    cache = TileCache(redis_url=REDIS_URL, prefix=prefix)
    layer, scope = LAYERS["cameras"], Scope.within(["990101"])

    async def main():
        async with cache.running():
            before = cache.key(layer, 10, 0, 0, scope)
            await asyncio.to_thread(cache.bump, "cameras")
            assert cache.key(layer, 10, 0, 0, scope) != before  # local epoch: no waiting for Redis
            await async_wait_for(lambda: cache._pending["cameras"] == 0, what="bump in Redis")
            assert cache.key(layer, 10, 0, 0, scope)[1] > before[1]

    asyncio.run(main())
    forget(prefix)


@pytest.fixture(scope="module")
def two_apis(demo_db_url):
    prefix = new_bus_prefix()
    with api_process(demo_db_url, redis_url=REDIS_URL, bus_prefix=prefix) as a, \
            api_process(demo_db_url, redis_url=REDIS_URL, bus_prefix=prefix) as b:
        yield a, b, prefix
    forget(prefix)


def test_camera_change_on_one_process_reaches_the_others_tiles(two_apis):
    a, b, prefix = two_apis
    x, y = tile_of(*CENTER, 16)
    path = f"/tiles/cameras/16/{x}/{y}.pbf"
    cmd_a = {"Authorization": f"Bearer {token(a, 'commander')}"}
    cmd_b = {"Authorization": f"Bearer {token(b, 'commander')}"}
    first = httpx.get(a + path, headers=cmd_a)  # rendered by A, stored in Redis
    n0 = count(first)
    assert redis.Redis.from_url(REDIS_URL).keys(prefix + "tile:cameras:*")
    assert httpx.get(b + path, headers=cmd_b).headers["etag"] == first.headers["etag"]  # B: from Redis
    admin = {"Authorization": f"Bearer {token(a, 'admin')}"}
    r = httpx.post(a + "/api/v1/cameras", headers=admin, json={"name": "瓦片跨进程", "lon": CENTER[0],
                                                                "lat": CENTER[1]})
    assert r.status_code == 201, r.text
    wait_for(lambda: count(httpx.get(b + path, headers=cmd_b)) == n0 + 1, timeout=10, what="B's tile updated")
    assert count(httpx.get(a + path, headers=cmd_a)) == n0 + 1
    assert httpx.delete(f"{a}/api/v1/cameras/{r.json()['id']}", headers=admin).status_code == 204
    wait_for(lambda: count(httpx.get(b + path, headers=cmd_b)) == n0, timeout=10, what="B's tile after delete")
