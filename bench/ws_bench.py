"""Websocket fan-out: N clients subscribed to the whole city while 1,000 targets report at 1 Hz each.

    PYTHONPATH=. python bench/ws_bench.py [--clients 1 100 1000] [--targets 1000] [--seconds 10]
    PYTHONPATH=. python bench/ws_bench.py --viewports [--clients 200] [--targets 2000] [--rounds 3]

Positions are published to Redis (as the ingest processes do) and fanned out by one API process.
Prints delivered frames/s, positions/s, latency ingest→client (p50/p99, same machine clock),
server CPU and memory. N=1 is the baseline of the same run. Needs Redis at $REDIS_URL
(default redis://127.0.0.1:6379/0).

``--viewports``: targets spread over a whole city; N clients each with its own random viewport ("own")
against N on one viewport of the median size ("same"), on two API processes of the same run — grid cells
on (today) and off (``SHARPEYES_WS_CELLS=0``: one exact-bbox group per viewport) — in paired rounds
(the order alternates), with the ratio own/same of server CPU per round and `uptime`'s load. Positions
go in batches per 10 ms, as the ingest publishes them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import time

import orjson
import redis.asyncio as aioredis
import websockets
from _common import ApiProcess, cpu_seconds, demo_database, rss_mb, token

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
BBOX = (24.9351, 60.1641, 24.9535, 60.1792)
DIVISION = "990101001001"
CITY = (24.80, 60.12, 25.10, 60.30)  # ~17 × 20 km: the viewports' city
VIEW_W = (0.03, 0.08)  # viewport widths in degrees of longitude (a wall or desk screen at zoom ~13-14)


def random_viewport(rng: random.Random) -> tuple[float, float, float, float]:
    w = rng.uniform(*VIEW_W)
    h = w / 2  # at 60° N a degree of longitude is half one of latitude: roughly a 16:9 screen
    x, y = rng.uniform(CITY[0], CITY[2] - w), rng.uniform(CITY[1], CITY[3] - h)
    return (x, y, x + w, y + h)


def median_viewport() -> tuple[float, float, float, float]:
    w = sum(VIEW_W) / 2
    x, y = (CITY[0] + CITY[2] - w) / 2, (CITY[1] + CITY[3] - w / 2) / 2
    return (x, y, x + w, y + w / 2)


async def publisher(targets: int, stop: asyncio.Event, prefix: str, area=BBOX, batched: bool = False) -> int:
    """Each target reports once a second, spread evenly over the second (like real devices); ``batched``:
    the fixes of each 10 ms in one Redis message, as the ingest publishes them (``Bus.publish_many``)."""
    r = aioredis.from_url(REDIS_URL)
    sent = 0
    start = time.perf_counter()
    pos = {i: (random.uniform(area[0], area[2]), random.uniform(area[1], area[3])) for i in range(targets)}
    while not stop.is_set():
        due = int((time.perf_counter() - start) * targets)  # positions due by now at 1 Hz per target
        batch = []
        while sent < due:
            i = sent % targets
            lon, lat = pos[i]
            pos[i] = (lon + random.uniform(-1e-5, 1e-5), lat + random.uniform(-1e-5, 1e-5))
            fix = {"target_id": i, "division": DIVISION, "lon": pos[i][0], "lat": pos[i][1],
                   "course_deg": 90.0, "speed_kmh": 30.0, "t": time.time()}
            batch.append(fix if batched else orjson.dumps(fix))
            sent += 1
        if batch and batched:
            await r.publish(prefix + "positions[]", orjson.dumps(batch))
        elif batch:
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
                 sample: float, bbox=None, latency=None) -> None:
    """``latency(item, now)``: seconds from the item's origin to now, None to skip it (default: from its
    ``t``, the moment it was published)."""
    try:
        async with websockets.connect(url, max_size=None, open_timeout=60,
                                      subprotocols=["sharpeyes", f"bearer.{tok}"]) as ws:
            await ws.send(orjson.dumps({"type": "subscribe", "layers": ["positions"],
                                        "bbox": list(bbox) if bbox else None}).decode())
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
                    if latency is None:
                        stats.latencies += [now - it["t"] for it in items]
                    else:
                        stats.latencies += [x for it in items if (x := latency(it, now)) is not None]
                else:
                    stats.positions += raw.count(b'"target_id"')
    except (websockets.ConnectionClosed, OSError):
        stats.closed += 1


async def run_case(api: ApiProcess, tok: str, n: int, targets: int, seconds: float,
                   bboxes: list | None = None, area=BBOX, batched: bool = False) -> dict:
    base, pid = api.base, api.proc.pid
    bboxes = bboxes or [None] * n
    url = base.replace("http", "ws") + "/ws"  # the token goes as a subprotocol, never in the URL
    stats, stop = Stats(), asyncio.Event()
    readies = [asyncio.Event() for _ in range(n)]
    sample = min(1.0, 20 / n)
    tasks = []
    for i in range(n):  # connect in waves: 1,000 handshakes at once would measure the handshake
        tasks.append(asyncio.create_task(client(url, tok, stats, readies[i], stop, sample, bboxes[i])))
        if i % 50 == 49:
            await asyncio.sleep(0.2)
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
    pub_stop = asyncio.Event()
    pub = asyncio.create_task(publisher(targets, pub_stop, api.bus_prefix, area, batched))
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


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def viewports(args) -> None:
    """Own viewports against one shared viewport, cells on and off, paired rounds in one run."""
    n = args.clients[0] if args.clients != [1, 100, 1000] else 200
    rng = random.Random(19)
    own = [random_viewport(rng) for _ in range(n)]
    same = [median_viewport()] * n
    print("load before:", load())
    rows: dict[tuple[str, str], list[dict]] = {}
    with demo_database() as url:
        apis = {"cells": ApiProcess(url, redis_url=REDIS_URL), "exact": ApiProcess(url, redis_url=REDIS_URL)}
        apis["exact"].env["SHARPEYES_WS_CELLS"] = "0"
        try:
            for api in apis.values():
                api.start()
            tok = token(apis["cells"].base, "commander")
            for rnd in range(args.rounds):
                for server in (("cells", "exact") if rnd % 2 == 0 else ("exact", "cells")):
                    for mode in (("same", "own") if rnd % 2 == 0 else ("own", "same")):
                        r = asyncio.run(run_case(apis[server], tok, n, args.targets, args.seconds,
                                                 own if mode == "own" else same, CITY, True))
                        rows.setdefault((server, mode), []).append(r)
                        print(f"round {rnd + 1} {server:>5} {mode:>4}: CPU {r['cpu']:5.1f}%  frames/s "
                              f"{r['frames_s']:6.0f}  pos/s/client {r['pos_s']:5.0f}  p50 {r['p50']:4.0f} ms  "
                              f"p99 {r['p99']:4.0f} ms  cut {r['cut']}", flush=True)
        finally:
            for api in apis.values():
                api.stop()
    print("load after:", load())
    print(f"\n{args.targets} targets at 1 Hz over the city via Redis (batches per 10 ms) → 1 API process → "
          f"{n} clients, {args.seconds:.0f} s per case, {args.rounds} paired rounds (medians)")
    print(f"{'server':>7}{'view':>6}{'CPU':>8}{'p50 ms':>8}{'p99 ms':>8}{'pos/s/client':>14}{'own/same CPU':>20}")
    for server in ("cells", "exact"):
        ratios = [o["cpu"] / s["cpu"] for o, s in zip(rows[server, "own"], rows[server, "same"], strict=True)]
        for mode in ("same", "own"):
            rs = rows[server, mode]
            med = {k: statistics.median(r[k] for r in rs) for k in ("cpu", "p50", "p99", "pos_s")}
            ratio = (f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"
                     if mode == "own" else "")
            print(f"{server:>7}{mode:>6}{med['cpu']:>7.1f}%{med['p50']:>8.0f}{med['p99']:>8.0f}"
                  f"{med['pos_s']:>14.0f}{ratio:>20}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 100, 1000])
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--viewports", action="store_true", help="own viewports vs one, cells on and off")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.viewports:
        viewports(args)
        return
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
