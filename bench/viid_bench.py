"""GA/T 1400 uploads (issue #21): motor-vehicle records per second accepted (acknowledged = stored) with a
~50 KB image each, next to the same records without images (the baseline: rows only), same API process,
same run. The simulated checkpoints are tests/viid_peer.py over a real socket.

    PYTHONPATH=. .venv/bin/python bench/viid_bench.py [--records 2000] [--batch 10] [--concurrency 4]
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

from bench._common import ApiProcess, cpu_seconds, demo_database, token
from tests.viid_peer import ViidPeer, jpeg, statuses, vehicle


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=4)
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
        finally:
            api.stop()


if __name__ == "__main__":
    main()
