"""BatchWriter against the real database: batching, exactly-once, targets, partitions, retention."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from app.db.engine import make_engine
from app.db.partitions import ensure_partitions, list_partitions
from app.domain.fix import Fix
from app.ingest.writer import BatchWriter
from app.services.retention import enforce_retention

NOW = datetime.now(UTC).replace(microsecond=0)


def fix(dev: str, t: datetime, lon=116.3, lat=39.9, protocol="osmand", speed=10.0) -> Fix:
    return Fix(
        device_id=dev, protocol=protocol, fix_time=t, lon=lon, lat=lat, speed_kmh=speed, course_deg=90.0
    )


@pytest.fixture(scope="module")
async def engine(db_url):
    eng = make_engine(db_url)
    yield eng
    await eng.dispose()


async def scalar(engine, sql, **params):
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def test_add_returns_after_commit_and_updates_target(engine):
    async with BatchWriter(engine, max_delay_s=0.05) as writer:
        # yesterday's partition may not exist yet: it is created on demand
        old = NOW - timedelta(days=2)
        await writer.add_many([fix("car-1", old), fix("car-1", NOW - timedelta(seconds=5), lon=116.31)])
        assert (
            await scalar(
                engine,
                "SELECT count(*) FROM position p JOIN target t ON t.id = p.target_id "
                "WHERE t.external_id = 'car-1'",
            )
            == 2
        )
        # a late, older fix does not move last_* backwards
        await writer.add(fix("car-1", NOW - timedelta(minutes=5), lon=1.0))
        await writer.sync_last()  # target.last_* follows the committed positions outside their transaction
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT last_fix_at, ST_X(last_location), last_speed_kmh, kind FROM target "
                        "WHERE protocol = 'osmand' AND external_id = 'car-1'"
                    )
                )
            ).one()
        assert (
            row[0] == NOW - timedelta(seconds=5) and row[1] == pytest.approx(116.31) and row[3] == "vehicle"
        )
        assert writer.stats.partitions_created >= 2


async def test_last_position_updater_coalesces_and_repair_fixes_stale_targets(engine):
    async with BatchWriter(engine, max_delay_s=0.01, last_every_s=1.0) as writer:
        for i in range(5):  # under load rounds coalesce: fewer rounds than flushes
            await writer.add_many([fix(f"co-{k}", NOW - timedelta(seconds=10 - i), lon=100.0 + i) for k in range(3)])
        await writer.sync_last()
        assert writer.stats.last_rounds < 5
        assert await scalar(engine, "SELECT count(*) FROM target WHERE external_id LIKE 'co-%' "
                                    "AND ST_X(last_location) = 104.0 AND last_fix_at = :t",
                            t=NOW - timedelta(seconds=6)) == 3
        # a crash between the commit of positions and the updater's round: last_* is behind them
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE target SET last_fix_at = :t, last_location = NULL "
                                    "WHERE external_id = 'co-0'"), {"t": NOW - timedelta(hours=1)})
            await conn.execute(text("UPDATE target SET last_fix_at = NULL, last_location = NULL "
                                    "WHERE external_id = 'co-1'"))
        assert await writer.repair_last() >= 2
        assert await writer.repair_last() == 0  # idempotent: nothing older than its positions left
        assert await scalar(engine, "SELECT count(*) FROM target WHERE external_id LIKE 'co-%' "
                                    "AND ST_X(last_location) = 104.0 AND last_fix_at = :t "
                                    "AND last_speed_kmh = 10.0",
                            t=NOW - timedelta(seconds=6)) == 3


async def test_a_refused_updater_round_is_repaired_from_position(engine):
    # The fault is in the real database, not in our code: a trigger refuses the first update of this target's
    # row with a data error (division by zero, SQLSTATE 22012, as a violated constraint would). A sequence
    # counts the attempts because it survives the rollback; the repair that follows then runs for real.
    async with engine.begin() as conn:
        await conn.execute(text("CREATE SEQUENCE refuse_once"))
        await conn.execute(text(
            "CREATE FUNCTION refuse_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF nextval('refuse_once') = 1 THEN RAISE division_by_zero; END IF; RETURN NEW; END $$"))
        await conn.execute(text("CREATE TRIGGER refuse_once BEFORE UPDATE ON target FOR EACH ROW"
                                " WHEN (NEW.external_id = 'refused-1') EXECUTE FUNCTION refuse_once()"))
    try:
        async with BatchWriter(engine, max_delay_s=0.01) as writer:
            await writer.add_many([fix("refused-1", NOW - timedelta(seconds=3), lon=103.0),
                                   fix("refused-1", NOW - timedelta(seconds=4), lon=104.0)])
            await writer.sync_last()
            assert writer.stats.last_rounds == 0  # the round itself never went through…
        assert await scalar(engine, "SELECT last_value FROM refuse_once") >= 2  # …the repair updated the row
    finally:
        async with engine.begin() as conn:
            for drop in ("DROP TRIGGER refuse_once ON target", "DROP FUNCTION refuse_once()",
                         "DROP SEQUENCE refuse_once"):
                await conn.execute(text(drop))
    # …and last_* is the newest stored fix, taken from position at once, not at the next start
    assert await scalar(engine, "SELECT ST_X(last_location) FROM target WHERE external_id = 'refused-1' "
                                "AND last_fix_at = :t", t=NOW - timedelta(seconds=3)) == 103.0


async def test_clean_close_flushes_the_dirty_set(engine):
    writer = await BatchWriter(engine, max_delay_s=0.01, last_every_s=30).start()
    await writer.add(fix("close-1", NOW - timedelta(seconds=2), lon=101.0))  # the first round goes at once
    await writer.add(fix("close-1", NOW - timedelta(seconds=1), lon=102.0))  # this one waits 30 s…
    await writer.close()  # …unless the writer closes: then at once
    assert await scalar(engine, "SELECT ST_X(last_location) FROM target WHERE external_id = 'close-1'") == 102.0


async def test_duplicates_are_stored_once_and_same_id_other_protocol_is_another_target(engine):
    async with BatchWriter(engine) as writer:
        t = NOW - timedelta(seconds=30)
        await asyncio.gather(writer.add(fix("dup", t)), writer.add(fix("dup", t)))
        await writer.add(fix("dup", t))
        await writer.add(fix("dup", t, protocol="jt808"))
    assert (
        await scalar(
            engine,
            "SELECT count(*) FROM position p JOIN target t ON t.id = p.target_id WHERE t.external_id = 'dup'",
        )
        == 2
    )
    assert await scalar(engine, "SELECT count(*) FROM target WHERE external_id = 'dup'") == 2


async def test_flush_by_size_and_by_time(engine):
    async with BatchWriter(engine, max_rows=40, max_delay_s=30) as writer:
        # 40 rows fill a batch: flushed long before the 30 s timer
        await asyncio.wait_for(
            asyncio.gather(*(writer.add(fix(f"s{i}", NOW - timedelta(seconds=i))) for i in range(40))), 10
        )
        assert writer.stats.flushes == 1
    async with BatchWriter(engine, max_rows=10_000, max_delay_s=0.05) as writer:
        await asyncio.wait_for(writer.add(fix("timer", NOW)), 5)  # one row: the timer flushes it


async def test_a_bad_row_fails_only_its_caller(engine):
    async with BatchWriter(engine, max_delay_s=0.2) as writer:
        too_long = fix("x" * 80, NOW)  # exceeds target.external_id: a data error, not a retryable one
        results = await asyncio.gather(
            writer.add(too_long), *(writer.add(fix(f"ok{i}", NOW)) for i in range(7)), return_exceptions=True
        )
        assert isinstance(results[0], Exception) and results[1:] == [None] * 7
        assert writer.stats.failed_rows == 1
    assert await scalar(engine, "SELECT count(*) FROM target WHERE external_id LIKE 'ok%'") == 7


async def test_closed_writer_refuses(engine):
    writer = BatchWriter(engine)
    with pytest.raises(RuntimeError):
        await writer.add(fix("n", NOW))


async def test_retention_drops_whole_partitions(engine):
    today = date(2031, 3, 10)  # far from the other tests' days
    async with engine.begin() as conn:
        await ensure_partitions(conn, first=today - timedelta(days=32), days=3)  # 6…9 February
    async with BatchWriter(engine) as writer:
        # old rows in an old partition (written directly, validation is the pipeline's business)
        await writer.add(fix("ret", datetime(2031, 1, 29, 12, tzinfo=UTC)))
    async with engine.begin() as conn:
        run = await enforce_retention(conn, 30, today=today, ahead_days=2)
        names = await list_partitions(conn)
    assert "position_p20310129" in run.dropped and "position_p20310129" not in names
    # cutoff = today − 30 days = 8 February: days before it go, that day and later stay
    assert {"position_p20310206", "position_p20310207"} <= set(run.dropped)
    assert {"position_p20310208", "position_p20310209", "position_p20310309", "position_p20310312"} <= set(
        names
    )
    assert (
        await scalar(
            engine,
            "SELECT count(*) FROM position WHERE target_id IN "
            "(SELECT id FROM target WHERE external_id = 'ret')",
        )
        == 0
    )
    with pytest.raises(ValueError):
        async with engine.begin() as conn:
            await enforce_retention(conn, 0)


async def test_binary_copy_equals_the_fixes(engine):
    """``copy_binary`` (numpy record arrays, one per NULL pattern and protocol) round-trips every column."""
    from app.ingest.writer import COLUMNS, copy_binary

    t = NOW - timedelta(minutes=3, microseconds=123457)
    fixes = [Fix("a", "jt808", t, 116.3, 39.9, 36.5, 270.0, None),
             Fix("b", "osmand", t + timedelta(seconds=1), -73.98, -40.5, None, None, 4.5),
             Fix("c", "api", t, 24.9384, 60.1699, 0.0, 359.5, 0.0),
             Fix("d", "jt808", t - timedelta(days=2), 180.0, -90.0, None, 12.0, None),
             Fix("e", "gb28181", t, 1e-9, 0.0, 1500.0, None, 1e6)]
    data = copy_binary(fixes, [11, 12, 13, 14, 15])
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TEMP TABLE pcopy (LIKE position INCLUDING DEFAULTS)")
        await conn.copy_to_table("pcopy", source=io.BytesIO(data), columns=COLUMNS, format="binary")
        rows = await conn.fetch("SELECT target_id, fix_time, ST_X(location) x, ST_Y(location) y, ST_SRID(location) "
                                "srid, speed_kmh, course_deg, accuracy_m, source FROM pcopy ORDER BY target_id")
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [
        (tid, f.fix_time, f.lon, f.lat, 4326, f.speed_kmh, f.course_deg, f.accuracy_m, f.protocol)
        for tid, f in zip([11, 12, 13, 14, 15], fixes, strict=True)]


@pytest.mark.parametrize("nulls", [(False, False, False), (False, False, True), (True, True, True),
                                   (True, False, True)])
async def test_binary_copy_of_one_kind_equals_the_fixes(engine, nulls):
    """The usual batch (one protocol, each optional column NULL everywhere or nowhere) takes the short way
    through ``copy_rows``: the same rows."""
    from app.ingest.writer import COLUMNS, copy_binary

    t = NOW - timedelta(minutes=5, microseconds=654321)
    fixes = [Fix(f"k{i}", "jt808", t + timedelta(seconds=i % 7), 116.3 + i / 1e4, 39.9 - i / 1e4,
                 None if nulls[0] else i / 3, None if nulls[1] else float(i % 360), None if nulls[2] else 2.5)
             for i in range(40)]
    tids = list(range(100, 140))
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TEMP TABLE pcopy (LIKE position INCLUDING DEFAULTS)")
        await conn.copy_to_table("pcopy", source=io.BytesIO(copy_binary(fixes, tids)), columns=COLUMNS,
                                 format="binary")
        rows = await conn.fetch("SELECT target_id, fix_time, ST_X(location) x, ST_Y(location) y, speed_kmh, "
                                "course_deg, accuracy_m, source FROM pcopy ORDER BY target_id")
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [
        (tid, f.fix_time, f.lon, f.lat, f.speed_kmh, f.course_deg, f.accuracy_m, f.protocol)
        for tid, f in zip(tids, fixes, strict=True)]
