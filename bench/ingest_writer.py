"""Throughput of the BatchWriter next to a raw COPY of the same rows into the same table.

Usage: python bench/ingest_writer.py [rows] [producers]
Needs a PostgreSQL + PostGIS server (``SHARPEYES_TEST_PG``, default postgresql://postgres@127.0.0.1:5432/postgres);
a throw-away database is created, migrated and dropped.

- raw COPY: one ``COPY position FROM STDIN`` of all rows, EWKT points, one transaction: the physical limit.
- BatchWriter: ``producers`` concurrent callers each ``add_many`` 50 fixes at a time, every call awaited
  until committed (the acknowledged path the devices see), batches of 1,000 rows / 100 ms.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import psycopg

from app.db import migrate
from app.db.engine import make_engine
from app.domain.fix import Fix
from app.ingest.writer import BatchWriter

ADMIN = os.environ.get("SHARPEYES_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def fixes(n: int, devices: int, base: datetime, protocol: str) -> list[Fix]:
    # each device reports at 10 Hz: 1,000 devices give the 10,000 positions/s
    return [
        Fix(
            f"dev{i % devices}",
            protocol,
            base + timedelta(seconds=(i // devices) / 10),
            116.3 + (i % 997) / 1e4,
            39.9 + (i % 991) / 1e4,
            30.0,
            90.0,
            5.0,
        )
        for i in range(n)
    ]


async def main(rows: int, producers: int) -> None:
    name = f"se_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    url = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        migrate.upgrade(url)
        engine = make_engine(url)
        base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
        # warm-up: partitions and targets exist for both runs
        async with BatchWriter(engine) as w:
            await w.add_many(fixes(1000, 1000, base - timedelta(hours=1), "raw"))
            await w.add_many(fixes(1000, 1000, base - timedelta(hours=1), "bench"))
            raw_ids = {k[1]: w.target_id(k) for k in [("raw", f"dev{i}") for i in range(1000)]}

        data = fixes(rows, 1000, base, "raw")
        buf = io.BytesIO(
            "".join(
                f"{raw_ids[f.device_id]}\t{f.fix_time.isoformat()}\tSRID=4326;POINT({f.lon} {f.lat})\t"
                f"{f.speed_kmh}\t{f.course_deg}\t{f.accuracy_m}\traw\n"
                for f in data
            ).encode()
        )
        conn = await asyncpg.connect(url)
        t0 = time.perf_counter()
        await conn.copy_to_table(
            "position",
            source=buf,
            columns=["target_id", "fix_time", "location", "speed_kmh", "course_deg", "accuracy_m", "source"],
        )
        raw_s = time.perf_counter() - t0
        await conn.close()

        data = fixes(rows, 1000, base, "bench")
        chunks = [data[i : i + 50] for i in range(0, rows, 50)]
        queue: asyncio.Queue = asyncio.Queue()
        for ch in chunks:
            queue.put_nowait(ch)
        async with BatchWriter(engine, max_rows=1000, max_delay_s=0.1) as writer:

            async def producer() -> None:
                while not queue.empty():
                    await writer.add_many(queue.get_nowait())

            t0 = time.perf_counter()
            await asyncio.gather(*(producer() for _ in range(producers)))
            batch_s = time.perf_counter() - t0
        await engine.dispose()
        print(f"rows: {rows:,}, 1,000 devices, {producers} concurrent producers (add_many of 50)")
        print(f"raw COPY into position       {rows / raw_s:10,.0f} rows/s")
        print(
            f"BatchWriter (acknowledged)   {rows / batch_s:10,.0f} rows/s"
            f"  = {raw_s / batch_s:.0%} of raw COPY"
        )
        print(f"writer: {writer.stats.flushes} flushes, {writer.stats.rows_inserted:,} rows inserted")
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, int(sys.argv[2]) if len(sys.argv) > 2 else 100
        )
    )
