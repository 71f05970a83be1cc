"""Process roles (issue #19) over real processes, Redis, PostgreSQL and sockets: one ``ingest`` process and two
``api`` processes on one bus. A JT/T 808 terminal's fixes reach a websocket client of an API process; the
ingest process killed (-9) while the terminal sends and restarted loses no acknowledged fix; a second ingest
process shares the JT/T 808 port (SO_REUSEPORT); a split role without REDIS_URL refuses to start."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import orjson
import psycopg
import pytest
import redis
import websockets

from app.db.engine import make_engine
from app.simulator import fleet
from app.simulator.run import Jt808Terminal, location_body
from tests.live_servers import ROOT, ApiProcess, free_port, new_bus_prefix, token
from tests.waiting import async_wait_for

REDIS_URL = "redis://127.0.0.1:6379/0"
X, Y = 24.944, 60.171  # in the demo city


def role_process(db_url: str, role: str, prefix: str, jt808_port: int = 0) -> ApiProcess:
    proc = ApiProcess(db_url, redis_url=REDIS_URL, bus_prefix=prefix)
    proc.env.update(SHARPEYES_ROLE=role, SHARPEYES_JT808_PORT=str(jt808_port), SHARPEYES_GB_PORT="0")
    return proc


def process_health(base: str) -> dict:
    r = httpx.get(base + "/api/v1/health", timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["process"]


@pytest.fixture(scope="module")
def cluster(demo_db_url):
    redis.Redis.from_url(REDIS_URL).ping()  # precondition: the real Redis is there
    prefix = new_bus_prefix()  # the three processes on the same channels, apart from any other run
    jt808 = free_port()
    ingest = role_process(demo_db_url, "ingest", prefix, jt808)
    api_a, api_b = role_process(demo_db_url, "api", prefix), role_process(demo_db_url, "api", prefix)
    procs = [ingest, api_a, api_b]
    try:
        with ThreadPoolExecutor(3) as pool:  # started side by side: each waits for its own health
            list(pool.map(lambda p: p.start(), procs))
        yield SimpleNamespace(ingest=ingest, a=api_a, b=api_b, jt808=jt808, prefix=prefix, db=demo_db_url)
    finally:
        for p in procs:
            p.stop()


def test_health_says_what_each_role_runs(cluster):
    ing = process_health(cluster.ingest.base)
    assert ing["role"] == "ingest" and ing["jt808_port"] == cluster.jt808 and not ing["hub"]
    assert ing["bus"] == "redis" and ing["bus_connected"] and ing["sip_udp_port"]
    for base in (cluster.a.base, cluster.b.base):
        api = process_health(base)
        assert api["role"] == "api" and api["hub"] and api["bus"] == "redis" and api["bus_connected"]
        assert api["jt808_port"] is None and api["sip_udp_port"] is None and api["sip_tcp_port"] is None
    # The ingest process answers health only: no API, no pages.
    assert httpx.get(cluster.ingest.base + "/api/v1/cameras", timeout=5).status_code == 404
    assert httpx.get(cluster.ingest.base + "/wall", timeout=5).status_code == 404


async def register(db_url: str, phone: str) -> int:
    engine = make_engine(db_url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            return (await fleet.register(conn, "jt808", phone, f"R-{phone[-4:]}", X, Y))[0]
    finally:
        await engine.dispose()


class Sender:
    """One terminal sending fixes one second apart (distinct times), reconnecting when the server is gone;
    notes the times the server acknowledged."""

    def __init__(self, port: int, phone: str) -> None:
        self.port, self.phone = port, phone
        self.t0 = (datetime.now(UTC) - timedelta(minutes=3)).replace(microsecond=0)
        self.i = 0
        self.acked: list[datetime] = []
        self.ack_at: list[float] = []  # when each was acknowledged (the outage, printed)
        self.reconnects = 0
        self.term: Jt808Terminal | None = None

    async def _connect(self) -> None:
        while True:
            self.term = Jt808Terminal("127.0.0.1", self.port, self.phone)
            try:
                await self.term.connect()
                return
            except (OSError, ConnectionError, TimeoutError):
                await self.term.close()
                await asyncio.sleep(0.1)

    async def one(self) -> None:
        when = self.t0 + timedelta(seconds=self.i)
        self.i += 1
        if await self.term.location(location_body(X, Y, 30.0, 90.0, when)):
            self.acked.append(when)
            self.ack_at.append(time.monotonic())

    async def run(self, stop: asyncio.Event) -> None:
        await self._connect()
        while not stop.is_set():
            try:
                await self.one()
            except (OSError, ConnectionError, TimeoutError, asyncio.IncompleteReadError):
                await self.term.close()  # the server died: what was not acknowledged is sent again later
                await self._connect()
                self.reconnects += 1
            await asyncio.sleep(0.02)
        await self.term.close()




async def test_fixes_reach_another_process_and_survive_kill9_of_ingest(cluster):
    phone = f"013977{os.getpid() % 1_000_000:06d}"
    target_id = await register(cluster.db, phone)
    tok = await asyncio.to_thread(token, cluster.b.base, "admin")
    seen: list[str] = []  # fix times of our terminal on API process B's websocket
    ws = await websockets.connect(cluster.b.base.replace("http", "ws") + "/ws", max_size=None,
                                  subprotocols=["sharpeyes", f"bearer.{tok}"])

    async def receive() -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                msg = orjson.loads(raw)
                if msg.get("type") == "positions":
                    seen.extend(it["time"] for it in msg["items"] if it.get("device_id") == phone)

    await ws.send(orjson.dumps({"type": "subscribe", "layers": ["positions"]}).decode())
    reader = asyncio.create_task(receive())
    sender, stop = Sender(cluster.jt808, phone), asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    try:
        await async_wait_for(lambda: len(sender.acked) >= 10, timeout=20,
                             what="fixes acknowledged by the ingest process")
        await async_wait_for(lambda: seen, timeout=10, what="a position on the websocket of API process B")
        # kill -9 while the terminal sends; restart on the same ports
        acked_before = len(sender.acked)
        killed_at = time.monotonic()
        cluster.ingest.proc.kill()
        cluster.ingest.proc.wait()
        cluster.ingest.proc = None
        await asyncio.to_thread(cluster.ingest.start, 60)
        await async_wait_for(lambda: sender.reconnects >= 1 and len(sender.acked) >= acked_before + 10, timeout=30,
                             what="the terminal reconnected and its fixes acknowledged again")
        n_seen = len(seen)
        await async_wait_for(lambda: len(seen) > n_seen, timeout=10,
                             what="positions on B from the restarted ingest process")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        reader.cancel()
        await ws.close()
    with psycopg.connect(cluster.db) as conn:
        stored = {r[0] for r in conn.execute("SELECT fix_time FROM position WHERE target_id = %s", (target_id,))}
    missing = [t for t in sender.acked if t not in stored]
    assert not missing, f"{len(missing)} of {len(sender.acked)} acknowledged fixes not stored: {missing[:5]}"
    assert len(stored) >= len(sender.acked) > acked_before
    print(f"\n{len(sender.acked)} acknowledged, {len(stored)} stored, {sender.i} sent, "
          f"{sender.reconnects} reconnect(s), {len(seen)} seen on API process B, "
          f"{sender.ack_at[acked_before] - killed_at:.1f} s from kill -9 to the next acknowledged fix")


async def test_second_ingest_process_shares_the_jt808_port(cluster):
    second = role_process(cluster.db, "ingest", cluster.prefix, cluster.jt808)
    await asyncio.to_thread(second.start, 60)
    terms: list[Jt808Terminal] = []
    try:
        assert process_health(second.base)["jt808_port"] == cluster.jt808
        for k in range(24):  # Linux spreads new connections over the two listeners
            phone = f"013966{(os.getpid() * 100 + k) % 1_000_000:06d}"
            await register(cluster.db, phone)
            t = Jt808Terminal("127.0.0.1", cluster.jt808, phone)
            terms.append(t)
            await t.connect()
            now = datetime.now(UTC).replace(microsecond=0)
            assert await t.location(location_body(X, Y, 20.0, 0.0, now))
        counts = [process_health(p.base)["jt808_connections"] for p in (cluster.ingest, second)]
        assert sum(counts) == len(terms) and all(c > 0 for c in counts), counts
        print(f"\n{len(terms)} terminals on one JT/T 808 port: {counts[0]} / {counts[1]} per ingest process")
    finally:
        for t in terms:
            await t.close()
        await asyncio.to_thread(second.stop)


def test_split_role_without_redis_refuses_to_start(demo_db_url):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SHARPEYES_ROLE")}
    env.update(DATABASE_URL=demo_db_url, PYTHONPATH=str(ROOT))
    for role in ("api", "ingest"):
        r = subprocess.run([sys.executable, "-m", "app.cli", "serve", "--role", role], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, r.stderr
        assert f"SHARPEYES_ROLE={role} (serve --role {role}) needs REDIS_URL" in r.stderr


def test_api_role_with_workers(cluster):
    """``serve --role api --workers 2``: two worker processes, each with its own lifespan (its Runtime on the
    bus) answering on the one HTTP port."""
    port = free_port()
    env = {**cluster.ingest.env, "SHARPEYES_ROLE": "api", "SHARPEYES_PORT": str(port), "SHARPEYES_HOST": "127.0.0.1"}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--workers", "2"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        workers: list[str] = []
        while len(workers) < 2 or not _answers(port):
            assert proc.poll() is None and time.monotonic() < deadline, "API workers did not start"
            time.sleep(0.3)
            workers = [p for p in os.listdir("/proc") if p.isdigit() and _ppid(p) == proc.pid]
        for _ in range(10):  # new connections, whichever worker takes them: each has its runtime
            with httpx.Client(timeout=5) as c:
                h = c.get(f"http://127.0.0.1:{port}/api/v1/health").json()["process"]
            assert h["role"] == "api" and h["hub"] and h["bus_connected"]
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _ppid(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
