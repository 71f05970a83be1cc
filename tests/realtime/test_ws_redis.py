"""Two API processes on real Redis: a change made through one reaches a websocket client of the other;
a client that stops reading is cut off instead of growing server memory."""

from __future__ import annotations

import time
import uuid

import httpx
import orjson
import pytest
import redis
from websockets.sync.client import connect

from tests.live_servers import StalledClient, api_process, new_bus_prefix, recv_until, token
from tests.mvt import mvt_features, tile_of

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def two_apis(demo_db_url):
    redis.Redis.from_url(REDIS_URL).ping()  # precondition: the real Redis is there
    prefix = new_bus_prefix()  # both processes on the same channels, apart from any other run
    with api_process(demo_db_url, redis_url=REDIS_URL, bus_prefix=prefix) as a, \
            api_process(demo_db_url, redis_url=REDIS_URL, bus_prefix=prefix) as b:
        yield a, b


def ws_url(base: str) -> str:
    return base.replace("http", "ws") + "/ws"


def test_camera_created_on_a_reaches_websocket_on_b(two_apis):
    a, b = two_apis
    name = f"跨进程-{uuid.uuid4().hex[:6]}"
    x, y = tile_of(24.944, 60.171, 16)
    tile_url = f"{b}/tiles/cameras/16/{x}/{y}.pbf"
    cmd = {"Authorization": f"Bearer {token(b, 'commander')}"}
    before = httpx.get(tile_url, headers=cmd)  # warms B's tile cache
    n0 = mvt_features(before.content) if before.status_code == 200 else 0
    with connect(ws_url(b), max_size=None, subprotocols=["sharpeyes", f"bearer.{token(b, 'commander')}"]) as ws:
        ws.send(orjson.dumps({"type": "subscribe", "layers": ["cameras"]}).decode())
        assert len(recv_until(ws, "snapshot", 10)["cameras"]["id"]) >= 221
        admin = {"Authorization": f"Bearer {token(a, 'admin')}"}
        r = httpx.post(a + "/api/v1/cameras", headers=admin,
                       json={"name": name, "lon": 24.944, "lat": 60.171})
        assert r.status_code == 201, r.text
        frame = recv_until(ws, "cameras", 5)
        assert frame["camera"]["id"] == r.json()["id"] and frame["camera"]["name"] == name
    # B's tile cache was invalidated by the message from A: its next camera tile includes the new camera.
    assert mvt_features(httpx.get(tile_url, headers=cmd).content) == n0 + 1
    assert httpx.delete(f"{a}/api/v1/cameras/{r.json()['id']}", headers=admin).status_code == 204


def test_slow_client_is_cut_off(demo_db_url, monkeypatch):
    """A client that stops reading: its queue (16 frames here) fills and the hub cuts it off."""
    monkeypatch.setenv("SHARPEYES_WS_QUEUE_FRAMES", "16")
    bus = redis.Redis.from_url(REDIS_URL)
    prefix = new_bus_prefix()
    with api_process(demo_db_url, redis_url=REDIS_URL, bus_prefix=prefix) as base:
        client = StalledClient(base, token(base, "commander"))
        try:
            client.send_text('{"type":"subscribe","layers":["incidents"]}')
            time.sleep(1.0)  # the snapshot is queued before the flood (a stalled client cannot see it arrive)
            blob = "x" * 50_000
            for i in range(400):  # 20 MB of incidents that may not be dropped
                bus.publish(prefix + "incidents", orjson.dumps(
                    {"op": "created", "division": "990101001001",
                     "incident": {"id": i, "priority": 3, "status": "new", "lon": 24.94, "lat": 60.17,
                                  "type": "test", "description": blob}}))
            time.sleep(2.0)  # the client stays stalled while the hub works through the flood
            frames, closed = client.read_all(timeout=10)
        finally:
            client.close()
        incidents = [f for op, f in frames if op == 2 and f.startswith(b'{"type":"incidents"')]
        assert closed, "the server kept a stalled client"
        assert 0 < len(incidents) < 400
        # What it did get is complete and in order: nothing was dropped silently in between.
        ids = [orjson.loads(f)["incident"]["id"] for f in incidents]
        assert ids == list(range(len(ids)))
