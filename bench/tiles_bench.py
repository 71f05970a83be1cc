"""Vector tiles on the demo city: tiles/s through the API with the cache cold vs warm, and the bare
ST_AsMVT query time as the baseline (same tiles, same run).

    PYTHONPATH=. python bench/tiles_bench.py [--concurrency 8] [--passes 3]

Uses $DATABASE_URL if set (with the demo city loaded), otherwise a throw-away database.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time

import httpx
from _common import ApiProcess, cpu_seconds, demo_database, rss_mb, token

BBOX = (24.9351, 60.1641, 24.9535, 60.1792)  # the demo city
LAYERS = ("roads", "divisions", "key_areas", "cameras")
ZOOMS = range(13, 18)


def tiles() -> list[tuple[str, int, int, int]]:
    out = []
    for z in ZOOMS:
        n = 1 << z

        def xy(lon, lat, n=n):
            return (int((lon + 180) / 360 * n),
                    int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))

        x1, y1 = xy(BBOX[0], BBOX[3])
        x2, y2 = xy(BBOX[2], BBOX[1])
        out += [(layer, z, x, y) for layer in LAYERS for x in range(x1, x2 + 1) for y in range(y1, y2 + 1)]
    return out


async def http_pass(base: str, headers: dict, work: list, concurrency: int,
                    path: str | None = None) -> tuple[float, list[float], int]:
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []
    size = 0
    hdrs = {**headers, "Accept-Encoding": "gzip"}
    async with httpx.AsyncClient(base_url=base, headers=hdrs, timeout=30) as c:
        async def one(t):
            nonlocal size
            async with sem:
                t0 = time.perf_counter()
                r = await c.get(path or f"/tiles/{t[0]}/{t[1]}/{t[2]}/{t[3]}.pbf")
                lat.append(time.perf_counter() - t0)
                assert r.status_code in (200, 204), r.status_code
                size += len(r.content)
        t0 = time.perf_counter()
        await asyncio.gather(*(one(t) for t in work))
        return time.perf_counter() - t0, lat, size


async def sql_baseline(url: str, work: list) -> float:
    """The tile queries alone (one connection, sequential): what PostGIS costs without HTTP or cache."""
    from app.db.engine import make_engine
    from app.domain.access import Scope
    from app.services import tiles as svc

    engine = make_engine(url)
    scope = Scope.everywhere_up_to(0)
    async with engine.connect() as conn:
        t0 = time.perf_counter()
        for layer, z, x, y in work:
            await svc.render(conn, svc.LAYERS[layer], z, x, y, scope)
        elapsed = time.perf_counter() - t0
    await engine.dispose()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()
    work = tiles()
    with demo_database() as url:
        api = ApiProcess(url)
        base = api.start()
        try:
            tok = token(base, "commander")
            headers = {"Authorization": f"Bearer {tok}"}
            sql_s = asyncio.run(sql_baseline(url, work))
            health = [("health", 0, 0, 0)] * len(work)
            health_s = asyncio.run(http_pass(base, headers, health, args.concurrency, "/api/v1/health"))[0]
            cpu0 = cpu_seconds(api.proc.pid)
            cold_s, cold_lat, size = asyncio.run(http_pass(base, headers, work, args.concurrency))
            cpu_cold = cpu_seconds(api.proc.pid) - cpu0
            warm = []
            for _ in range(args.passes):
                warm.append(asyncio.run(http_pass(base, headers, work, args.concurrency)))
            warm_s = statistics.median(w[0] for w in warm)
            warm_lat = sorted(x for w in warm for x in w[1])
            rss = rss_mb(api.proc.pid)
        finally:
            api.stop()
    n = len(work)
    pct = lambda xs, q: sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] * 1000  # noqa: E731
    print(f"tiles: {n} per pass ({', '.join(LAYERS)}; z{ZOOMS.start}-{ZOOMS.stop - 1} over the demo city), "
          f"{size / n / 1024:.1f} KiB gzip avg, concurrency {args.concurrency}")
    print(f"{'case':<34}{'tiles/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    print(f"{'baseline: ST_AsMVT alone (1 conn)':<34}{n / sql_s:>10.0f}{sql_s / n * 1000:>9.1f}{'':>9}")
    print(f"{'baseline: GET /api/v1/health':<34}{n / health_s:>10.0f}{'':>9}{'':>9}")
    print(f"{'API, cache cold':<34}{n / cold_s:>10.0f}{pct(cold_lat, .5):>9.1f}{pct(cold_lat, .99):>9.1f}")
    print(f"{'API, cache warm':<34}{n / warm_s:>10.0f}{pct(warm_lat, .5):>9.1f}{pct(warm_lat, .99):>9.1f}")
    print(f"warm/cold speed-up: {cold_s / warm_s:.1f}x; server CPU for the cold pass {cpu_cold:.2f} s; "
          f"server RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
