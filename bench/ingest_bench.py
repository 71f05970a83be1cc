"""Sustained positions/s stored through the platform's ingest paths, each next to a raw COPY.

Usage: PYTHONPATH=. python bench/ingest_bench.py [--batch-rows 100000] [--terminals 1000] [--seconds 10]
Needs PostgreSQL + PostGIS (``SHARPEYES_TEST_PG``, default postgresql://postgres@127.0.0.1:5432/postgres):
a throw-away database is created, migrated and dropped. A real server process (uvicorn, one worker, with
the JT/T 808 listener) is started; the load generator runs in this process, on the same 2 cores.

(a) batch API: concurrent clients POST /api/v1/positions, 500 positions per request, each answered after
    commit; (b) JT/T 808: N terminals connected, each sends 0x0200 and waits for its 0x8001 (sent only
    after commit); (c) OsmAnd HTTP: concurrent clients, one fix per request. Stored = rows counted in
    ``position`` afterwards. Next to each: a raw ``COPY position FROM STDIN`` of the same number of rows
    (the physical limit). Latency: there is no websocket hub in this branch, so ingest→stored is measured
    instead: send of a JT/T 808 location → its acknowledgement (= committed), and OsmAnd request → 200.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import psycopg

from app.db import migrate
from app.db.engine import make_engine
from app.simulator.run import Jt808Terminal, location_body
from tests.server import free_port

ADMIN = os.environ.get("SHARPEYES_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TOKEN = "bench-device-token-0123456789"
LON, LAT = 24.94, 60.17


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


async def stored(url: str, source: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM position WHERE source = $1", source)
    finally:
        await conn.close()


async def raw_copy(url: str, rows: int, devices: int) -> float:
    """COPY ``rows`` positions of ``devices`` targets (protocol 'raw') into position; rows/s."""
    conn = await asyncpg.connect(url)
    try:
        ids = await conn.fetch("INSERT INTO target (protocol, external_id) SELECT 'raw', 'r' || g || '-' || $2 "
                               "FROM generate_series(1, $1) g RETURNING id", devices, uuid.uuid4().hex[:6])
        ids = [r[0] for r in ids]
        base = datetime.now(UTC) - timedelta(hours=5)
        buf = io.BytesIO("".join(
            f"{ids[i % devices]}\t{(base + timedelta(seconds=i // devices)).isoformat()}\t"
            f"SRID=4326;POINT({LON + (i % 997) / 1e4} {LAT + (i % 991) / 1e4})\t30\t90\t5\traw\n"
            for i in range(rows)).encode())
        t0 = time.perf_counter()
        await conn.copy_to_table("position", source=buf, columns=["target_id", "fix_time", "location", "speed_kmh",
                                                                  "course_deg", "accuracy_m", "source"])
        return rows / (time.perf_counter() - t0)
    finally:
        await conn.close()


async def bench_batch(base: str, headers: dict, rows: int, clients: int = 8, per_request: int = 500) -> float:
    start = datetime.now(UTC) - timedelta(hours=2)
    devices = 1000
    bodies = []
    for r0 in range(0, rows, per_request):
        bodies.append([{"target": f"b{i % devices}", "time": (start + timedelta(seconds=i // devices)).isoformat(),
                        "lon": LON + (i % 997) / 1e4, "lat": LAT + (i % 991) / 1e4, "speed": 30.0, "heading": 90.0,
                        "accuracy": 5.0} for i in range(r0, min(rows, r0 + per_request))])
    queue = list(reversed(bodies))
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
        async def worker() -> None:
            while queue:
                r = await client.post("/api/v1/positions", json=queue.pop())
                assert r.status_code == 200 and not r.json()["rejected"], r.text[:300]

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return time.perf_counter() - t0


async def bench_jt808(port: int, terminals: int, seconds: float) -> tuple[float, int, list[float]]:
    conns = []
    for i in range(0, terminals, 100):  # connect in waves: a SYN flood of 1,000 is not what we measure
        batch = [Jt808Terminal("127.0.0.1", port, f"1380{j:07d}") for j in range(i, min(terminals, i + 100))]
        await asyncio.gather(*(t.connect() for t in batch))
        conns += batch
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    latencies: list[float] = []
    sent = 0
    stop_at = time.monotonic() + seconds

    async def run(t: Jt808Terminal, k: int) -> None:
        nonlocal sent
        n = 0
        while time.monotonic() < stop_at:
            body = location_body(LON + k * 1e-5, LAT, 30.0, 90.0, base + timedelta(seconds=n))  # 1 fix per BCD second
            t0 = time.perf_counter()
            assert await t.location(body)
            latencies.append(time.perf_counter() - t0)
            n += 1
            sent += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(run(t, k) for k, t in enumerate(conns)))
    elapsed = time.perf_counter() - t0
    await asyncio.gather(*(t.close() for t in conns))
    return elapsed, sent, latencies


class KeepAlive:
    """A minimal HTTP/1.1 keep-alive client: httpx's pool costs more CPU than the server under test here."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def get(self, path: str) -> tuple[int, bytes]:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
        return status, await self.reader.readexactly(length)


async def bench_osmand(port: int, clients: int, seconds: float) -> tuple[float, int, list[float]]:
    start = int((datetime.now(UTC) - timedelta(hours=4)).timestamp())
    latencies: list[float] = []
    sent = 0
    stop_at = time.monotonic() + seconds
    conns = [KeepAlive(port) for _ in range(clients)]
    await asyncio.gather(*(c.open() for c in conns))

    async def worker(k: int, c: KeepAlive) -> None:
        nonlocal sent
        n = 0
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            status, body = await c.get(f"/ingest/osmand?id=o{k}&lat={LAT}&lon={LON + n * 1e-5:.6f}"
                                       f"&timestamp={start + n}&speed=10&token={TOKEN}")
            assert status == 200, body
            latencies.append(time.perf_counter() - t0)
            n += 1
            sent += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k, c) for k, c in enumerate(conns)))
    elapsed = time.perf_counter() - t0
    for c in conns:
        c.writer.close()
    return elapsed, sent, latencies


def start_server(url: str, port: int, jt808_port: int) -> subprocess.Popen:
    code = ("import uvicorn; from app.config import Settings; from app.api.main import create_app; "
            f"uvicorn.run(create_app(Settings(), {url!r}), host='127.0.0.1', port={port}, log_level='warning')")
    env = {**os.environ, "SHARPEYES_DEMO_MODE": "1", "SHARPEYES_JT808_PORT": str(jt808_port),
           "SHARPEYES_INGEST_PER_MINUTE": "100000000", "SHARPEYES_DEVICE_TOKEN": TOKEN,
           "SHARPEYES_MAX_BODY_BYTES": str(50 << 20)}
    cmd = [sys.executable, "-c", code]
    if os.environ.get("SHARPEYES_BENCH_PROFILE"):  # e.g. /tmp/ingest.txt: py-spy collapsed stacks of the server
        spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
        cmd = [spy, "record", "--format", "raw", "--rate", "200",
               "-o", os.environ["SHARPEYES_BENCH_PROFILE"], "--", *cmd]
    return subprocess.Popen(cmd, env=env)


def stop_server(proc: subprocess.Popen) -> None:
    if not os.environ.get("SHARPEYES_BENCH_PROFILE"):
        proc.terminate()
        proc.wait(10)
        return
    # py-spy writes its profile on SIGINT; the server it started is then ended on its own.
    with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
        children = [int(c) for c in f.read().split()]
    proc.send_signal(signal.SIGINT)
    proc.wait(60)
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGTERM)


async def admin_headers(url: str, base: str) -> dict:
    from app.services.users import create_user, ensure_roles

    engine = make_engine(url)
    async with engine.begin() as conn:
        await ensure_roles(conn)
        await create_user(conn, "bench", "bench-password-1", "admin", "000000")
    await engine.dispose()
    async with httpx.AsyncClient(base_url=base) as c:
        deadline = time.monotonic() + 30
        while True:
            try:
                if (await c.get("/api/v1/health")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            await asyncio.sleep(0.2)
        r = await c.post("/api/v1/auth/login", json={"username": "bench", "password": "bench-password-1"})
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


def line(name: str, rate: float, raw: float) -> str:
    return f"{name:<34}{rate:10,.0f} positions/s   raw COPY same rows {raw:10,.0f} rows/s   = {rate / raw:5.0%}"


async def main(args) -> None:
    name = f"se_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    url = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    proc = None
    try:
        migrate.upgrade(url)
        port, jt_port = free_port(), free_port()
        proc = start_server(url, port, jt_port)
        base = f"http://127.0.0.1:{port}"
        headers = await admin_headers(url, base)
        await bench_batch(base, headers, 5000)  # warm-up: partitions, targets, connections
        print(f"machine: {os.cpu_count()} cores; server: one uvicorn worker + JT/T 808 listener; "
              "load generator in this process\n")

        s = await bench_batch(base, headers, args.batch_rows)
        n = await stored(url, "api") - 5000
        raw = await raw_copy(url, n, 1000)
        print(line(f"(a) batch API ({args.batch_rows:,} rows)", n / s, raw))

        s, sent, lat = await bench_jt808(jt_port, args.terminals, args.seconds)
        n = await stored(url, "jt808")
        raw = await raw_copy(url, n, args.terminals)
        print(line(f"(b) JT/T 808, {args.terminals:,} terminals", n / s, raw))
        print(f"    {sent:,} locations acknowledged, {n:,} stored; ingest→stored (send → 0x8001 after commit) "
              f"p50 {pct(lat, .5) * 1e3:.0f} ms, p99 {pct(lat, .99) * 1e3:.0f} ms")

        s, sent, lat = await bench_osmand(port, args.http_clients, args.seconds)
        n = await stored(url, "osmand")
        raw = await raw_copy(url, n, args.http_clients)
        print(line(f"(c) OsmAnd HTTP, {args.http_clients} clients", n / s, raw))
        print(f"    {sent:,} reports answered 200, {n:,} stored; ingest→stored (request → 200 after commit) "
              f"p50 {pct(lat, .5) * 1e3:.0f} ms, p99 {pct(lat, .99) * 1e3:.0f} ms")
        print(f"\nraw COPY of {args.batch_rows:,} rows alone: {await raw_copy(url, args.batch_rows, 1000):,.0f} rows/s"
              f" (median of one run; the ratio above compares equal row counts)")
    finally:
        if proc is not None:
            stop_server(proc)
        with psycopg.connect(ADMIN, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--batch-rows", type=int, default=100_000)
    p.add_argument("--terminals", type=int, default=1000)
    p.add_argument("--http-clients", type=int, default=100)
    p.add_argument("--seconds", type=float, default=10.0)
    asyncio.run(main(p.parse_args()))
