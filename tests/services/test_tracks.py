"""Track queries on the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import text

from app.db.engine import make_engine
from app.domain.errors import InvalidInput, NotFound
from app.domain.fix import Fix
from app.domain.metric import LocalFrame
from app.ingest.writer import BatchWriter
from app.services.tracks import get_replay, get_summary, get_track

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
FRAME = LocalFrame(116.39, 39.9)


def patrol(dev: str, offset_s: float, east: bool) -> list[Fix]:
    """5 min driving at 10 m/s, 5 min parked, 5 min driving; one fix every 10 s."""
    fixes = []
    for k in range(90):
        s = k * 10.0
        d = min(s, 300) * 10 + max(s - 600, 0) * 10
        x, y = (d, 0.0) if east else (0.0, d)
        lon, lat = FRAME.to_lonlat(x + (k % 2), y)
        fixes.append(
            Fix(
                dev,
                "sim",
                T0 + timedelta(seconds=s + offset_s),
                float(lon),
                float(lat),
                speed_kmh=0.0 if 300 < s < 600 else 36.0,
            )
        )
    return fixes


@pytest.fixture(scope="module")
async def setup(db_url):
    engine = make_engine(db_url)
    async with BatchWriter(engine) as writer:
        await writer.add_many(patrol("car-a", 0, True) + patrol("car-b", 5, False))
        ids = (writer.target_id(("sim", "car-a")), writer.target_id(("sim", "car-b")))
    yield engine, ids
    await engine.dispose()


async def test_track_window_and_zoom(setup):
    engine, (a, _) = setup
    async with engine.connect() as conn:
        full = await get_track(conn, a, T0, T0 + timedelta(hours=1))
        part = await get_track(conn, a, T0 + timedelta(seconds=100), T0 + timedelta(seconds=200))
        coarse = await get_track(conn, a, T0, T0 + timedelta(hours=1), zoom=12)
        limited = await get_track(conn, a, T0, T0 + timedelta(hours=1), limit=10)
    assert len(full.t) == full.raw_points == 90 and np.all(np.diff(full.t) > 0)
    assert len(part.t) == 10 and part.t[0] == (T0 + timedelta(seconds=100)).timestamp()
    assert (
        coarse.raw_points == 90
        and len(coarse.t) < 10
        and coarse.t[0] == full.t[0]
        and coarse.t[-1] == full.t[-1]
    )
    assert len(limited.t) == 10 and limited.truncated


async def test_summary(setup):
    engine, (a, _) = setup
    async with engine.connect() as conn:
        s = await get_summary(conn, a, T0, T0 + timedelta(hours=1))
    assert [seg.kind for seg in s.segments] == ["move", "stop", "move"]
    assert s.summary.stops == 1 and s.summary.max_speed_kmh == 36.0
    assert 5500 < s.summary.distance_m < 6500 and 250 < s.summary.stopped_s < 350


async def test_replay_shared_clock(setup):
    engine, (a, b) = setup
    async with engine.connect() as conn:
        r = await get_replay(conn, [b, a, b], T0, T0 + timedelta(minutes=5))
        with pytest.raises(NotFound):
            await get_replay(conn, [a, 999_999], T0, T0 + timedelta(minutes=5))
        with pytest.raises(InvalidInput):
            await get_track(conn, a, T0, T0 - timedelta(seconds=1))
        with pytest.raises(InvalidInput):
            await get_replay(conn, [], T0, T0 + timedelta(minutes=5))
        assert (await conn.execute(text("SELECT count(*) FROM target"))).scalar() == 2
    assert list(r.tracks) == [b, a]
    assert r.offsets(a)[:2] == [0.0, 10.0] and r.offsets(b)[:2] == [5.0, 15.0]
    assert len(r.tracks[a].t) == 30 and all(np.diff(r.tracks[b].t) > 0)
