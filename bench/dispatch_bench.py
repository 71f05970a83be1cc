"""Dispatch recommendation: one incident among 1,000 units on the demo road graph (Helsinki).

Loads the demo city into a throw-away database, places N available units with fresh fixes on random
road nodes, then for random incident points measures the full recommendation (KNN shortlist +
pgRouting many-to-one road ETA) through the service, and a baseline in the same run: the
straight-line KNN shortlist alone (what the road ETA adds on top). Prints p50/p99.

    python bench/dispatch_bench.py [--units 1000] [--incidents 200]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.db.engine import make_engine
from app.domain.access import Scope
from app.services import dispatch, incidents
from app.services.demo import load_demo
from bench._common import throwaway_database

EVERYWHERE = Scope.everywhere_up_to(9)


def pct(xs, q):
    return float(np.percentile(np.array(xs), q))


async def run(url: str, n_units: int, n_incidents: int) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await load_demo(conn)
        await conn.execute(text("""
            WITH n AS (SELECT location, row_number() OVER (ORDER BY random()) AS i FROM road_node
                       WHERE degree > 0), u AS (SELECT g AS i FROM generate_series(1, :n) g)
            INSERT INTO target (protocol, external_id, kind, last_fix_at, last_location)
            SELECT 'bench', 'u' || u.i, 'patrol_car', now(), n.location
            FROM u JOIN n ON n.i = 1 + (u.i % (SELECT count(*) FROM n))"""), {"n": n_units})
        await conn.execute(text("""
            INSERT INTO unit (callsign, kind, status, target_id, division_code)
            SELECT 'B' || id, 'patrol_car', 'available', id, '990100' FROM target WHERE protocol = 'bench'"""))
        pts = (await conn.execute(text(
            "SELECT ST_X(location), ST_Y(location) FROM road_node WHERE degree > 0 ORDER BY random() LIMIT :k"),
            {"k": n_incidents})).all()
        ids = [(await incidents.create(conn, EVERYWHERE, type="theft", priority=2, lon=x + 0.0002, lat=y))["id"]
               for x, y in pts]
    full, knn = [], []
    async with engine.connect() as conn:
        for iid in ids[:10]:  # warm-up
            await dispatch.recommend(conn, EVERYWHERE, iid)
        for iid in ids:
            t = time.perf_counter()
            rec = await dispatch.recommend(conn, EVERYWHERE, iid)
            full.append((time.perf_counter() - t) * 1000)
            assert rec["recommended"], "no unit recommended"
            t = time.perf_counter()
            await conn.execute(text(
                "SELECT u.id FROM unit u JOIN target t ON t.id = u.target_id, incident i WHERE i.id = :i "
                "AND u.status = 'available' ORDER BY t.last_location <-> i.location LIMIT 36"), {"i": iid})
            knn.append((time.perf_counter() - t) * 1000)
    await engine.dispose()
    print(f"{n_units} units, {len(ids)} incidents on the demo road graph")
    print(f"{'step':<40}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'baseline: straight-line KNN shortlist':<40}{pct(knn, 50):>10.2f}{pct(knn, 99):>10.2f}")
    print(f"{'recommend (KNN + pgRouting road ETA)':<40}{pct(full, 50):>10.2f}{pct(full, 99):>10.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=1000)
    ap.add_argument("--incidents", type=int, default=200)
    args = ap.parse_args()
    with throwaway_database() as url:
        asyncio.run(run(url, args.units, args.incidents))


if __name__ == "__main__":
    main()
