"""Video call-up at scale: "which cameras see this point" among 1,000,000 cameras.

Builds a throw-away database with N cameras (default 1,000,000: fixed sectors and PTZ discs) spread
over a 40 × 40 km city, then measures for random points
  * the raw SQL (the same indexed query the service runs, straight over asyncpg), and
  * the API endpoint on a real uvicorn process: server-side time (its ``Server-Timing`` header: request
    in → response out, authentication and ranking included) and the client's round trip on loopback,
and prints p50/p99 of each in the same run. Target: server-side p99 < 20 ms.

    python bench/callup_bench.py [--cameras 1000000] [--queries 500]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.services.callup import SEEING_SQL
from bench._common import throwaway_database
from tests.server import running_server

LON0, LAT0, SPAN = 116.20, 39.80, 0.45  # Beijing-sized box

FILL_SQL = """
INSERT INTO camera (gb_id, name, division_code, location, view, kind, heading_deg, fov_deg, range_m, hd, cls, status)
SELECT lpad(i::text, 20, '0'), 'cam ' || i, '110108', p,
       CASE WHEN i %% 5 = 0 THEN ST_Buffer(p::geography, r, 4)::geometry
            ELSE ST_MakePolygon(ST_MakeLine(ARRAY[p,
                   ST_Project(p::geography, r, radians(h - 30))::geometry,
                   ST_Project(p::geography, r, radians(h - 15))::geometry,
                   ST_Project(p::geography, r, radians(h))::geometry,
                   ST_Project(p::geography, r, radians(h + 15))::geometry,
                   ST_Project(p::geography, r, radians(h + 30))::geometry, p])) END,
       CASE WHEN i %% 5 = 0 THEN 'ptz' ELSE 'fixed' END, h, CASE WHEN i %% 5 = 0 THEN 360 ELSE 60 END, r,
       i %% 3 <> 0, 1 + i %% 3, CASE WHEN i %% 17 = 0 THEN 'offline' ELSE 'online' END
FROM (SELECT i, ST_SetSRID(ST_MakePoint(%(lon)s + random() * %(span)s, %(lat)s + random() * %(span)s), 4326) AS p,
             (random() * 360)::float AS h, 40 + random() * 80 AS r
      FROM generate_series(%(a)s::int, %(b)s::int) i) s
"""


def pct(xs, q):
    return float(np.percentile(np.array(xs), q))


async def raw_sql(url: str, points) -> list[float]:
    conn = await asyncpg.connect(url)
    sql = SEEING_SQL.format(scope="c.secrecy <= $4").replace(":lon", "$1").replace(":lat", "$2")
    sql = sql.replace(":limit", "$3")
    stmt = await conn.prepare(sql)
    times = []
    for lon, lat in points:
        t = time.perf_counter()
        await stmt.fetch(lon, lat, 100, 0)
        times.append((time.perf_counter() - t) * 1000)
    await conn.close()
    return times


def api(base: str, points) -> tuple[list[float], list[float], float]:
    """Round-trip and server-side (Server-Timing) milliseconds per query, and cameras found per point."""
    tok = httpx.post(base + "/api/v1/auth/login", json={"username": "bench", "password": "bench-password"}).json()
    h = {"Authorization": f"Bearer {tok['access_token']}"}
    times, server, found = [], [], 0
    with httpx.Client(base_url=base, headers=h) as c:
        for lon, lat in points:
            t = time.perf_counter()
            r = c.get("/api/v1/callup/seeing", params={"lon": lon, "lat": lat})
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, r.text
            server.append(float(r.headers["server-timing"].split("dur=")[1]))
            found += len(r.json()["cameras"])
    return times, server, found / len(points)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=500)
    args = ap.parse_args()
    with throwaway_database() as url:
        t = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("INSERT INTO division (code, name, level) VALUES ('000000', '中央', 1), "
                      "('110108', '海淀区', 4)")
            step = 100_000
            for a in range(1, args.cameras + 1, step):
                c.execute(FILL_SQL, {"lon": LON0, "lat": LAT0, "span": SPAN, "a": a,
                                     "b": min(a + step - 1, args.cameras)})
            c.execute("VACUUM ANALYZE camera")
        print(f"built {args.cameras:,} cameras in {time.perf_counter() - t:.0f} s")
        from app.db.engine import make_engine
        from app.services.users import create_user

        async def _user():
            engine = make_engine(url)
            async with engine.begin() as conn:
                await create_user(conn, "bench", "bench-password", "dispatcher", "000000")
            await engine.dispose()

        asyncio.run(_user())
        rng = np.random.default_rng(7)
        pts = [(LON0 + SPAN * (0.1 + 0.8 * a), LAT0 + SPAN * (0.1 + 0.8 * b)) for a, b in rng.random((args.queries, 2))]
        asyncio.run(raw_sql(url, pts[:50]))  # warm-up
        raw = asyncio.run(raw_sql(url, pts))
        with running_server(url, env={"SHARPEYES_LOGIN_PER_MINUTE": "1000"}) as base:
            api(base, pts[:50])  # warm-up
            http, server, per_point = api(base, pts)
        print(f"cameras per point (online, ranked): {per_point:.1f}")
        print(f"{'path':<40}{'p50 ms':>10}{'p99 ms':>10}")
        print(f"{'raw SQL (asyncpg)':<40}{pct(raw, 50):>10.2f}{pct(raw, 99):>10.2f}")
        print(f"{'API /callup/seeing, server-side':<40}{pct(server, 50):>10.2f}{pct(server, 99):>10.2f}")
        print(f"{'API /callup/seeing, HTTP round trip':<40}{pct(http, 50):>10.2f}{pct(http, 99):>10.2f}")
        print(f"target server-side p99 < 20 ms: {'met' if pct(server, 99) < 20 else 'NOT met'}; "
              f"round-trip mean {statistics.mean(http):.2f} ms")


if __name__ == "__main__":
    main()
