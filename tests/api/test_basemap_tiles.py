"""The base map's tile layers (issue #20) through the HTTP API on the demo city: listed in /tiles/style.json,
served as gzipped MVT with features at central Helsinki, answered by the fast path once warm (ETag/304), the
same for every reader (public geography), and still behind authentication."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.config import Settings
from tests.mvt import mvt_decode, tile_of

BASE_LAYERS = ("water", "green", "rail", "road_labels", "poi")
CENTRAL = tile_of(24.946, 60.171, 15)  # the railway station's tile (tests/services/test_basemap_load.py)


@pytest.fixture(scope="module")
def client(demo_db_url):
    with TestClient(create_app(Settings(demo_mode=True), demo_db_url)) as c:
        yield c


_TOKENS: dict[tuple[int, str], dict] = {}


def login(client, user: str) -> dict:
    """Once per user and app: the login limiter's burst (10) is smaller than this module's sign-ins."""
    key = (id(client), user)
    if key not in _TOKENS:
        r = client.post("/api/v1/auth/login", json={"username": user, "password": "sharpeyes-demo"})
        assert r.status_code == 200, r.text
        _TOKENS[key] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return _TOKENS[key]


def test_base_layers_are_listed(client):
    style = client.get("/tiles/style.json", headers=login(client, "officer")).json()
    listed = {layer["id"]: layer for layer in style["layers"]}
    for name in BASE_LAYERS:
        assert listed[name]["scoped"] is False and listed[name]["url"] == f"/tiles/{name}/{{z}}/{{x}}/{{y}}.pbf"


@pytest.mark.parametrize("layer", BASE_LAYERS)
def test_base_tile_served_warm_by_the_fast_path_and_same_for_all(client, layer):
    city, district = login(client, "commander"), login(client, "planner_nw")
    url = "/tiles/{}/15/{}/{}.pbf".format(layer, *CENTRAL)
    first = client.get(url, headers={**city, "Accept-Encoding": "gzip"})
    assert first.status_code == 200 and first.headers["content-encoding"] == "gzip"
    features = mvt_decode(first.content)[layer]
    assert features and all(f.get("name") for f in features if layer in ("road_labels", "poi"))
    n = client.app.state.tiles.served_early
    again = client.get(url, headers={**city, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and client.app.state.tiles.served_early == n + 1
    other = client.get(url, headers=district)  # a district reader gets the same public geography
    assert other.status_code == 200 and other.headers["etag"] == first.headers["etag"]
    assert client.get(url).status_code == 401


def test_below_minzoom_is_empty(client):
    h = login(client, "commander")
    x, y = tile_of(24.946, 60.171, 12)
    assert client.get(f"/tiles/poi/12/{x}/{y}.pbf", headers=h).status_code == 204
