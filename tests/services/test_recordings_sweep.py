"""Retention is measured, not declared: the sweep asks each online GB/T 28181 channel's device what it holds
(over the bus, as from any process), stores the fact, and the 存储合规率 KPI counts that fact; a device
that does not answer is unknown, not failing; a camera the platform cannot ask keeps its declared figure."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from app.db.engine import make_engine
from app.realtime.bus import LocalBus
from app.realtime.rpc import DeviceCalls, serve
from app.services import kpi_run, recordings

DIV = "990101001001"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
HOLDS = {"99000000001320000501": 95, "99000000001320000502": 10}  # days held; ...503 never answers


async def _device_side(op: str, args: dict) -> dict | None:
    days = HOLDS.get(args.get("channel_id"))
    if op != "record_info" or days is None:
        return None
    start = NOW - timedelta(days=days)
    return {"complete": True, "records": [{"start": (start + timedelta(days=d)).isoformat(),
                                           "end": (start + timedelta(days=d + 1)).isoformat()} for d in range(days)]}


async def _counts(engine) -> dict:
    async with engine.begin() as conn:
        await kpi_run.compute_kpis(conn, now=NOW)
        return (await conn.execute(text("SELECT counts FROM division_kpi WHERE division_code = :d"),
                                   {"d": DIV})).scalar_one()


async def test_the_sweep_measures_what_devices_hold_and_the_kpi_counts_it(demo_db):
    engine = make_engine(demo_db)
    bus = LocalBus()
    await bus.start()
    stop = serve(bus, _device_side)
    calls = DeviceCalls(bus)
    try:
        before = await _counts(engine)
        async with engine.begin() as conn:
            for i, gb in enumerate([*HOLDS, "99000000001320000503"]):
                # each declares a year: a declaration the platform cannot check must not count
                await conn.execute(text(
                    "INSERT INTO camera (gb_id, name, division_code, location, view, source, status, retention_days) "
                    "SELECT :gb, :gb, code, ST_PointOnSurface(boundary), "
                    "ST_Buffer(ST_PointOnSurface(boundary), 0.0003), 'gb28181', 'online', 365 "
                    "FROM division WHERE code = :d"), {"gb": gb, "d": DIV, "i": i})
        mid = await _counts(engine)
        assert mid["retention_known"] == before["retention_known"]  # GB channels not yet asked: unknown
        got = await recordings.sweep(engine, calls, limit=10, now=NOW, timeout_s=0.5)
        assert got == {"asked": 3, "answered": 2, "failed": 1}
        async with engine.connect() as conn:
            rows = {r.gb_id: r for r in await conn.execute(text(
                "SELECT c.gb_id, rc.answered, round(rc.days) AS days, rc.error FROM recording_check rc "
                "JOIN camera c ON c.id = rc.camera_id"))}
        assert rows["99000000001320000501"].days == 95 and rows["99000000001320000502"].days == 10
        assert not rows["99000000001320000503"].answered and "no answer" in rows["99000000001320000503"].error
        after = await _counts(engine)
        assert after["retention_known"] == before["retention_known"] + 2
        assert after["retention_ok"] == before["retention_ok"] + 1  # 95 days complies, 10 days does not
        # a channel asked within the recheck period is not asked again
        assert (await recordings.sweep(engine, calls, now=NOW + timedelta(hours=1), timeout_s=0.5))["asked"] == 0
    finally:
        calls.close()
        stop()
        await bus.stop()
        await engine.dispose()


def test_a_timeline_counts_only_what_lies_in_its_range():
    """A device lists whole files: a 15-minute window inside an hour's file is 15 minutes of video."""
    from app.domain.recordings import Segment

    t = recordings.timeline([Segment(NOW, NOW + timedelta(hours=1))], NOW + timedelta(minutes=15),
                            NOW + timedelta(minutes=30), True)
    assert t["recorded_s"] == 900 and len(t["segments"]) == 1 and t["gaps"] == []
