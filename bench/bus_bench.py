"""The durable bus on Redis Streams (what ``app/realtime/bus.py`` does) against NATS JetStream, same payloads.

For each engine: N incident-sized events (~450 bytes of JSON) appended one by one, each awaited (the
publishing request waits for it: p50/p99 and rate), appended 32 at a time (throughput), read back from the
start in pages of 500 (a reconnecting client's replay, or a process catching up), and delivered live to a
subscriber (publish → receipt p50/p99). Redis: the bus's own Lua script (XADD MAXLEN ~ + PUBLISH).
JetStream: a stream with the same bound (max_msgs, discard old), memory and file storage; acknowledged
publishes, a pull consumer from sequence 1 for the replay, a core subscription for live delivery.

    python bench/bus_bench.py --n 5000            # Redis only, with the project's virtualenv
    /tmp/busbench/bin/python bench/bus_bench.py   # both (a virtualenv with redis and nats-py;
                                                  # NATS at 127.0.0.1:4222 started with -js)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.realtime.stream import APPEND_LUA, STREAM_MAXLEN  # the bus's own script and bound

PAGE = 500


def payload(i: int) -> bytes:
    return json.dumps({"op": "created", "division": "990101001001", "lon": 24.9391, "lat": 60.1757,
                       "incident": {"id": i, "type": "traffic", "type_zh": "交通事故", "type_en": "Traffic accident",
                                    "priority": 2, "status": "new", "description": "两车追尾，无人员受伤 " * 4,
                                    "address": "Mannerheimintie 1", "created_at": "2026-12-03T17:30:00+00:00",
                                    "dispatched_at": None, "on_scene_at": None, "camera_id": None,
                                    "lon": 24.9391, "lat": 60.1757}}, ensure_ascii=False).encode()


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def report(engine: str, rows: dict) -> None:
    print(f"{engine:24s} " + "  ".join(f"{k} {v}" for k, v in rows.items()), flush=True)


async def timed_appends(n: int, append) -> dict:
    lat = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        await append(i)
        lat.append(time.perf_counter() - t)
    wall = time.perf_counter() - t0
    return {"append/s": f"{n / wall:,.0f}", "p50": f"{statistics.median(lat) * 1e3:.3f}ms",
            "p99": f"{pct(lat, 0.99) * 1e3:.3f}ms"}


async def concurrent_appends(n: int, append, width: int = 32) -> str:
    t0 = time.perf_counter()
    for start in range(0, n, width):
        await asyncio.gather(*(append(i) for i in range(start, min(n, start + width))))
    return f"{n / (time.perf_counter() - t0):,.0f}"


async def live_latency(n: int, publish, received: asyncio.Queue) -> dict:
    lat = []
    for i in range(n):
        t = time.perf_counter()
        await publish(i)
        await received.get()
        lat.append(time.perf_counter() - t)
    return {"live p50": f"{statistics.median(lat) * 1e3:.3f}ms", "live p99": f"{pct(lat, 0.99) * 1e3:.3f}ms"}


async def bench_redis(n: int, url: str) -> None:
    import redis.asyncio as redis

    r = redis.from_url(url)
    prefix = f"busbench-{uuid.uuid4().hex[:6]}:"
    key, channel = prefix + "stream", prefix + "incidents!"
    script = r.register_script(APPEND_LUA)
    try:
        async def append(i: int) -> None:
            await script(keys=[key], args=[STREAM_MAXLEN, channel, "incidents", payload(i)])

        rows = await timed_appends(n, append)
        rows["x32 append/s"] = await concurrent_appends(n, append)
        t0, got, after = time.perf_counter(), 0, "0-0"
        while True:
            page = await r.xrange(key, min="(" + after, max="+", count=PAGE)
            for _, fields in page:
                json.loads(fields[b"m"])
            got += len(page)
            if len(page) < PAGE:
                break
            after = page[-1][0].decode()
        rows["replay/s"] = f"{got / (time.perf_counter() - t0):,.0f} ({got} kept)"
        received: asyncio.Queue = asyncio.Queue()
        ps = r.pubsub()
        await ps.subscribe(channel)
        await ps.get_message(timeout=5)  # the confirmation

        async def listen() -> None:
            async for item in ps.listen():
                if item["type"] == "message":
                    _, _, raw = item["data"].partition(b" ")
                    json.loads(raw)
                    received.put_nowait(1)

        task = asyncio.create_task(listen())
        rows.update(await live_latency(min(n, 2000), append, received))
        task.cancel()
        await ps.aclose()
        report("redis stream (Lua)", rows)
    finally:
        await r.delete(key)
        await r.aclose()


async def bench_nats(n: int, url: str, storage: str) -> None:
    import nats
    from nats.js.api import DiscardPolicy, StorageType, StreamConfig

    nc = await nats.connect(url)
    js = nc.jetstream()
    name = f"BUSBENCH{uuid.uuid4().hex[:6].upper()}"
    subject = name.lower() + ".incidents"
    await js.add_stream(StreamConfig(name=name, subjects=[subject], max_msgs=STREAM_MAXLEN,
                                     discard=DiscardPolicy.OLD,
                                     storage=StorageType.FILE if storage == "file" else StorageType.MEMORY))
    try:
        async def append(i: int) -> None:
            await js.publish(subject, payload(i))  # waits for the stream's acknowledgement

        rows = await timed_appends(n, append)
        rows["x32 append/s"] = await concurrent_appends(n, append)
        info = await js.stream_info(name)
        sub = await js.pull_subscribe(subject, durable=None,
                                      config=nats.js.api.ConsumerConfig(
                                          deliver_policy=nats.js.api.DeliverPolicy.BY_START_SEQUENCE,
                                          opt_start_seq=info.state.first_seq,
                                          ack_policy=nats.js.api.AckPolicy.NONE))
        t0, got = time.perf_counter(), 0
        while got < info.state.messages:
            try:
                msgs = await sub.fetch(PAGE, timeout=2)
            except nats.errors.TimeoutError:
                break
            for m in msgs:
                json.loads(m.data)
            got += len(msgs)
        rows["replay/s"] = f"{got / (time.perf_counter() - t0):,.0f} ({got} kept)"
        await sub.unsubscribe()
        received: asyncio.Queue = asyncio.Queue()

        async def on_msg(m) -> None:
            json.loads(m.data)
            received.put_nowait(1)

        live = await nc.subscribe(subject, cb=on_msg)
        rows.update(await live_latency(min(n, 2000), append, received))
        await live.unsubscribe()
        report(f"nats jetstream ({storage})", rows)
    finally:
        await js.delete_stream(name)
        await nc.close()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--nats", default="nats://127.0.0.1:4222")
    args = ap.parse_args()
    print(f"{args.n} events of {len(payload(0))} bytes, stream bound {STREAM_MAXLEN}", flush=True)
    await bench_redis(args.n, args.redis)
    try:
        import nats  # noqa: F401
    except ImportError:
        print("nats-py not installed here: JetStream skipped", flush=True)
        return
    for storage in ("memory", "file"):
        await bench_nats(args.n, args.nats, storage)


if __name__ == "__main__":
    asyncio.run(main())
