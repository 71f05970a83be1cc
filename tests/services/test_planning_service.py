"""Planner services on a real PostGIS database: a hand-built block with known answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from app.db import migrate
from app.db.engine import make_engine
from app.domain.access import Rule, Scope
from app.services import coverage_run, duplicates_run, kpi_run, placement_run, planning_jobs, planning_report

X0, Y0 = 114.0, 22.0
D = 0.001  # ~103 m × 111 m
BOX = "ST_MakeEnvelope({}, {}, {}, {}, 4326)"


def box(x0, y0, x1, y1) -> str:
    return BOX.format(x0, y0, x1, y1)


@pytest.fixture(scope="module")
async def engine(db_url):
    eng = make_engine(db_url, pool_size=3, max_overflow=2)
    async with eng.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO division (code, name, level, parent_code, boundary) VALUES "
                f"('810000', 'HK', 2, NULL, ST_Multi({box(113.9, 21.9, 114.1, 22.1)})),"
                f"('810001', 'D1', 4, '810000', ST_Multi({box(113.99, 21.99, 114.01, 22.01)}))"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO key_area (id, name, category, area) VALUES "
                f"(1, 'square', 'square', ST_Multi({box(X0, Y0, X0 + D, Y0 + D)}))"
            )
        )
        # cam 1 (online) sees the western half, cam 2 (offline) the eastern half, cam 3 duplicates cam 1.
        cams = [
            (1, "online", box(X0 - D, Y0 - D, X0 + D / 2, Y0 + 2 * D), 90, True),
            (2, "offline", box(X0 + D / 2, Y0 - D, X0 + 2 * D, Y0 + 2 * D), 30, False),
            (3, "online", box(X0 - D * 0.9, Y0 - D, X0 + D / 2, Y0 + 2 * D), 30, True),
        ]
        for cid, status, view, ret, hd in cams:
            await conn.execute(
                text(
                    "INSERT INTO camera (id, gb_id, name, location, view, status, retention_days,"
                    " hd, networked, heading_deg) "  # a heading: the views drawn here are what they see
                    f"VALUES (:id, :gb, :n, ST_Centroid({view}), {view}, :st, :ret, :hd, :net, 90)"
                ),
                {
                    "id": cid,
                    "gb": f"8100010000132000000{cid}",
                    "n": f"cam{cid}",
                    "st": status,
                    "ret": ret,
                    "hd": hd,
                    "net": cid != 3,
                },
            )
        # Junction 1 inside cam 1's view, junction 2 blind; a primary road between them and beyond.
        await conn.execute(
            text(
                "INSERT INTO road_node (id, osm_id, degree, location) VALUES "
                f"(1, 1, 3, ST_SetSRID(ST_MakePoint({X0 + D / 4}, {Y0 + D / 2}), 4326)),"
                f"(2, 2, 4, ST_SetSRID(ST_MakePoint({X0 + 0.005}, {Y0 + D / 2}), 4326)),"
                f"(3, 3, 1, ST_SetSRID(ST_MakePoint({X0 + 0.006}, {Y0 + D / 2}), 4326))"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO road_edge (id, osm_way_id, seq, source, target, highway, length_m,"
                " speed_kmh, cost,"
                " reverse_cost, geom) SELECT 1, 1, 0, 1, 2, 'primary', 490, 50, 35, 35,"
                " ST_MakeLine(a.location, b.location) FROM road_node a, road_node b WHERE a.id = 1"
                " AND b.id = 2"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO camera_status_event (camera_id, at, status) VALUES "
                "(3, :t0, 'online'), (3, :t1, 'offline'), (3, :t2, 'online')"
            ),
            {
                "t0": datetime.now(UTC) - timedelta(days=40),
                "t1": datetime.now(UTC) - timedelta(days=15),
                "t2": datetime.now(UTC) - timedelta(days=5),
            },
        )
    yield eng
    await eng.dispose()


def test_schema_matches_models(db_url):
    migrate.check(db_url)


async def test_key_area_half_covered_online_fully_with_all(engine):
    async with engine.begin() as conn:
        summary = await coverage_run.run_coverage(conn)
        rows = dict((await conn.execute(text("SELECT mode, fraction FROM key_area_coverage"))).all())
        unc = (
            await conn.execute(
                text("SELECT ST_Area(uncovered::geography) FROM key_area_coverage WHERE mode = 'online'")
            )
        ).scalar()
    assert rows["all"] == pytest.approx(1.0, abs=1e-6)
    assert rows["online"] == pytest.approx(0.5, abs=2e-3)
    assert unc == pytest.approx(0.5 * 103.2 * 110.7, rel=0.01)
    assert summary["all"]["blind_intersections"] == 1


async def test_intersections_and_road_gaps(engine):
    async with engine.begin() as conn:
        nodes = dict(
            (
                await conn.execute(
                    text("SELECT node_id, covered FROM intersection_coverage WHERE mode = 'all'")
                )
            ).all()
        )
        road = (
            await conn.execute(
                text("SELECT length_m, blind_m, camera_ids FROM road_coverage WHERE mode = 'online'")
            )
        ).one()
    assert nodes == {1: True, 2: False}  # node 3 has degree 1: not an intersection
    # Online: cameras 1 and 3 see up to X0 + D/2; the rest of the ~490 m edge is blind.
    seen = (0.0005 - 0.00025) * 103_200
    assert road.blind_m == pytest.approx(road.length_m - seen, rel=0.01)
    assert sorted(road.camera_ids) == [1, 3]


async def test_duplicates_with_move_suggestion(engine):
    async with engine.begin() as conn:
        n = await duplicates_run.run_duplicates(conn)
        rows = (
            await conn.execute(
                text(
                    "SELECT camera_id, other_camera_id, overlap, suggested_location IS NOT NULL AS has, "
                    "suggested_gain_intersections FROM camera_duplicate"
                )
            )
        ).all()
    assert n == 1
    (dup,) = rows
    assert dup.camera_id == 3 and dup.other_camera_id == 1 and dup.overlap == pytest.approx(1.0)
    # Junction 2 is the blind spot within reach: the suggestion covers it.
    assert dup.has and dup.suggested_gain_intersections == 1


async def test_duplicates_refreshed_around_a_changed_camera(engine):
    # Three PTZ cameras side by side: their disc views, collected into one multipolygon, overlap (invalid),
    # and GEOS raised "TopologyException: side location conflict" on it; the refresh compares pairwise.
    disc = "ST_Buffer(ST_SetSRID(ST_MakePoint({}, 60.17), 4326)::geography, 80)::geometry"
    async with engine.begin() as conn:
        for i in range(3):
            await conn.execute(text(
                "INSERT INTO camera (id, gb_id, name, kind, range_m, location, view) VALUES "
                f"(:id, :gb, :n, 'ptz', 80, ST_Centroid({disc.format(24.942 + i * 1e-4)}),"
                f" {disc.format(24.942 + i * 1e-4)})"), {"id": 11 + i, "gb": f"8100010000132000001{i}", "n": f"p{i}"})
        await duplicates_run.refresh_around(conn, 11)
        pairs = (await conn.execute(text(
            "SELECT camera_id, other_camera_id FROM camera_duplicate WHERE camera_id > 10 ORDER BY 1"))).all()
        await conn.execute(text("DELETE FROM camera_duplicate WHERE camera_id > 10 OR other_camera_id > 10"))
        await conn.execute(text("DELETE FROM camera WHERE id > 10"))
    # Each disc lies mostly inside its neighbours': duplicates are found, each against a neighbour.
    assert [p.camera_id for p in pairs] and all(11 <= p.other_camera_id <= 13 for p in pairs)


async def test_kpis_rolled_up(engine):
    async with engine.begin() as conn:
        await kpi_run.compute_kpis(conn)
        k = {r.division_code: r for r in (await conn.execute(text("SELECT * FROM division_kpi"))).all()}
    d1, hk = k["810001"], k["810000"]
    assert d1.counts["cameras"] == 3
    assert d1.networked_rate == pytest.approx(2 / 3)
    assert d1.hd_rate == pytest.approx(2 / 3)
    # Every camera's view meets the key area: each needs 90 days; only camera 1 keeps them.
    assert d1.retention_compliance_rate == pytest.approx(1 / 3)
    # Window 30 d: cam 1 online all, cam 2 offline all, cam 3 online 15 + 5 of 30 days.
    assert d1.online_rate == pytest.approx((30 + 0 + 20) / 90, rel=1e-3)
    assert d1.key_area_surface_rate == pytest.approx(1.0, abs=1e-6)
    assert d1.cameras_per_main_road_km == pytest.approx(3 / (0.00475 * 103.2), rel=0.01)
    assert hk.counts["cameras"] == 3 and hk.online_rate == d1.online_rate


async def test_on_camera_changed_recomputes_incrementally(engine):
    async with engine.begin() as conn:
        # Camera 2 turns to look far away: the square loses its eastern half in mode 'all'.
        await conn.execute(
            text(f"UPDATE camera SET view = {box(X0 + 0.02, Y0, X0 + 0.021, Y0 + D)} WHERE id = 2")
        )
        counts = await coverage_run.on_camera_changed(conn, 2)
        frac = (
            await conn.execute(text("SELECT fraction FROM key_area_coverage WHERE mode = 'all'"))
        ).scalar()
        ids = (
            await conn.execute(text("SELECT camera_ids FROM key_area_coverage WHERE mode = 'all'"))
        ).scalar()
        rate = (
            await conn.execute(
                text("SELECT key_area_surface_rate FROM division_kpi WHERE division_code = '810001'")
            )
        ).scalar()
    assert counts["all:key_areas"] == 1
    assert frac == pytest.approx(0.5, abs=2e-3)
    assert sorted(ids) == [1, 3]
    assert rate == pytest.approx(0.5, abs=2e-3)


async def test_placement_from_stored_coverage(engine):
    async with engine.begin() as conn:
        res = await placement_run.plan(conn, budget=2, range_m=60, fov_deg=360, spacing_m=25)
    assert res["milp"]["optimal"] and res["greedy_gap"] >= 0
    assert len(res["sites"]) <= 2 and res["greedy"]["value"] > 0
    assert sum(s["gain_intersections"] for s in res["sites"]) == 1  # junction 2 is worth taking


async def test_background_job_and_report(engine, tmp_path):
    runner = planning_jobs.runner_for(engine)
    everywhere = Scope.of([Rule("", 0)])
    job_id = await runner.submit("full", scope=everywhere)
    await runner.wait(job_id)
    async with engine.begin() as conn:
        job = await planning_jobs.get_job(conn, job_id, user_id=0, scope=everywhere)
        out = await planning_report.export_report(conn, tmp_path / "report")
    assert job["status"] == "done", job["error"]
    assert job["progress"] == 1.0 and job["result"]["divisions"] == 2
    html = (tmp_path / "report" / "index.html").read_text()
    assert 'src="deckgl/index.js"' in html and "http://" not in html and "https://" not in html
    assert (tmp_path / "report" / "deckgl" / "index.js").stat().st_size > 1_000_000
    assert "kpi.csv" in out["files"] and "uncovered.geojson" in out["files"]
    assert "810001" in (tmp_path / "report" / "kpi.csv").read_text()
