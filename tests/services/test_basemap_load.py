"""The base map from the demo extract (issue #20): loading it twice changes nothing, and a central Helsinki
z15 tile of each base layer holds features with what the map draws (names, kinds, label angles)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from app.db.engine import make_engine
from app.domain.access import Scope
from app.services import tiles
from app.services.loaders import osm
from tests.mvt import mvt_decode, tile_of

EXTRACT = Path(__file__).resolve().parents[2] / "gisdata" / "helsinki.osm.pbf"
TABLES = ("base_water", "base_green", "base_rail", "base_poi", "base_road_label", "road_edge")
# Central Helsinki at z15: the tile of the railway station and its tracks, Kluuvi and Kaisaniemi.
TILE = (15, *tile_of(24.946, 60.171, 15))


async def _load(db_url: str):
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            return await osm.load_osm(conn, EXTRACT)
    finally:
        await engine.dispose()


def _counts(db_url: str) -> dict[str, int]:
    with psycopg.connect(db_url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


@pytest.fixture(scope="module")
async def loaded(db_url):
    report = await _load(db_url)
    return db_url, report


async def test_loading_twice_gives_the_same_rows(loaded):
    db_url, report = loaded
    first = _counts(db_url)
    assert all(first[t] > 0 for t in TABLES), first
    assert first["base_water"] == report.counts["base_water"] and first["base_poi"] == report.counts["base_poi"]
    again = await _load(db_url)
    assert _counts(db_url) == first
    assert again.counts == report.counts
    with psycopg.connect(db_url) as conn:
        named = conn.execute("SELECT count(*) FROM road_edge WHERE name IS NOT NULL").fetchone()[0]
        assert named > first["road_edge"] // 2  # road names are kept for the labels
        bad = conn.execute("""SELECT count(*) FROM (SELECT area FROM base_water UNION ALL SELECT area FROM base_green)
                              a WHERE NOT ST_IsValid(area)""").fetchone()[0]
        assert bad == 0


async def _tile(db_url: str, layer: str) -> list[dict]:
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            body = await tiles.render(conn, tiles.LAYERS[layer], *TILE, Scope.everywhere_up_to(0))
    finally:
        await engine.dispose()
    decoded = mvt_decode(body)
    assert list(decoded) == [layer]
    return decoded[layer]


async def test_central_tiles_hold_the_base_map(loaded):
    db_url, _ = loaded
    water = await _tile(db_url, "water")
    assert water and all(f["kind"] in ("water", "river", "reservoir") for f in water)
    green = await _tile(db_url, "green")
    assert any(f["kind"] == "park" and f.get("name") for f in green)
    rail = await _tile(db_url, "rail")
    assert {"rail", "tram"} <= {f["kind"] for f in rail}
    roads = await _tile(db_url, "roads")
    assert sum(1 for f in roads if f.get("name")) > 20
    labels = await _tile(db_url, "road_labels")
    assert len(labels) > 5 and all(f["name"] and -90 < f["angle"] <= 90 for f in labels)
    assert {f["name"] for f in labels} <= {f["name"] for f in roads if f.get("name")}
    poi = await _tile(db_url, "poi")
    assert any(f["cls"] == "station" for f in poi) and all(f["name"] for f in poi)


def test_base_layers_are_public_and_listed():
    style = {layer["id"]: layer for layer in tiles.style()["layers"]}
    for name in ("water", "green", "rail", "road_labels", "poi"):
        assert not tiles.LAYERS[name].scoped and style[name]["url"].endswith(f"/{name}/{{z}}/{{x}}/{{y}}.pbf")
