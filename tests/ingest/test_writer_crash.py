"""Kill the database under load: every acknowledged position is stored exactly once.

A private cluster is made for this test alone, migrated, loaded by concurrent producers, stopped with
``pg_ctl -m immediate`` (a crash: no checkpoint, connections cut) and started again mid-load.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from app.db import migrate
from app.db.engine import make_engine
from app.domain.fix import Fix
from app.ingest.writer import BatchWriter
from tests.pgcluster import PrivateCluster
from tests.waiting import async_wait_for


@pytest.fixture(scope="module")
def cluster():
    c = PrivateCluster().init()
    try:
        c.start()
        migrate.upgrade(c.url)
        yield c
    finally:
        c.destroy()


async def test_database_crash_under_load_loses_nothing_acknowledged(cluster):
    engine = make_engine(cluster.url, pool_size=4, max_overflow=0)
    writer = await BatchWriter(engine, max_rows=200, max_delay_s=0.05, max_backoff_s=0.3).start()
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    acked: list[tuple[str, datetime]] = []
    failed: list[BaseException] = []
    stop = asyncio.Event()
    phase = {"value": "before"}
    acked_in: dict[str, int] = {"before": 0, "down": 0, "after": 0}

    async def producer(i: int) -> None:
        k = 0
        while not stop.is_set():
            t = base + timedelta(milliseconds=10 * k)
            try:
                await writer.add(Fix(f"unit-{i}", "jt808", t, 116.3 + i / 1000, 39.9, speed_kmh=30.0))
            except Exception as exc:  # must not happen: the writer retries until stored
                failed.append(exc)
            else:
                acked.append((f"unit-{i}", t))
                acked_in[phase["value"]] += 1
            k += 1

    producers = [asyncio.create_task(producer(i)) for i in range(30)]
    await asyncio.sleep(1.0)  # a second of load before the crash
    await asyncio.to_thread(cluster.stop, "immediate")
    phase["value"] = "down"
    await asyncio.sleep(1.0)  # the database stays down a second under load
    await asyncio.to_thread(cluster.start)
    phase["value"] = "after"
    # load continues until the writer has recovered and stored more
    await async_wait_for(lambda: acked_in["after"] > 500, timeout=60, interval=0.1,
                         what="the writer to recover and store more")
    stop.set()
    await asyncio.wait_for(asyncio.gather(*producers), 60)
    await writer.close()

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT t.external_id, p.fix_time, count(*) OVER (PARTITION BY p.target_id, p.fix_time) "
                    "FROM position p JOIN target t ON t.id = p.target_id"
                )
            )
        ).all()
    await engine.dispose()
    stored = {(r[0], r[1]) for r in rows}
    assert not failed
    assert acked_in["before"] > 0 and acked_in["after"] > 0
    assert writer.stats.retries > 0, "the crash did not hit the writer"
    assert set(acked) <= stored, f"{len(set(acked) - stored)} acknowledged positions lost"
    assert all(r[2] == 1 for r in rows) and len(rows) == len(acked) == len(set(acked))
