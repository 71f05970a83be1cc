"""Sustained positions/s stored through the platform's ingest paths, each next to a raw COPY, and the
ingest→websocket latency.

Usage: PYTHONPATH=. python bench/ingest_bench.py [--batch-rows 100000] [--rounds 3] [--batch-clients 16]
       [--terminals 1000] [--jt808-hz 12] [--http-clients 100] [--seconds 10] [--only batch,jt808,osmand]
Needs PostgreSQL + PostGIS (``SHARPEYES_TEST_PG``, default postgresql://postgres@127.0.0.1:5432/postgres):
a throw-away database is created, migrated and dropped. A real server process (uvicorn, one worker, with
the JT/T 808 listener and the websocket hub) is started; the load generator runs in this process, on the
same 2 cores. Request bodies and JT/T 808 frames are encoded before the timed part.

(a) batch API, ``--rounds`` times, each round next to its own raw COPY (the median ratio is the figure: the
    shared host's speed drifts between minutes): 16 keep-alive connections (``--batch-clients``) POST
    /api/v1/positions, 500 positions per
    request, each answered after commit (enough requests in flight to keep the server busy while its
    writer commits; with 8 the closed loop waits on commits); (b) JT/T 808: N terminals connected
    (register + authenticate), each sends a real 0x0200 location at a fixed rate (open loop: it does not
    wait for the previous 0x8001, which the server sends only after commit); the device clock of each
    terminal advances 1 s per message so every fix is a distinct row; (c) OsmAnd HTTP: keep-alive
    clients, one fix per request, each waiting for its 200 (sent after commit). Stored = rows counted in
    ``position`` afterwards, over the time from the first send to the last answer. Next to each: a raw
    ``COPY position FROM STDIN`` of the same number of rows into the same table (the physical limit).
    Latency: a websocket client logged in as an admin and subscribed to the ``positions`` layer of
    ``/ws`` notes when each position arrives; the ingest→websocket latency is that moment minus the
    moment the fix was sent (matched by device id and fix time; the hub coalesces per target, so
    positions superseded within one 100 ms tick are not delivered and not counted). For JT/T 808 also
    send → 0x8001 (= committed), for OsmAnd request → 200.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import orjson
import psycopg
import websockets

from app.db import migrate
from app.db.engine import make_engine
from app.ingest.jt808 import messages as m
from app.ingest.jt808.codec import encode_frame, phone_to_bcd, unescape
from app.ingest.jt808.splitter import FrameSplitter
from app.simulator.run import location_body
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


RAW_DB_CPU: list[float] = []  # database CPU seconds per row of each raw COPY (the ratio's other side)


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
        t0, db0 = time.perf_counter(), database_cpu()
        await conn.copy_to_table("position", source=buf, columns=["target_id", "fix_time", "location", "speed_kmh",
                                                                  "course_deg", "accuracy_m", "source"])
        elapsed = time.perf_counter() - t0
        RAW_DB_CPU.append((database_cpu() - db0) / rows)
        return rows / elapsed
    finally:
        await conn.close()


class WsProbe:
    """A live-map client: logged in, subscribed to ``positions``; notes the arrival of expected fixes."""

    def __init__(self, port: int, token: str) -> None:
        self.url = f"ws://127.0.0.1:{port}/ws"
        self.token = token
        self.sent: dict[tuple[str, str], float] = {}  # (device id, fix time ISO) → when it was sent
        self.latencies: list[float] = []
        self.received = 0

    async def start(self) -> None:
        # The token in the ``bearer.<token>`` subprotocol (a URL query is refused), as the browser client does.
        self.ws = await websockets.connect(self.url, max_size=None, open_timeout=60,
                                          subprotocols=["sharpeyes", f"bearer.{self.token}"])
        assert orjson.loads(await self.ws.recv())["type"] == "hello"
        await self.ws.send(orjson.dumps({"type": "subscribe", "layers": ["positions"]}).decode())
        while orjson.loads(await self.ws.recv())["type"] != "snapshot":
            pass
        self.task = asyncio.create_task(self._receive())

    async def _receive(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                now = time.perf_counter()
                msg = orjson.loads(raw)
                if msg.get("type") != "positions":
                    continue
                for item in msg["items"]:
                    t0 = self.sent.pop((item["device_id"], item["time"]), None)
                    if t0 is not None:
                        self.latencies.append(now - t0)
                        self.received += 1

    async def take(self) -> tuple[list[float], int]:
        await asyncio.sleep(0.5)  # the hub's last tick
        out, n = self.latencies, self.received
        self.latencies, self.received = [], 0
        self.sent.clear()
        return out, n

    async def close(self) -> None:
        await self.ws.close()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def ws_line(lat: list[float], n: int) -> str:
    return (f"    ingest→websocket ({n:,} positions delivered to the live client): "
            f"p50 {pct(lat, .5) * 1e3:.0f} ms, p99 {pct(lat, .99) * 1e3:.0f} ms")


class KeepAlive:
    """A minimal HTTP/1.1 keep-alive client: httpx's pool costs more CPU than the server under test here."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def request(self, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
        self.writer.write(head + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
        return status, await self.reader.readexactly(length)

    async def get(self, path: str) -> tuple[int, bytes]:
        return await self.request(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())


def batch_requests(token: str, rows: int, per_request: int = 500,
                   start: datetime | None = None) -> list[tuple[bytes, list[tuple[str, str]]]]:
    """(request bytes, [(device, time ISO)]) per request: encoded before the clock starts."""
    start = start or datetime.now(UTC) - timedelta(hours=2)
    devices = 1000
    requests = []
    for r0 in range(0, rows, per_request):
        items = [{"target": f"b{i % devices}", "time": (start + timedelta(seconds=i // devices)).isoformat(),
                  "lon": LON + (i % 997) / 1e4, "lat": LAT + (i % 991) / 1e4, "speed": 30.0, "heading": 90.0,
                  "accuracy": 5.0} for i in range(r0, min(rows, r0 + per_request))]
        body = orjson.dumps(items)
        head = (f"POST /api/v1/positions HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        requests.append((head + body, [(x["target"], x["time"]) for x in items]))
    return requests


async def bench_batch(port: int, requests: list[tuple[bytes, list[tuple[str, str]]]], probe: WsProbe | None = None,
                      clients: int = 8) -> float:
    """POST the encoded requests over ``clients`` keep-alive connections; seconds from first send to last answer."""
    queue = list(reversed(requests))
    conns = [KeepAlive(port) for _ in range(clients)]
    await asyncio.gather(*(c.open() for c in conns))

    async def worker(c: KeepAlive) -> None:
        while queue:
            raw, keys = queue.pop()
            if probe is not None:
                now = time.perf_counter()
                probe.sent.update(dict.fromkeys(keys, now))
            status, answer = await c.request(raw)
            assert status == 200 and not orjson.loads(answer)["rejected"], answer[:300]

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - t0
    for c in conns:
        c.writer.close()
    return elapsed


class Terminal(asyncio.Protocol):
    """An open-loop JT/T 808 terminal: sends its pre-encoded 0x0200 frames on schedule, notes each 0x8001."""

    def __init__(self, phone: str, acks: list[float]) -> None:
        self.phone, self.raw_phone = phone, phone_to_bcd(phone)
        self.splitter = FrameSplitter()
        self.serial = 0
        self.replies: asyncio.Queue = asyncio.Queue()
        self.sent_at: dict[int, float] = {}
        self.acks, self.failed = acks, 0
        self.acked: list[int] = []
        self.last_ack = 0.0
        self.frames: list[bytes] = []
        self.keys: list[tuple[str, str]] = []

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        for seg in self.splitter.feed(data):
            d = unescape(seg) if b"\x7d" in seg else seg
            if d[0] == 0x80 and d[1] == 0x01 and (d[14] << 8 | d[15]) == m.LOCATION:
                serial = d[12] << 8 | d[13]
                t0 = self.sent_at.pop(serial, None)
                if t0 is not None:
                    if d[16] == m.OK:
                        self.acks.append(now - t0)
                        self.acked.append(serial)  # which fixes were acknowledged (bench/city_bench.py)
                        self.last_ack = now
                    else:
                        self.failed += 1
                continue
            self.replies.put_nowait(d)

    def _send(self, msg_id: int, body: bytes) -> None:
        self.serial += 1
        self.transport.write(encode_frame(msg_id, self.raw_phone, self.serial, body))

    async def login(self) -> None:
        self._send(m.REGISTER, b"\0\0\0\0SHEYE" + b"BENCH".ljust(20, b"\0") + b"BENCH01\x01BENCH")
        d = await asyncio.wait_for(self.replies.get(), 30)
        assert d[0:2] == b"\x81\x00" and d[14] == m.REGISTERED, d
        self._send(m.AUTHENTICATE, d[15:-1])
        d = await asyncio.wait_for(self.replies.get(), 30)
        assert d[0:2] == b"\x80\x01" and d[16] == m.OK, d

    def prepare(self, k: int, base: datetime, count: int) -> None:
        """Frames (and websocket keys) of ``count`` locations, 1 s of device clock apart."""
        for n in range(count):
            when = base + timedelta(seconds=n)
            serial = (self.serial + 1 + n) & 0xFFFF
            self.frames.append(encode_frame(m.LOCATION, self.raw_phone, serial,
                                            location_body(LON + k * 1e-5, LAT + n * 1e-6, 30.0, 90.0, when)))
            self.keys.append((self.phone, when.isoformat()))

    def send(self, n: int, now: float, probe: WsProbe | None) -> None:
        self.serial = (self.serial + 1) & 0xFFFF
        self.sent_at[self.serial] = now
        if probe is not None:
            probe.sent[self.keys[n]] = now
        self.transport.write(self.frames[n])


async def bench_jt808(port: int, terminals: int, hz: float, seconds: float, probe: WsProbe | None,
                      make=None) -> tuple[float, int, list[float], int]:
    """``make(j, acks)``: terminal ``j`` (default a ``Terminal`` with the id ``01380`` + j)."""
    loop = asyncio.get_running_loop()
    acks: list[float] = []
    conns: list[Terminal] = []
    make = make or (lambda j, acks: Terminal(f"01380{j:07d}", acks))
    for i in range(0, terminals, 100):  # connect in waves: a SYN flood of 1,000 is not what we measure
        wave = [make(j, acks) for j in range(i, min(terminals, i + 100))]  # ids as sent
        await asyncio.gather(*(loop.create_connection(lambda t=t: t, "127.0.0.1", port) for t in wave))
        await asyncio.gather(*(t.login() for t in wave))
        conns += wave
    count = int(seconds * hz)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    for k, t in enumerate(conns):
        t.prepare(k, base, count)
    slices = 10  # each terminal sends once per 1/hz; the terminals are spread over 10 slices of that
    tick = 1.0 / hz / slices
    total = count * slices
    k = 0
    t0 = time.perf_counter()
    while k < total:
        now = time.perf_counter()
        due = min(total, int((now - t0) / tick) + 1)
        while k < due:  # open loop: late ticks are caught up, acknowledgements are not waited for
            n, part = divmod(k, slices)
            for t in conns[part::slices]:
                t.send(n, now, probe)
            k += 1
        await asyncio.sleep(max(0.0, t0 + k * tick - time.perf_counter()))
    for _ in range(1200):  # the last answers, for up to 60 s
        if not any(t.sent_at for t in conns):
            break
        await asyncio.sleep(0.05)
    elapsed = max(t.last_ack for t in conns) - t0
    failed = sum(t.failed for t in conns) + sum(len(t.sent_at) for t in conns)
    for t in conns:
        t.transport.close()
    return elapsed, count * len(conns), acks, failed


async def bench_osmand(port: int, clients: int, seconds: float, probe: WsProbe | None) -> tuple[float, int, list]:
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
            key = (f"o{k}", datetime.fromtimestamp(start + n, UTC).isoformat())
            path = (f"/ingest/osmand?id=o{k}&lat={LAT}&lon={LON + n * 1e-5:.6f}"
                    f"&timestamp={start + n}&speed=10&token={TOKEN}")
            t0 = time.perf_counter()
            if probe is not None:
                probe.sent[key] = t0
            status, body = await c.get(path)
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
            f"uvicorn.run(create_app(Settings(), {url!r}), host='127.0.0.1', port={port}, log_level='warning', "
            "ws_per_message_deflate=False)")  # as ``sharpeyes serve`` runs it
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


async def admin_token(url: str, base: str) -> str:
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
        return r.json()["access_token"]


def server_cpu(proc: subprocess.Popen) -> float:
    """CPU seconds used so far by the server process (the child of py-spy when profiling)."""
    pid = proc.pid
    if os.environ.get("SHARPEYES_BENCH_PROFILE"):
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pid = int(f.read().split()[0])
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_cpu() -> float:
    """CPU seconds used so far by this machine's PostgreSQL processes (a backend that exits meanwhile drops
    out of the sum: the server's and the bench's connections stay open through a phase)."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if stat[stat.index("(") + 1:].startswith("postgres"):
            fields = stat.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class Usage:
    """CPU seconds of the server, this process (load generator + live client) and the database over a phase."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.start = (server_cpu(proc), time.process_time(), database_cpu())

    def line(self, rows: int) -> str:
        server, client, db = (b - a for a, b in zip(self.start, (server_cpu(self.proc), time.process_time(),
                                                                   database_cpu()), strict=True))
        return (f"    CPU: server process {server:.1f} s = {server / max(rows, 1) * 1e6:.0f} µs per stored position; "
                f"database {db:.1f} s = {db / max(rows, 1) * 1e6:.0f} µs; load generator + live client {client:.1f} s")


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
        token = await admin_token(url, f"http://127.0.0.1:{port}")
        await bench_batch(port, batch_requests(token, 5000))  # warm-up: partitions, targets, connections
        probe = WsProbe(port, token)
        await probe.start()
        print(f"machine: {os.cpu_count()} cores; server: one uvicorn worker + JT/T 808 listener + websocket hub "
              "with one live client; load generator and live client in this process\n")

        if "batch" in args.only:
            await batch_phase(args, url, port, token, proc, probe)
        if "jt808" in args.only:
            await jt808_phase(args, url, jt_port, proc, probe)
        if "osmand" in args.only:
            await osmand_phase(args, url, port, proc, probe)
        await probe.close()
        print(f"\nraw COPY of {args.batch_rows:,} rows alone: {await raw_copy(url, args.batch_rows, 1000):,.0f} rows/s"
              f" (one run; the ratios above compare equal row counts)")
    finally:
        if proc is not None:
            stop_server(proc)
        with psycopg.connect(ADMIN, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def batch_phase(args, url: str, port: int, token: str, proc: subprocess.Popen, probe: WsProbe) -> None:
    """``--rounds`` paired rounds, each the batch API then a raw COPY of as many rows: the machine's speed
    drifts (shared host) by more than the difference under test, so each ratio compares neighbours."""
    ratios = []
    for r in range(args.rounds):
        start = datetime.now(UTC) - timedelta(hours=2) + timedelta(minutes=10 * r)  # fresh rows per round
        requests = batch_requests(token, args.batch_rows, start=start)
        s, n, cpu_line, lat, seen, raw = await measured(
            bench_batch(port, requests, probe, clients=args.batch_clients), proc, probe, url, "api", 1000)
        ratios.append(n / s / raw)
        print(line(f"(a) batch API ({args.batch_rows:,} rows), round {r + 1}", n / s, raw))
        print(f"    {args.batch_clients} keep-alive connections, 500 positions per request, each answered after commit")
        footer(lat, seen, cpu_line)
    if len(ratios) > 1:
        print(f"(a) batch API / raw COPY over {len(ratios)} rounds: median {statistics.median(ratios):.0%} "
              f"(min {min(ratios):.0%}, max {max(ratios):.0%})")


async def measured(run, proc: subprocess.Popen, probe: WsProbe, url: str, source: str, devices: int):
    """Run one phase: its result, the rows it stored, its CPU line, the live client's latencies and a raw COPY
    of as many rows (for ``devices`` targets) right after it."""
    before = await stored(url, source)
    usage = Usage(proc)
    result = await run
    n = await stored(url, source) - before
    cpu = usage.line(n)
    lat, seen = await probe.take()
    return result, n, cpu, lat, seen, await raw_copy(url, n, devices)


def footer(lat: list[float], seen: int, cpu: str) -> None:
    print(ws_line(lat, seen))
    print(cpu + f"; raw COPY: database {RAW_DB_CPU[-1] * 1e6:.0f} µs per row")


async def jt808_phase(args, url: str, jt_port: int, proc: subprocess.Popen, probe: WsProbe) -> None:
    with psycopg.connect(url, autocommit=True) as c:  # registered devices only (the admission default)
        c.execute("INSERT INTO target (protocol, external_id, kind) SELECT 'jt808', '01380' || lpad(g::text, 7, '0'), "
                  "'patrol_car' FROM generate_series(0, %s - 1) g ON CONFLICT DO NOTHING", (args.terminals,))
    (s, sent, acks, failed), n, cpu, lat, seen, raw = await measured(
        bench_jt808(jt_port, args.terminals, args.jt808_hz, args.seconds, probe), proc, probe, url, "jt808",
        args.terminals)
    print(line(f"(b) JT/T 808, {args.terminals:,} terminals", n / s, raw))
    print(f"    offered {args.terminals * args.jt808_hz:,.0f} locations/s (0x0200, {args.jt808_hz:g} Hz each, open "
          f"loop) for {args.seconds:g} s: {sent:,} sent, {len(acks):,} acknowledged ok, {failed:,} not, {n:,} "
          f"stored; send → 0x8001 (after commit) p50 {pct(acks, .5) * 1e3:.0f} ms, "
          f"p99 {pct(acks, .99) * 1e3:.0f} ms")
    footer(lat, seen, cpu)


async def osmand_phase(args, url: str, port: int, proc: subprocess.Popen, probe: WsProbe) -> None:
    (s, sent, lat_http), n, cpu, lat, seen, raw = await measured(
        bench_osmand(port, args.http_clients, args.seconds, probe), proc, probe, url, "osmand", args.http_clients)
    print(line(f"(c) OsmAnd HTTP, {args.http_clients} clients", n / s, raw))
    print(f"    {sent:,} reports answered 200, {n:,} stored; request → 200 (after commit) "
          f"p50 {pct(lat_http, .5) * 1e3:.0f} ms, p99 {pct(lat_http, .99) * 1e3:.0f} ms")
    footer(lat, seen, cpu)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--batch-rows", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=3, help="paired rounds (batch API, then raw COPY) of phase (a)")
    p.add_argument("--batch-clients", type=int, default=16, help="concurrent connections of the batch API phase")
    p.add_argument("--terminals", type=int, default=1000)
    p.add_argument("--jt808-hz", type=float, default=12.0, help="locations per second per terminal")
    p.add_argument("--http-clients", type=int, default=100)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--only", default="batch,jt808,osmand", help="comma-separated phases to run")
    import uvloop  # the load generator's own event loop: as cheap as the server's (uvicorn uses uvloop too)

    uvloop.run(main(p.parse_args()))
