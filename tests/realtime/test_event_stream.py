"""Durable events (issue #19): a websocket client that reconnects to another API process resumes from the last
event id it saw. Two real API processes on real Redis and PostgreSQL: incidents opened while a client is
away are replayed on the other process in order, none twice, none missed, filtered by the receiver's scope as
live ones are; an id the stream no longer reaches yields ``reload``. The in-process ring answers the same."""

from __future__ import annotations

import contextlib
import os
import time

import httpx
import orjson
import pytest
import redis
from websockets.sync.client import connect

from app.realtime.bus import LocalBus
from app.realtime.stream import STREAM_KEY, LocalStream, key
from tests.live_servers import api_process, new_bus_prefix, token

REDIS_URL = "redis://127.0.0.1:6379/0"
NW = (24.939, 60.1757)  # division 990101: planner_nw sees it
NE = (24.9494, 60.1757)  # division 990102: planner_nw does not


@pytest.fixture(scope="module")
def two_apis(demo_db_url):
    redis.Redis.from_url(REDIS_URL).ping()  # precondition: the real Redis is there
    prefix = new_bus_prefix()
    with api_process(demo_db_url, redis_url=REDIS_URL, bus_prefix=prefix) as a, \
            api_process(demo_db_url, redis_url=REDIS_URL, bus_prefix=prefix) as b:
        yield a, b, prefix


class Feed:
    """A websocket feed of incidents: every frame kept, in the order received."""

    def __init__(self, base: str, user: str, since: str | None = None) -> None:
        tok = token(base, user)
        self.ws = connect(base.replace("http", "ws") + "/ws", max_size=None,
                          subprotocols=["sharpeyes", f"bearer.{tok}"]).__enter__()
        sub = {"type": "subscribe", "layers": ["incidents", "dispatch"], **({"since": since} if since else {})}
        self.ws.send(orjson.dumps(sub).decode())
        self.frames: list[dict] = []

    def until(self, pred, timeout: float = 15.0) -> dict:
        for f in self.frames:
            if pred(f):
                return f
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such frame within {timeout:g} s; got {[f['type'] for f in self.frames]}")
            f = orjson.loads(self.ws.recv(timeout=left))
            self.frames.append(f)
            if pred(f):
                return f

    def incident(self, incident_id: int) -> dict:
        return self.until(lambda f: f["type"] == "incidents" and f["incident"]["id"] == incident_id)

    def before_snapshot(self) -> list[dict]:
        """The frames before the snapshot but hello and keepalives: what was replayed."""
        snap = self.until(lambda f: f["type"] == "snapshot")
        return [f for f in self.frames[:self.frames.index(snap)] if f["type"] not in ("hello", "keepalive")]

    def last_id(self) -> str | None:
        ids = [f["event_id"] for f in self.frames if "event_id" in f]
        return max(ids, key=key) if ids else None

    def close(self) -> None:
        self.ws.close()


def open_incident(base: str, where: tuple[float, float], label: str) -> int:
    hdr = {"Authorization": f"Bearer {token(base, 'dispatcher')}"}
    r = httpx.post(base + "/api/v1/incidents", headers=hdr, timeout=10,
                   json={"type": "other", "priority": 3, "lon": where[0], "lat": where[1], "description": label})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_reconnect_to_another_process_replays_exactly_the_missed_events_scoped(two_apis):
    a, b, _ = two_apis
    cmd, nw = Feed(a, "commander"), Feed(a, "planner_nw")
    first = open_incident(a, NW, "before")
    for feed in (cmd, nw):  # both see it live on A, with its id
        assert feed.incident(first)["event_id"]
    cmd_last, nw_last = cmd.last_id(), nw.last_id()
    cmd.close()
    nw.close()

    # While they are away: incidents opened through both processes, in both divisions.
    missed = [open_incident(base, where, f"away {i}")
              for i, (base, where) in enumerate([(b, NE), (a, NW), (b, NW), (a, NE), (b, NE)])]
    in_nw = [missed[1], missed[2]]

    cmd, nw = Feed(b, "commander", since=cmd_last), Feed(b, "planner_nw", since=nw_last)
    try:
        replayed = [f for f in cmd.before_snapshot() if f["type"] == "incidents"]
        assert [f["incident"]["id"] for f in replayed] == missed  # all of them, in order
        ids = [key(f["event_id"]) for f in replayed]
        assert ids == sorted(set(ids)) and ids[0] > key(cmd_last)
        # The other division's planner gets only what it may see: the hub's filter, on replay too.
        assert [f["incident"]["id"] for f in nw.before_snapshot() if f["type"] == "incidents"] == in_nw

        # Then live on B, with no duplicate of the replayed ones and no gap.
        later = open_incident(a, NW, "after")
        for feed in (cmd, nw):
            assert key(feed.incident(later)["event_id"]) > max(key(f["event_id"]) for f in replayed)
        for feed, want in ((cmd, [*missed, later]), (nw, [*in_nw, later])):
            got = [f["incident"]["id"] for f in feed.frames if f["type"] == "incidents"]
            assert got == want, got
        print(f"\nreplayed on B: {len(replayed)} to the commander, {len(in_nw)} to planner_nw "
              f"(of {len(missed)} opened while away)")
    finally:
        cmd.close()
        nw.close()


def test_resume_from_the_snapshot_position_then_a_trimmed_id_yields_reload(two_apis):
    a, b, prefix = two_apis
    feed = Feed(b, "commander")
    mark = feed.until(lambda f: f["type"] == "snapshot").get("event_id")
    feed.close()
    assert mark, "the snapshot tells where in the stream it stands"
    gone = open_incident(a, NE, "while away, then trimmed")
    # The stream's bound (``MAXLEN ~``) reached while the client is away: Redis drops the oldest entries.
    redis.Redis.from_url(REDIS_URL).xtrim(prefix + STREAM_KEY, maxlen=0)
    kept = open_incident(a, NE, "after the trim")
    feed = Feed(b, "commander", since=mark)
    try:
        assert [f["type"] for f in feed.before_snapshot()] == ["reload"]
        assert feed.before_snapshot()[0]["reason"] == "trimmed"
        assert all(f["type"] != "incidents" or f["incident"]["id"] not in (gone, kept) for f in feed.frames)
        fresh = open_incident(b, NE, "live again")
        assert feed.incident(fresh)["event_id"]
    finally:
        feed.close()


def test_unknown_or_malformed_id_yields_reload(two_apis):
    _, b, _ = two_apis
    for since, reason in (("99999999999999-0", "unknown"), ("yesterday", "bad_since")):
        feed = Feed(b, "commander", since=since)
        try:
            assert [(f["type"], f["reason"]) for f in feed.before_snapshot()] == [("reload", reason)]
        finally:
            feed.close()


# -- the in-process ring: the same ids and answers ------------------------------------------------------

async def test_local_ring_keeps_ids_in_order_and_says_when_it_no_longer_reaches_back():
    ring = LocalStream(maxlen=3)
    ids = [ring.append("incidents", {"n": n}) for n in range(5)]
    assert [key(i) for i in ids] == sorted({key(i) for i in ids}) and ring.cursor == ids[-1]
    assert [m["n"] for _, _, m in await ring.read(ids[1], ids[-1])] == [2, 3, 4]
    assert await ring.check(ids[1]) is None  # everything after it is still there
    assert await ring.check(ids[0]) == "trimmed"  # the event after it fell out
    assert await ring.check(f"{key(ids[-1])[0] + 1}-0") == "unknown"


async def test_local_bus_gives_durable_subscribers_the_id():
    bus = LocalBus()
    got = []

    def cb(topic, msg):
        got.append((topic, msg, None))

    cb.durable = lambda topic, msg, event_id: got.append((topic, msg, event_id))
    bus.subscribe(cb)
    await bus.publish("incidents", {"n": 1})
    await bus.publish("positions", {"target_id": 1})
    assert got[0][2] == bus.stream.cursor and got[0][:2] == ("incidents", {"n": 1})
    assert got[1] == ("positions", {"target_id": 1}, None)


# -- a client ahead of the process it reconnects to -----------------------------------------------------

def test_client_ahead_of_this_process_gets_no_event_twice(demo_db_url):
    """The client saw an id on another process that this one has not delivered yet (its pub/sub is behind):
    when that event reaches this process (here: its catch-up from the stream, as after a Redis reconnect),
    the client does not get it again; the next one comes live."""
    from fastapi.testclient import TestClient

    from app.api.main import create_app
    from app.config import Settings

    prefix = new_bus_prefix()
    r = redis.Redis.from_url(REDIS_URL)
    with TestClient(create_app(Settings(demo_mode=True, redis_url=REDIS_URL, bus_prefix=prefix), demo_db_url)) as c:
        bus = c.app.state.bus
        msg = {"op": "created", "division": "990101001001", "lon": NW[0], "lat": NW[1],
               "incident": {"id": -1, "status": "new", "lon": NW[0], "lat": NW[1]}}
        # Appended by another process, its pub/sub message not here yet: only the stream has it.
        ahead = r.xadd(prefix + STREAM_KEY, {"t": "incidents", "m": orjson.dumps(msg)}).decode()
        assert key(ahead) > key(bus.stream.cursor)
        tok = c.post("/api/v1/auth/login", json={"username": "commander", "password": "sharpeyes-demo"}).json()
        with c.websocket_connect("/ws", subprotocols=["sharpeyes", f"bearer.{tok['access_token']}"]) as ws:
            ws.send_text(orjson.dumps({"type": "subscribe", "layers": ["incidents"], "since": ahead}).decode())
            frames = []
            while not frames or frames[-1]["type"] != "snapshot":
                frames.append(orjson.loads(ws.receive_bytes()))
            assert frames[-1]["event_id"] == ahead  # level with what it saw, not with this process
            c.portal.call(bus._catch_up)  # the event reaches this process now
            assert key(bus.stream.cursor) == key(ahead)
            c.portal.call(bus.publish, "incidents", {**msg, "incident": {**msg["incident"], "id": -2}})
            while frames[-1]["type"] != "incidents":
                frames.append(orjson.loads(ws.receive_bytes()))
            assert [f["incident"]["id"] for f in frames if f["type"] == "incidents"] == [-2]
            assert key(frames[-1]["event_id"]) > key(ahead)
    r.delete(prefix + STREAM_KEY)


# -- a process whose Redis connection drops misses nothing durable ----------------------------------------

def _own_ports() -> set[int]:
    """The local TCP ports of this process's sockets (to find our own connection in CLIENT LIST)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/self/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in list(f)[1:]:
                cols = line.split()
                if cols[9] in inodes:
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


async def test_redis_bus_catches_up_from_the_stream_after_its_connection_drops():
    import redis.asyncio as aredis

    from app.realtime.bus import DURABLE_SUFFIX, RedisBus
    from tests.waiting import async_wait_for

    prefix = new_bus_prefix()
    bus = RedisBus(REDIS_URL, prefix)
    r = aredis.from_url(REDIS_URL)
    got: list[tuple[int, str]] = []

    def cb(topic, msg):
        raise AssertionError("durable events come with their id")

    cb.durable = lambda topic, msg, event_id: got.append((msg["n"], event_id))
    bus.subscribe(cb, topics={"incidents"})
    await bus.start()
    try:
        await bus.publish("incidents", {"n": 0})
        await async_wait_for(lambda: len(got) == 1, what="the first event")
        ours = _own_ports()
        subscriber = [c for c in await r.client_list()
                      if c["cmd"] == "psubscribe" and int(c["addr"].rsplit(":", 1)[1]) in ours]
        assert len(subscriber) == 1, subscriber
        # Its subscription killed and two events published in one transaction: pub/sub cannot bring them.
        pipe = r.pipeline(transaction=True)
        pipe.execute_command("CLIENT", "KILL", "ID", subscriber[0]["id"])
        for n in (1, 2):
            await bus.stream._append(keys=[bus.stream.key], client=pipe,
                                     args=[bus.stream.maxlen, prefix + "incidents" + DURABLE_SUFFIX, "incidents",
                                           orjson.dumps({"n": n})])
        await pipe.execute()
        await async_wait_for(lambda: len(got) >= 3, what="the events published while it was cut off")
        await bus.publish("incidents", {"n": 3})
        await async_wait_for(lambda: len(got) >= 4, what="live again")
        assert [n for n, _ in got] == [0, 1, 2, 3]  # each once, in order
        assert [key(i) for _, i in got] == sorted(key(i) for _, i in got)
    finally:
        await bus.stop()
        await r.delete(prefix + STREAM_KEY)
        await r.aclose()
