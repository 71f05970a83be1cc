"""Websocket fan-out: N clients subscribed to the whole city while 1,000 targets report at 1 Hz each.

    PYTHONPATH=. python bench/ws_bench.py [--clients 1 100 1000] [--targets 1000] [--seconds 10]

Positions are published to Redis (as the ingest processes do) and fanned out by one API process.
Prints delivered frames/s, positions/s, latency ingest→client (p50/p99, same machine clock),
server CPU and memory. N=1 is the baseline of the same run. Needs Redis at $REDIS_URL
(default redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time

import orjson
import redis.asyncio as aioredis
import websockets
from _common import ApiProcess, cpu_seconds, demo_database, rss_mb, token

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
BBOX = (24.9351, 60.1641, 24.9535, 60.1792)
DIVISION = "990101001001"


async def publisher(targets: int, stop: asyncio.Event, prefix: str) -> int:
    """Each target reports once a second, spread evenly over the second (like real devices)."""
    r = aioredis.from_url(REDIS_URL)
    sent = 0
    start = time.perf_counter()
    pos = {i: (random.uniform(BBOX[0], BBOX[2]), random.uniform(BBOX[1], BBOX[3])) for i in range(targets)}
    while not stop.is_set():
        due = int((time.perf_counter() - start) * targets)  # positions due by now at 1 Hz per target
        batch = []
        while sent < due:
            i = sent % targets
            lon, lat = pos[i]
            pos[i] = (lon + random.uniform(-1e-5, 1e-5), lat + random.uniform(-1e-5, 1e-5))
            batch.append(orjson.dumps({"target_id": i, "division": DIVISION, "lon": pos[i][0],
                                       "lat": pos[i][1], "course_deg": 90.0, "speed_kmh": 30.0,
                                       "t": time.time()}))
            sent += 1
        if batch:
            async with r.pipeline(transaction=False) as p:
                for b in batch:
                    p.publish(prefix + "positions", b)
                await p.execute()
        await asyncio.sleep(0.01)
    await r.aclose()
    return sent


class Stats:
    def __init__(self) -> None:
        self.frames = 0
        self.positions = 0
        self.latencies: list[float] = []
        self.closed = 0


async def client(url: str, tok: str, stats: Stats, ready: asyncio.Event, stop: asyncio.Event,
                 sample: float) -> None:
    try:
        async with websockets.connect(url, max_size=None, open_timeout=60,
                                      subprotocols=["sharpeyes", f"bearer.{tok}"]) as ws:
            await ws.send(orjson.dumps({"type": "subscribe", "layers": ["positions"]}).decode())
            while orjson.loads(await ws.recv())["type"] != "snapshot":
                pass
            ready.set()
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                now = time.time()
                if raw[:20].find(b"positions") < 0:
                    continue
                stats.frames += 1
                # Parse a sample only: the clients share this process's CPU with each other.
                if random.random() < sample:
                    items = orjson.loads(raw)["items"]
                    stats.positions += len(items)
                    stats.latencies += [now - it["t"] for it in items]
                else:
                    stats.positions += raw.count(b'"target_id"')
    except (websockets.ConnectionClosed, OSError):
        stats.closed += 1


async def run_case(api: ApiProcess, tok: str, n: int, targets: int, seconds: float) -> dict:
    base, pid = api.base, api.proc.pid
    url = base.replace("http", "ws") + "/ws"  # the token goes as a subprotocol, never in the URL
    stats, stop = Stats(), asyncio.Event()
    readies = [asyncio.Event() for _ in range(n)]
    sample = min(1.0, 20 / n)
    tasks = []
    for i in range(n):  # connect in waves: 1,000 handshakes at once would measure the handshake
        tasks.append(asyncio.create_task(client(url, tok, stats, readies[i], stop, sample)))
        if i % 50 == 49:
            await asyncio.sleep(0.2)
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
    pub_stop = asyncio.Event()
    pub = asyncio.create_task(publisher(targets, pub_stop, api.bus_prefix))
    await asyncio.sleep(2)  # warm-up
    f0, p0, stats.latencies = stats.frames, stats.positions, []
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - t0
    frames, positions = stats.frames - f0, stats.positions - p0
    cpu = (cpu_seconds(pid) - cpu0) / elapsed
    rss = rss_mb(pid)
    pub_stop.set()
    await pub
    stop.set()
    await asyncio.gather(*tasks)
    lat = sorted(stats.latencies) or [float("nan")]
    return {"n": n, "frames_s": frames / elapsed, "pos_s": positions / elapsed / n,
            "p50": lat[len(lat) // 2] * 1000, "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
            "cpu": cpu * 100, "rss": rss, "cut": stats.closed}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 100, 1000])
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    rows = []
    with demo_database() as url:
        api = ApiProcess(url, redis_url=REDIS_URL)
        base = api.start()
        try:
            tok = token(base, "commander")
            for n in args.clients:
                rows.append(asyncio.run(run_case(api, tok, n, args.targets, args.seconds)))
        finally:
            api.stop()
    print(f"{args.targets} targets at 1 Hz via Redis → 1 API process → N websocket clients (whole city), "
          f"{args.seconds:.0f} s per case, ticks of 100 ms")
    print(f"{'clients':>8}{'frames/s':>10}{'pos/s/client':>14}{'p50 ms':>9}{'p99 ms':>9}{'server CPU':>12}"
          f"{'RSS MB':>8}{'cut off':>9}")
    for r in rows:
        print(f"{r['n']:>8}{r['frames_s']:>10.0f}{r['pos_s']:>14.0f}{r['p50']:>9.0f}{r['p99']:>9.0f}"
              f"{r['cpu']:>11.0f}%{r['rss']:>8.0f}{r['cut']:>9}")


if __name__ == "__main__":
    main()
