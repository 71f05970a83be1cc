"""Coverage planning on the real demo city: OSM buildings occlude views, KPIs at all six levels."""

from sqlalchemy import text

from app.db.engine import make_engine
from app.services import coverage_run, kpi_run


async def _covered_m2(conn) -> float:
    return (await conn.execute(text("SELECT sum(covered_m2) FROM key_area_coverage WHERE mode = 'all'"))).scalar()


async def test_buildings_occlude_and_kpis_roll_up(demo_db):
    engine = make_engine(demo_db)
    async with engine.begin() as conn:
        buildings = (await conn.execute(text("SELECT count(*) FROM building"))).scalar()
        assert buildings > 300  # loaded from the OSM extract with the city
        await coverage_run.run_coverage(conn)
        with_walls = await _covered_m2(conn)
        assert await kpi_run.compute_kpis(conn) > 0
        levels = dict((await conn.execute(text(
            "SELECT d.level, count(*) FROM division_kpi k JOIN division d ON d.code = k.division_code "
            "GROUP BY 1"))).all())
        assert set(levels) == {1, 2, 3, 4, 5, 6}
        city = (await conn.execute(text(
            "SELECT (counts->>'cameras')::float, key_area_surface_rate FROM division_kpi "
            "WHERE division_code = '990100'"))).one()
        assert city[0] == 221 and 0 < city[1] < 1
        # Without the walls, the same cameras would see more of the key areas.
        await conn.execute(text("DELETE FROM building"))
        await coverage_run.run_coverage(conn)
        assert await _covered_m2(conn) > with_walls
        await conn.rollback()
    await engine.dispose()
