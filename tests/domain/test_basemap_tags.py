"""Base-map tag classification and road-label placement (issue #20): pure functions."""

from __future__ import annotations

import math

import pytest

from app.domain import basemap_tags as bt


@pytest.mark.parametrize(("tags", "kind"), [
    ({"natural": "water", "water": "lake"}, "water"),
    ({"waterway": "riverbank"}, "river"),
    ({"landuse": "reservoir"}, "reservoir"),
    ({"natural": "coastline"}, None),  # a line, not an area: the sea is not built from it
    ({"waterway": "drain"}, None),
    ({"leisure": "park"}, None),
])
def test_water_kind(tags, kind):
    assert bt.water_kind(tags) == kind


@pytest.mark.parametrize(("tags", "kind"), [
    ({"leisure": "park", "name": "Esplanadi"}, "park"),
    ({"landuse": "grass"}, "grass"),
    ({"landuse": "forest"}, "forest"),
    ({"natural": "wood"}, "forest"),
    ({"landuse": "meadow"}, "grass"),
    ({"leisure": "pitch"}, "pitch"),
    ({"landuse": "residential"}, None),
    ({"leisure": "park", "natural": "water"}, None),  # a pond in a park is water
])
def test_green_kind(tags, kind):
    assert bt.green_kind(tags) == kind


@pytest.mark.parametrize(("tags", "kind"), [
    ({"railway": "rail"}, "rail"),
    ({"railway": "tram"}, "tram"),
    ({"railway": "subway", "tunnel": "yes"}, "subway"),
    ({"railway": "light_rail"}, "light_rail"),
    ({"railway": "platform"}, None),
    ({"railway": "abandoned"}, None),
    ({"railway": "disused"}, None),
    ({"railway": "rail", "area": "yes"}, None),
])
def test_rail_kind(tags, kind):
    assert bt.rail_kind(tags) == kind


def test_tunnel():
    assert bt.is_tunnel({"tunnel": "yes"}) and bt.is_tunnel({"layer": "-1"})
    assert not bt.is_tunnel({}) and not bt.is_tunnel({"tunnel": "no", "layer": "1"})


@pytest.mark.parametrize(("tags", "found"), [
    ({"railway": "station", "name": "Helsinki"}, ("station", "station")),
    ({"public_transport": "station", "name": "Kamppi"}, ("station", "station")),
    ({"amenity": "hospital", "name": "Meilahti"}, ("public", "hospital")),
    ({"tourism": "museum", "name": "Ateneum"}, ("tourism", "museum")),
    ({"railway": "tram_stop", "name": "Senaatintori"}, ("transit", "tram_stop")),
    ({"amenity": "cafe", "name": "Ekberg"}, ("food", "cafe")),
    ({"shop": "books", "name:en": "Academic Bookstore"}, ("shop", "books")),
    ({"amenity": "bench", "name": "A bench"}, ("amenity", "bench")),
    ({"amenity": "cafe"}, None),  # nothing to write
    ({"shop": "vacant", "name": "Old shop"}, None),
    ({"building": "yes", "name": "Talo"}, None),
])
def test_poi_class(tags, found):
    assert bt.poi_class(tags) == found


def test_poi_rank_puts_landmarks_before_shops():
    assert bt.poi_rank("station") < bt.poi_rank("public") < bt.poi_rank("tourism") < bt.poi_rank("food")
    assert bt.poi_rank("food") < bt.poi_rank("shop") < bt.poi_rank("unknown")


@pytest.mark.parametrize(("dx", "dy", "angle"), [
    (1, 0, 0.0), (-1, 0, 0.0),  # west-bound text is not upside down
    (0, 1, 90.0), (0, -1, 90.0),
    (1, 1, 45.0), (-1, -1, 45.0),
    (1, -1, -45.0), (-1, 1, -45.0),
])
def test_upright_angle(dx, dy, angle):
    assert bt.upright_angle(dx, dy) == angle


def test_label_stations():
    assert bt.label_stations(bt.MIN_LABEL_WAY_M - 1) == []
    assert bt.label_stations(100) == [0.5]
    three = bt.label_stations(bt.LABEL_SPACING_M * 3 + 10)
    assert three == pytest.approx([1 / 6, 3 / 6, 5 / 6])


def test_point_along():
    line = [(0.0, 0.0), (100.0, 0.0), (100.0, 0.0), (100.0, 100.0)]  # a repeated vertex is skipped
    assert bt.point_along(line, 0.25) == pytest.approx((50.0, 0.0, 0.0))
    x, y, a = bt.point_along(line, 0.75)
    assert (x, y) == pytest.approx((100.0, 50.0)) and a == 90.0
    assert bt.point_along(line, 1.0)[:2] == pytest.approx((100.0, 100.0))
    assert bt.point_along(line, 0.0)[:2] == pytest.approx((0.0, 0.0))
    diag = bt.point_along([(0.0, 0.0), (-30.0, -30.0)], 0.5)
    assert diag[:2] == pytest.approx((-15.0, -15.0)) and math.isclose(diag[2], 45.0)
    with pytest.raises(ValueError):
        bt.point_along([(1.0, 1.0), (1.0, 1.0)], 0.5)


def test_ground_m():
    assert bt.ground_m(24.94, 60.17, 24.94, 60.171) == pytest.approx(111.2, abs=0.2)
    assert bt.ground_m(24.94, 60.17, 24.942, 60.17) == pytest.approx(111.2 * 2 * math.cos(math.radians(60.17)), abs=0.2)


def test_distinct_places_keeps_one_of_a_name_nearby():
    places = [
        ("Library", 1, 24.9400, 60.1700),   # the node
        ("Library", 1, 24.9402, 60.1701),   # its building, 16 m away: dropped
        ("Library", 1, 24.9600, 60.1700),   # another one 1 km away: kept
        ("Cafe", 8, 24.9400, 60.1700),      # another name at the same spot: kept
        ("Station", 2, 24.9410, 60.1710),
        ("Station", 0, 24.9411, 60.1710),   # better-ranked twin wins
    ]
    assert bt.distinct_places(places) == [0, 2, 3, 5]
    assert bt.distinct_places([]) == []
