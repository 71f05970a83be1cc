"""Which street a unit is on: the nearest drivable edge, or, for a moving unit on a divided road, the nearest
carriageway it can be driving along (GPS error often puts it closer to the opposite one)."""

from __future__ import annotations

import psycopg
import pytest

from app.domain.dispatch import EdgeCandidate, moving_course, pick_edge


def cand(edge, d, az, fwd=True, back=False):
    return EdgeCandidate(edge, 0.5, d, fwd, back, az)


def test_pick_edge_prefers_the_carriageway_the_unit_drives_along():
    north, south = cand(1, 12.0, 0.0), cand(2, 3.0, 180.0)  # one-way carriageways 15 m apart
    assert pick_edge([south, north], None) is south  # parked or unknown course: the nearest
    assert pick_edge([south, north], 10.0) is north  # heading north: the northbound one
    assert pick_edge([south, north], 170.0) is south
    far = cand(3, 40.0, 0.0)
    assert pick_edge([south, far], 10.0) is south  # beyond the slack: GPS error is not that large
    two_way = cand(4, 3.0, 180.0, back=True)
    assert pick_edge([two_way, north], 10.0) is two_way  # drivable both ways: the nearest stays
    assert pick_edge([cand(5, 3.0, None), north], 10.0) is north  # no direction known for the nearest
    assert pick_edge([], 10.0) is None


def test_moving_course_needs_speed():
    assert moving_course(90.0, 30.0) == 90.0
    assert moving_course(90.0, 2.0) is None and moving_course(90.0, None) is None and moving_course(None, 40) is None


M_LAT, LAT0, LON0 = 1 / 111_320, 60.30, 25.20  # a divided road of its own, far from the demo city
M_LON = M_LAT / 0.4955  # cos(60.3°)


def xy(east_m: float, north_m: float) -> tuple[float, float]:
    return LON0 + east_m * M_LON, LAT0 + north_m * M_LAT


@pytest.fixture(scope="module")
def divided_road(demo_db):
    """Northbound carriageway x=0 (A→B, 300 m), southbound x=15 m (C→D), joined at both ends (two-way)."""
    pts = {"A": xy(0, 0), "B": xy(0, 300), "C": xy(15, 300), "D": xy(15, 0)}
    with psycopg.connect(demo_db, autocommit=True) as conn:
        ids = {k: conn.execute("INSERT INTO road_node (osm_id, degree, location) VALUES (%s, 2, "
                               "ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id", (-100 - i, *p)).fetchone()[0]
               for i, (k, p) in enumerate(pts.items())}
        for way, (a, b, length, back) in enumerate([("A", "B", 300, False), ("B", "C", 15, True),
                                                    ("C", "D", 300, False), ("D", "A", 15, True)]):
            cost = length / (36 / 3.6)  # 36 km/h: 10 m/s
            conn.execute(
                "INSERT INTO road_edge (osm_way_id, seq, source, target, highway, length_m, speed_kmh, cost, "
                "reverse_cost, geom) VALUES (%s, 0, %s, %s, 'primary', %s, 36, %s, %s, "
                "ST_SetSRID(ST_MakeLine(ST_MakePoint(%s, %s), ST_MakePoint(%s, %s)), 4326))",
                (-100 - way, ids[a], ids[b], length, cost, cost if back else -1, *pts[a], *pts[b]))
    return pts


async def test_a_car_heading_north_is_routed_from_the_northbound_carriageway(demo_db, divided_road):
    from app.db.engine import make_engine
    from app.services import dispatch as svc

    car, scene = xy(12, 100), xy(0, 280)  # 3 m from the southbound carriageway, 12 m from its own
    engine = make_engine(demo_db)
    async with engine.begin() as conn:
        [unknown] = await svc.road_etas(conn, [car], scene)
        [north] = await svc.road_etas(conn, [car], scene, [5.0])
        geo = await svc.route(conn, car, scene, course=5.0)
    await engine.dispose()
    off = svc.OFFROAD_KMH / 3.6
    # Heading north: 180 m up its own carriageway (18 s) plus 12 m to reach it, at foot-ish off-road speed.
    assert north == pytest.approx(18.0 + 12 / off, abs=0.5)
    # Course unknown: it is taken to be on the southbound one: 100 m south, across, 280 m north.
    assert unknown == pytest.approx((100 + 15 + 280) / 10 + 3 / off, abs=0.5)
    lats = [c[1] for c in geo["coordinates"]]
    assert lats == sorted(lats), "the route heads north from the car, no loop"
