"""Loading real public data (../shared/data) into a real PostGIS database."""

import csv
import json

import psycopg
import pytest

from app.db.engine import make_engine
from app.services.loaders import files, osm
from app.services.loaders.report import FileRejected


async def _run(db_url, fn):
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            return await fn(conn)
    finally:
        await engine.dispose()


def _counts(db_url):
    with psycopg.connect(db_url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("road_node", "road_edge", "key_area", "camera", "division")}


async def test_beijing_osm_loads_with_chinese_names_and_routes(db_url, shared_data):
    path = shared_data / "osm" / "beijing_wudaokou.osm"
    report = await _run(db_url, lambda c: osm.load_osm(c, path))
    assert report.counts["road_edges"] > 500 and report.counts["key_areas"] >= 10
    first = _counts(db_url)
    await _run(db_url, lambda c: osm.load_osm(c, path))
    assert _counts(db_url) == first  # idempotent
    with psycopg.connect(db_url) as conn:
        names = [r[0] for r in conn.execute("SELECT DISTINCT name FROM road_edge WHERE name IS NOT NULL")]
        assert any("路" in n for n in names)  # Chinese street names survive
        schools = conn.execute("SELECT count(*) FROM key_area WHERE category = 'school'").fetchone()[0]
        assert schools >= 5
        # Routable: pgRouting finds a path between the two farthest-apart junctions of the main component.
        a, b = conn.execute("""
            WITH c AS (SELECT component, node FROM pgr_connectedComponents(
                'SELECT id, source, target, cost, reverse_cost FROM road_edge')),
            big AS (SELECT component FROM c GROUP BY 1 ORDER BY count(*) DESC LIMIT 1)
            SELECT min(node), max(node) FROM c WHERE component = (SELECT component FROM big)""").fetchone()
        path_rows = conn.execute(
            "SELECT count(*), max(agg_cost) FROM pgr_dijkstra('SELECT id, source, target, cost, reverse_cost "
            "FROM road_edge', %s, %s, directed := true)", (a, b)).fetchone()
        assert path_rows[0] > 2 and path_rows[1] > 0
        junctions = conn.execute("SELECT count(*) FROM road_node WHERE degree >= 3").fetchone()[0]
        assert junctions > 50


async def test_beijing_districts_with_gb2260_codes(db_url, shared_data):
    path = shared_data / "boundaries" / "beijing_districts_wgs84.geojson"
    report = await _run(db_url, lambda c: files.load_divisions(c, path))
    assert report.counts["divisions"] == 16 and not report.skipped
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT name, level, ST_IsValid(boundary) FROM division WHERE code = '110108'").fetchone()
        assert row == ("海淀区", 4, True)


async def test_hongkong_cameras_each_in_a_district_with_its_code(db_url, shared_data):
    await _run(db_url, lambda c: files.load_divisions(
        c, shared_data / "boundaries" / "hongkong_districts_wgs84.geojson"))
    report = await _run(db_url, lambda c: files.load_cameras(
        c, shared_data / "cameras" / "hongkong_traffic_cameras.csv", source="hktd"))
    assert report.counts["cameras"] == 210, report.summary()
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("""
            SELECT c.gb_id, c.division_code, d.code, d.level FROM camera c
            LEFT JOIN division d ON ST_Intersects(d.boundary, c.location) AND d.level = 4
            WHERE c.source = 'hktd'""").fetchall()
    assert len(rows) == 210
    for gb_id, division, containing, _ in rows:
        assert containing is not None and division == containing
        assert gb_id.startswith(containing)  # centre code = the district's GB/T 2260 code
    # Loading the same file again changes nothing.
    again = await _run(db_url, lambda c: files.load_cameras(
        c, shared_data / "cameras" / "hongkong_traffic_cameras.csv", source="hktd"))
    assert again.counts["cameras"] == 0


async def test_bad_rows_are_reported_with_line_numbers(db_url, tmp_path):
    p = tmp_path / "cams.csv"
    with p.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["key", "name", "longitude", "latitude", "gb_id", "heading"])
        w.writerow(["a1", "good", "114.17", "22.30", "", "90"])
        w.writerow(["a2", "bad lon", "214.17", "22.30", "", ""])
        w.writerow(["a3", "bad id", "114.17", "22.30", "12345", ""])
        w.writerow(["a4", "dup id 1", "114.17", "22.31", "81000100001320000077", ""])
        w.writerow(["a5", "dup id 2", "114.17", "22.32", "81000100001320000077", ""])
        w.writerow(["a6", "bad heading", "114.17", "22.32", "", "400"])
        w.writerow(["a7", "no coords", "", "", "", ""])
    report = await _run(db_url, lambda c: files.load_cameras(c, p, source="t"))
    assert report.counts["cameras"] == 2
    lines = {line for line, _ in report.skipped}
    assert lines == {3, 4, 6, 7, 8}
    assert any("duplicate" in r for _, r in report.skipped)


async def test_gcj02_input_is_converted(db_url, tmp_path):
    p = tmp_path / "gcj.geojson"
    from app.domain import crs

    glon, glat = crs.wgs84_to_gcj02(116.3264, 39.9925)
    p.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(glon), float(glat)]},
         "properties": {"name": "五道口", "ref": "wdk-1"}}]}))
    await _run(db_url, lambda c: files.load_cameras(c, p, src_crs="gcj02", source="gcj"))
    with psycopg.connect(db_url) as conn:
        x, y = conn.execute("SELECT ST_X(location), ST_Y(location) FROM camera WHERE source = 'gcj'").fetchone()
    assert abs(x - 116.3264) < 1e-6 and abs(y - 39.9925) < 1e-6


async def test_rejected_file_leaves_nothing(db_url, tmp_path):
    before = _counts(db_url)
    bad = tmp_path / "broken.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [')
    with pytest.raises(FileRejected):
        await _run(db_url, lambda c: files.load_divisions(c, bad))
    # A file whose later part fails after rows were written: the transaction rolls back as a whole.
    osm_bad = tmp_path / "broken.osm"
    osm_bad.write_text("<osm><node id='1' lat='1' lon='1'><tag k='man_made' v='surveillance'/></node><way")
    with pytest.raises(FileRejected):
        await _run(db_url, lambda c: osm.load_osm(c, osm_bad))
    assert _counts(db_url) == before
