"""Vector tiles: content, scoping, ETag/304, gzip, empty 204, cache bound and invalidation; KPI summary."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.config import Settings
from app.services.tiles import TileCache
from tests.mvt import mvt_features, tile_of

CENTER = (24.944, 60.171)  # the demo city's centre


@pytest.fixture(scope="module")
def client(demo_db_url):
    with TestClient(create_app(Settings(demo_mode=True), demo_db_url)) as c:
        yield c


_TOKENS: dict[str, dict] = {}


def login(client, user: str) -> dict:
    """One login per user and module (the API rate-limits logins)."""
    if user in _TOKENS:
        return _TOKENS[user]
    r = client.post("/api/v1/auth/login", json={"username": user, "password": "sharpeyes-demo"})
    assert r.status_code == 200, r.text
    _TOKENS[user] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return _TOKENS[user]


def get_tile(client, headers, layer, z=15, extra=None):
    x, y = tile_of(*CENTER, z)
    return client.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf", headers={**headers, **(extra or {})})


def test_tiles_require_authentication(client):
    x, y = tile_of(*CENTER, 15)
    assert client.get(f"/tiles/roads/15/{x}/{y}.pbf").status_code == 401
    assert client.get("/tiles/style.json").status_code == 401


def test_style_lists_existing_layers(client):
    h = login(client, "commander")
    style = client.get("/tiles/style.json", headers=h).json()
    ids = [layer["id"] for layer in style["layers"]]
    assert ids == ["roads", "divisions", "buildings", "key_areas", "cameras", "camera_views",
                   "water", "green", "rail", "road_labels", "poi"]
    assert "OpenStreetMap" in style["attribution"]


@pytest.mark.parametrize("layer", ["roads", "divisions", "buildings", "key_areas", "cameras"])
def test_tile_has_features_gzip_and_etag(client, layer):
    h = login(client, "commander")
    r = get_tile(client, h, layer, z=15 if layer == "buildings" else 14, extra={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert r.headers["content-encoding"] == "gzip"
    assert mvt_features(r.content) > 0  # httpx decoded the gzip body
    etag = r.headers["etag"]
    again = get_tile(client, h, layer, z=15 if layer == "buildings" else 14, extra={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""


def test_plain_body_without_gzip_and_no_query_token(client):
    h = login(client, "commander")
    token = h["Authorization"].split()[1]
    x, y = tile_of(*CENTER, 14)
    # A bearer token in the URL is not read (it would land in access logs): the map sends the header.
    assert client.get(f"/tiles/roads/14/{x}/{y}.pbf?access_token={token}").status_code == 401
    r = client.get(f"/tiles/roads/14/{x}/{y}.pbf", headers={**h, "Accept-Encoding": "identity"})
    assert r.status_code == 200 and "content-encoding" not in r.headers
    assert mvt_features(r.content) > 0


def test_empty_tile_is_204_and_bad_coordinates_rejected(client):
    h = login(client, "commander")
    assert client.get("/tiles/roads/15/0/0.pbf", headers=h).status_code == 204
    assert client.get("/tiles/roads/3/9/0.pbf", headers=h).status_code == 422
    assert client.get("/tiles/nope/3/1/1.pbf", headers=h).status_code == 404


def test_camera_tiles_are_scoped(client):
    """planner_nw sees only the North-West district's cameras; commander sees the whole city."""
    city, nw = login(client, "commander"), login(client, "planner_nw")
    x, y = tile_of(*CENTER, 10)  # one tile holding the whole demo city
    n_city = mvt_features(client.get(f"/tiles/cameras/10/{x}/{y}.pbf", headers=city).content)
    r = client.get(f"/tiles/cameras/10/{x}/{y}.pbf", headers=nw)
    n_nw = mvt_features(r.content) if r.status_code == 200 else 0
    listed_nw = client.get("/api/v1/cameras?limit=5000", headers=nw).json()["total"]
    listed_city = client.get("/api/v1/cameras?limit=5000", headers=city).json()["total"]
    assert n_city == listed_city == 221
    assert 0 < n_nw == listed_nw < n_city


def test_camera_write_invalidates_tile(client):
    admin = login(client, "admin")
    first = get_tile(client, admin, "cameras", z=16)
    n0 = mvt_features(first.content) if first.status_code == 200 else 0
    lon, lat = CENTER
    r = client.post("/api/v1/cameras", headers=admin, json={"name": "瓦片测试", "lon": lon, "lat": lat})
    assert r.status_code == 201, r.text
    second = get_tile(client, admin, "cameras", z=16, extra={"If-None-Match": first.headers["etag"]})
    assert second.status_code == 200 and mvt_features(second.content) == n0 + 1
    assert client.delete(f"/api/v1/cameras/{r.json()['id']}", headers=admin).status_code == 204
    third = get_tile(client, admin, "cameras", z=16)
    assert mvt_features(third.content) == n0 if third.status_code == 200 else n0 == 0


def test_cache_is_bounded():
    cache = TileCache(max_bytes=10_000)
    from app.domain.access import Scope
    from app.services.tiles import LAYERS
    scope = Scope.everywhere_up_to(0)
    for i in range(100):
        cache.put(cache.key(LAYERS["roads"], 15, i, 0, scope), bytes(range(256)) * 8)
    assert cache.size_bytes <= 10_000 and 0 < len(cache) < 100
    assert cache.get(cache.key(LAYERS["roads"], 15, 99, 0, scope)) is not None
    assert cache.get(cache.key(LAYERS["roads"], 15, 0, 0, scope)) is None  # evicted first


def test_kpi_summary_matches_sql_and_scope(client):
    city = client.get("/api/v1/kpi/summary", headers=login(client, "commander")).json()
    assert city["cameras"] == 221 and city["online_rate"] == 1.0 and city["key_areas"] == 186
    assert 0 <= city["key_areas_reached"] <= 186
    assert city["open_incidents"] == 0 and city["units_available"] == 0
    nw = client.get("/api/v1/kpi/summary", headers=login(client, "planner_nw")).json()
    assert 0 < nw["cameras"] < city["cameras"]
    assert client.get("/api/v1/kpi/summary").status_code == 401
