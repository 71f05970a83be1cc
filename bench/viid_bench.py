"""GA/T 1400 uploads (issue #21): motor-vehicle records per second accepted (acknowledged = stored) with a
~50 KB image each, next to the same records without images (the baseline: rows only), same API process,
same run. The simulated checkpoints are tests/viid_peer.py over a real socket.

Then the watchlist alarm's latency: one pass at a time with a 50 KB image, upload sent → the alarm's
``incidents`` frame on a dispatcher's websocket (the wall's feed), p50/p99, next to the baseline of the same
run: the upload round trip of a pass no watchlist entry catches (the path without the alarm).

    PYTHONPATH=. .venv/bin/python bench/viid_bench.py [--records 2000] [--batch 10] [--concurrency 4] [--alarms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import websockets

from bench._common import ApiProcess, cpu_seconds, demo_database, token
from tests.viid_peer import ViidPeer, jpeg, statuses, tollgate, vehicle


async def run(base: str, records: int, batch: int, concurrency: int, image_bytes: int, tag: str) -> dict:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        adm = {"Authorization": f"Bearer {token(base, 'admin')}"}
        peers = []
        for k in range(concurrency):
            gb = f"9901010000119{tag}{k:06d}"
            r = await client.post("/api/v1/devices", headers=adm, json={
                "gb_id": gb, "name": f"bench {gb}", "division_code": "990101", "password": "bench-pass-1"})
            r.raise_for_status()
            peer = ViidPeer(client, gb, "bench-pass-1")
            assert (await peer.register())[1].status_code == 200
            peers.append(peer)
        images = [jpeg(image_bytes, i) for i in range(16)] if image_bytes else [None]
        start = datetime(2026, 12, 3, tzinfo=UTC)
        per_peer = records // concurrency
        latencies: list[float] = []

        async def one(peer: ViidPeer) -> None:
            for i in range(0, per_peer, batch):
                items = [vehicle(peer.record_id(j, start), f"京A{j % 100000:05d}", "99010100001210000001",
                                 start + timedelta(seconds=j), device=peer.device_id, image=images[j % len(images)])
                         for j in range(i, min(i + batch, per_peer))]
                t = time.perf_counter()
                r = await peer.motor_vehicles(items)
                latencies.append(time.perf_counter() - t)
                assert r.status_code == 200 and all(s["StatusCode"] == 0 for s in statuses(r)), r.text[:300]

        t0 = time.perf_counter()
        await asyncio.gather(*(one(p) for p in peers))
        wall = time.perf_counter() - t0
    latencies.sort()
    return {"records": per_peer * concurrency, "wall_s": wall, "per_s": per_peer * concurrency / wall,
            "p50_ms": 1000 * latencies[len(latencies) // 2], "p99_ms": 1000 * latencies[int(len(latencies) * .99)]}


GATE = "99010100001210000009"


async def alarms(base: str, n: int) -> dict:
    """Upload → alarm frame, one pass at a time, and the plain upload round trip of a pass nobody watches."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        tok = token(base, "admin")
        adm = {"Authorization": f"Bearer {tok}"}
        gb = "99010100001190000009"
        r = await client.post("/api/v1/devices", headers=adm, json={
            "gb_id": gb, "name": "bench alarm", "division_code": "990101", "password": "bench-pass-1"})
        r.raise_for_status()
        peer = ViidPeer(client, gb, "bench-pass-1")
        assert (await peer.register())[1].status_code == 200
        assert statuses(await peer.tollgates([tollgate(GATE, "bench gate", 24.95, 60.165, "990101")]))[0][
            "StatusCode"] == 0
        until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        r = await client.post("/api/v1/watchlists", headers=adm, json={
            "plate": "京W8*", "reason": "bench", "area": ["990101"], "valid_until": until})
        r.raise_for_status()
        ws_url = base.replace("http", "ws", 1) + "/ws"
        alarm, plain = [], []
        async with websockets.connect(ws_url, max_size=None, open_timeout=60,
                                      subprotocols=["sharpeyes", f"bearer.{tok}"]) as ws:
            await ws.send(orjson.dumps({"type": "subscribe", "layers": ["incidents"], "bbox": None}).decode())
            while orjson.loads(await ws.recv())["type"] != "snapshot":
                pass
            for i in range(n):
                at = datetime.now(UTC) - timedelta(seconds=2)
                for plate, out in ((f"京A{i:05d}", plain), (f"京W8{i:04d}", alarm)):
                    item = vehicle(peer.record_id(i if out is plain else 10_000 + i, at), plate, GATE, at,
                                   device=gb, image=jpeg(50_000, i))
                    t = time.perf_counter()
                    r = await peer.motor_vehicles([item])
                    assert r.status_code == 200 and statuses(r)[0]["StatusCode"] == 0, r.text[:300]
                    if out is plain:
                        plain.append(time.perf_counter() - t)
                        continue
                    while True:  # this run's own alarm: the incident frame naming this plate
                        f = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
                        if f["type"] == "incidents" and (f.get("watchlist") or {}).get("plate_no") == plate:
                            break
                    alarm.append(time.perf_counter() - t)

    def pct(xs: list[float], q: float) -> float:
        xs = sorted(xs)
        return 1000 * xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]

    return {"alarm": (pct(alarm, .5), pct(alarm, .99)), "plain": (pct(plain, .5), pct(plain, .99))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--alarms", type=int, default=50, help="passes timed upload → alarm on the websocket")
    args = ap.parse_args()
    with demo_database() as url, tempfile.TemporaryDirectory(prefix="viid-bench-") as images:
        os.environ["SHARPEYES_VIID_IMAGE_DIR"] = images
        api = ApiProcess(url)
        base = api.start()
        try:
            print(f"load {os.getloadavg()[0]:.2f}; {args.records} records, {args.batch} per request, "
                  f"{args.concurrency} checkpoints at once", file=sys.stderr)
            for name, size, tag in (("rows only (baseline)", 0, "0"), ("50 KB image each", 50_000, "5")):
                cpu = cpu_seconds(api.proc.pid)
                r = asyncio.run(run(base, args.records, args.batch, args.concurrency, size, tag))
                cpu = cpu_seconds(api.proc.pid) - cpu
                print(f"{name:22s} {r['per_s']:8.0f} records/s  request p50 {r['p50_ms']:6.1f} ms  "
                      f"p99 {r['p99_ms']:6.1f} ms  server CPU {1000 * cpu / r['records']:.2f} ms/record")
            if args.alarms:
                a = asyncio.run(alarms(base, args.alarms))
                print(f"watchlist alarm, upload → websocket frame: p50 {a['alarm'][0]:.1f} / p99 "
                      f"{a['alarm'][1]:.1f} ms; baseline, upload round trip of a pass nobody watches: p50 "
                      f"{a['plain'][0]:.1f} / p99 {a['plain'][1]:.1f} ms ({args.alarms} each, load "
                      f"{os.getloadavg()[0]:.2f})")
        finally:
            api.stop()


if __name__ == "__main__":
    main()
