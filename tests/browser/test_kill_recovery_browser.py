"""Processes killed under load, every screen recovered (issue #19), over real processes, Redis, PostgreSQL,
JT/T 808 sockets and headless Chromium.

One ingest process and two API processes on one bus; terminals keep sending while a wall (Chromium) and a
websocket screen watch API process A. ``kill -9`` of A: the screen reconnects to B with the last event id it
saw and gets the incident opened meanwhile; A restarted on its port, the wall reconnects by itself (no page
reload) and shows that incident and the live positions again. ``kill -9`` of the ingest process: terminals
reconnect, both screens see positions again, and no acknowledged fix is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import SimpleNamespace

import orjson
import psycopg
import pytest
import redis
import websockets

from app.simulator.run import location_body
from tests.browser.test_wall_browser import SHOTS, chromium, open_wall  # noqa: F401 (chromium: a fixture)
from tests.frontend_build import ensure_built
from tests.live_servers import free_port, new_bus_prefix, token
from tests.realtime.test_event_stream import NW, open_incident
from tests.realtime.test_process_roles import REDIS_URL, Sender, X, Y, register, role_process
from tests.waiting import wait_for

TERMINALS = 40


@pytest.fixture(scope="module")
def cluster(demo_db_url):
    ensure_built()
    SHOTS.mkdir(parents=True, exist_ok=True)
    redis.Redis.from_url(REDIS_URL).ping()  # precondition: the real Redis is there
    prefix = new_bus_prefix()
    jt808 = free_port()
    procs = SimpleNamespace(ingest=role_process(demo_db_url, "ingest", prefix, jt808),
                            a=role_process(demo_db_url, "api", prefix), b=role_process(demo_db_url, "api", prefix),
                            jt808=jt808, db=demo_db_url)
    every = [procs.ingest, procs.a, procs.b]
    try:
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda p: p.start(), every))
        yield procs
    finally:
        for p in every:
            p.stop()


class Screen:
    """A websocket screen (positions and incidents) that reconnects, to ``bases`` in turn, with the last
    event id it saw, as the frontend's feed does."""

    def __init__(self, bases: list[str], user: str = "commander") -> None:
        self.bases, self.user = bases, user
        self.positions: dict[str, float] = {}  # device id → when its latest position arrived here
        self.incidents: list[int] = []
        self.last_id: str | None = None
        self.connected_to: list[str] = []

    async def run(self, stop: asyncio.Event) -> None:
        k = 0
        while not stop.is_set():
            base = self.bases[k % len(self.bases)]
            k += 1
            try:
                tok = await asyncio.to_thread(token, base, self.user)
                async with websockets.connect(base.replace("http", "ws") + "/ws", max_size=None, open_timeout=5,
                                              subprotocols=["sharpeyes", f"bearer.{tok}"]) as ws:
                    sub = {"type": "subscribe", "layers": ["positions", "incidents"],
                           **({"since": self.last_id} if self.last_id else {})}
                    await ws.send(orjson.dumps(sub).decode())
                    self.connected_to.append(base)
                    await self._receive(ws, stop)
            except Exception:
                await asyncio.sleep(0.3)  # that process is gone: the next one

    async def _receive(self, ws, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                msg = orjson.loads(await asyncio.wait_for(ws.recv(), 1.0))
                if isinstance(msg.get("event_id"), str):
                    self.last_id = msg["event_id"]
                if msg.get("type") == "positions":
                    now = time.monotonic()
                    for it in msg["items"]:
                        if it.get("device_id"):
                            self.positions[it["device_id"]] = now
                elif msg.get("type") == "incidents":
                    self.incidents.append(msg["incident"]["id"])

    def fresh(self, since: float) -> int:
        """How many terminals' positions arrived after ``since``."""
        return sum(t > since for t in list(self.positions.values()))  # written by the load's thread


class PacedSender(Sender):
    """A terminal at 1 Hz, each fix stamped with its own second (the base class sends as fast as it is
    acknowledged, with made-up times that would run into the future over this test's minutes)."""

    async def one(self) -> None:
        now = time.time()
        await asyncio.sleep(math.ceil(now) - now)
        when = datetime.fromtimestamp(math.ceil(now), UTC)
        self.i += 1
        if await self.term.location(location_body(X, Y, 30.0, 90.0, when)):
            self.acked.append(when)
            self.ack_at.append(time.monotonic())


class Load:
    """The terminals and the screen, on their own event loop in a thread (the browser is driven from the
    test's thread by Playwright's sync API)."""

    def __init__(self, port: int, phones: list[str], screen: Screen) -> None:
        self.senders = [PacedSender(port, p) for p in phones]
        self.screen = screen
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Load:
        self.thread.start()
        self.stop = self.run(self._event())
        self.tasks = []
        return self

    def run(self, coro):
        """Run ``coro`` on the load's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(120)

    def start(self) -> None:
        self.tasks = [asyncio.run_coroutine_threadsafe(x.run(self.stop), self.loop)
                      for x in [*self.senders, self.screen]]

    @staticmethod
    async def _event() -> asyncio.Event:
        return asyncio.Event()  # made on the load's loop

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        for t in self.tasks:
            with contextlib.suppress(Exception):
                t.result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def register_all(db: str, phones: list[str]) -> list[int]:
    return [await register(db, p) for p in phones]


def kill9(proc) -> None:
    proc.proc.kill()
    proc.proc.wait()
    proc.proc = None


def wall_has_targets(page, ids: list[int], since_ms: float) -> bool:
    return page.evaluate("""([ids, since]) => {
        const l = window.sharpeyes.map.deck.layerManager.getLayers().find(l => l.id === 'targets');
        const have = new Set((l?.props.data ?? []).map(t => t.id));
        return ids.every(id => have.has(id)) && window.sharpeyes.store.positionsDrawnAt > since;
    }""", [ids, since_ms])


def test_kill9_of_an_api_and_the_ingest_process_under_load(cluster, chromium):  # noqa: F811
    phones = [f"01395{os.getpid() % 100_000:05d}{k:02d}" for k in range(TERMINALS)]
    screen = Screen([cluster.a.base, cluster.b.base])
    wall = open_wall(chromium, cluster.a.base)
    page = wall.page
    with Load(cluster.jt808, phones, screen) as load:
        target_ids = load.run(register_all(cluster.db, phones))
        load.start()
        page.evaluate("window.__marker = 42")  # survives only if the page is never reloaded
        wait_for(lambda: screen.fresh(0) == TERMINALS, timeout=60, what="every terminal on the screen")
        wait_for(lambda: wall_has_targets(page, target_ids, 0), timeout=60, what="every terminal on the wall")

        # 1. kill -9 of API process A, with the wall and the screen on it and the terminals sending.
        killed = time.monotonic()
        kill9(cluster.a)
        page.wait_for_selector("[data-testid=conn][data-state=reconnecting]")
        incident = open_incident(cluster.b.base, NW, "while A was down")
        wait_for(lambda: incident in screen.incidents, timeout=60,
                 what="the incident opened while A was down, on the screen now on B")
        assert screen.connected_to[-1] == cluster.b.base
        moved = time.monotonic()
        wait_for(lambda: screen.fresh(moved) == TERMINALS, timeout=30, what="live positions of every terminal on B")
        screen_back = time.monotonic() - killed

        cluster.a.start()  # restarted on its port: the wall's own reconnect finds it
        page.wait_for_selector("[data-testid=conn][data-state=live]")
        page.wait_for_selector(f"[data-testid=incident-panel][data-incident='{incident}']")  # the missed one
        back_ms = time.time() * 1000
        wait_for(lambda: wall_has_targets(page, target_ids, back_ms), timeout=60,
                 what="live positions on the wall again")
        wall_back = time.monotonic() - killed
        assert page.evaluate("window.__marker") == 42
        page.screenshot(path=str(SHOTS / "wall-after-api-kill9-1920x1080.png"))

        # 2. kill -9 of the ingest process under the same load.
        acked_before = sum(len(s.acked) for s in load.senders)
        kill9(cluster.ingest)
        cluster.ingest.start()
        restarted = time.monotonic()
        wait_for(lambda: all(s.reconnects >= 1 for s in load.senders), timeout=60,
                 what="every terminal reconnected to the restarted ingest process")
        wait_for(lambda: screen.fresh(restarted) == TERMINALS, timeout=60,
                 what="positions of every terminal on the screen after the ingest restart")
        back_ms = time.time() * 1000
        wait_for(lambda: wall_has_targets(page, target_ids, back_ms), timeout=60, what="positions on the wall again")
    page.close()
    acked = {(p, t) for p, s in zip(phones, load.senders, strict=True) for t in s.acked}
    with psycopg.connect(cluster.db) as conn:
        stored = set(conn.execute("SELECT t.external_id, p.fix_time FROM position p JOIN target t ON t.id = "
                                  "p.target_id WHERE t.external_id = ANY(%s)", (phones,)).fetchall())
    lost = acked - stored
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged fixes not stored"
    assert len(acked) > acked_before
    assert all("WebSocket" in e or "Failed to load resource" in e or "ERR_CONNECTION_REFUSED" in e
               for e in wall.errors), wall.errors
    print(f"\n{TERMINALS} terminals, {len(acked)} fixes acknowledged and stored; API A killed: the screen live "
          f"on B after {screen_back:.1f} s, the wall live on restarted A after {wall_back:.1f} s; "
          f"{sum(s.reconnects for s in load.senders)} terminal reconnects after the ingest kill")
