"""GB/T 28181 signalling benchmark: N simulated devices register, keep alive and report positions.

The server runs in this process, the device simulator (tests/gb28181_peer.py, all devices on one UDP
socket) in a child process, so each gets one of the machine's cores. Phases:

1. registration: every device REGISTER → 401 → REGISTER(digest) → 200;
2. keepalive: ``--rounds`` rounds of one Keepalive MESSAGE per device; the heartbeat timeout is set so
   that a device whose keepalive was lost would be marked offline: none may be;
3. MobilePosition: ``--positions`` NOTIFYs per device into the position sink, and with ``--db URL``
   through a batching writer into ``position`` via app.services.gb28181_store.

Baseline in the same run: the pure parse cost (SIP + MANSCDP) of a keepalive, single core.

    PYTHONPATH=. python bench/gb28181_bench.py --n 10000 [--db postgresql://postgres@127.0.0.1/db --migrate]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing as mp
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.ingest.gb28181 import Gb28181Server, Gb28181Settings, manscdp, sip

PASSWORD = "bench-password"


def device_id(i: int) -> str:
    return f"340200000013{2 + i // 1_000_000}{i % 1_000_000:07d}"[:20]


# --- simulator (child process) ------------------------------------------------------------------------


def simulator(port: int, n: int, rounds: int, positions: int, window: int, conn) -> None:
    asyncio.run(_simulate(port, n, rounds, positions, window, conn))


async def _simulate(port, n, rounds, positions, window, conn) -> None:
    from tests.gb28181_peer import PeerEndpoint, SimDevice

    ep = await PeerEndpoint.open(("127.0.0.1", port))
    ep._udp.get_extra_info("socket").setsockopt(
        __import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 4 << 20
    )
    devs = [SimDevice(ep, device_id(i), PASSWORD, answer_catalog=False, qop=True) for i in range(n)]

    async def phase(name, fn):
        # A fixed pool of workers, not one task per device behind a semaphore: asyncio.Semaphore
        # in 3.11 scans its waiters on every acquire, which is quadratic with 10,000 waiting tasks.
        todo, ok = iter(devs), 0

        async def worker():
            nonlocal ok
            for d in todo:
                r = await fn(d)
                ok += r is not None and r.status == 200

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(window)))
        conn.send((name, time.perf_counter() - t0, ok))

    await phase("register", lambda d: d.register(timeout_s=30))
    for r in range(rounds):
        await phase(f"keepalive{r}", lambda d: d.keepalive(timeout_s=30))
    base = datetime.now() - timedelta(seconds=positions + 60)
    for k in range(positions):
        t = base + timedelta(seconds=k)
        await phase(
            f"position{k}",
            lambda d, t=t, k=k: d.send_positions(
                [
                    (
                        d.device_id,
                        t,
                        118.38 + (k % 100) * 1e-4,
                        31.33 + (hash(d.device_id) % 100) * 1e-4,
                        30.0,
                        90.0,
                    )
                ],
                "flat",
                "NOTIFY",
                timeout_s=30,
            ),
        )
    conn.send(("done", 0.0, ep.stray))
    ep.close()


# --- server side (this process) -------------------------------------------------------------------


class Counter:
    def __init__(self) -> None:
        self.n = 0
        self.last = 0.0

    async def sink(self, fixes) -> None:
        self.n += len(fixes)
        self.last = time.perf_counter()


class BatchWriter:
    """Collects fixes and writes them every 100 ms or 2,000 rows, one batch at a time."""

    def __init__(self, store) -> None:
        self.store, self.buf, self.stored, self.last = store, [], 0, 0.0
        self.task: asyncio.Task | None = None

    async def sink(self, fixes) -> None:
        self.buf.extend(fixes)

    async def run(self) -> None:
        while True:
            if not self.buf:
                await asyncio.sleep(0.1)
                continue
            batch, self.buf = self.buf[:2000], self.buf[2000:]
            self.stored += await self.store.insert_positions(batch)
            self.last = time.perf_counter()


def baseline(n: int = 20000) -> float:
    from tests.gb28181_peer import PeerEndpoint, SimDevice, body

    dev = SimDevice.__new__(SimDevice)
    dev.ep, dev.device_id, dev.server_id, dev.domain = PeerEndpoint(), device_id(1), "3", "3"
    dev.from_tag, dev.cseq, dev.charset = "t", 0, "GB2312"
    dev.ep.local = ("127.0.0.1", 5)
    data = dev._request(
        "MESSAGE", body("Notify", "Keepalive", 1, device_id(1), "<Status>OK</Status>")
    ).to_bytes()
    t0 = time.perf_counter()
    for _ in range(n):
        msg = sip.parse_datagram(data)
        manscdp.parse(msg.body, msg.get("Content-Type"))
        sip.make_response(msg, 200, received=("127.0.0.1", 5)).to_bytes()
    return n / (time.perf_counter() - t0)


async def main(args) -> int:
    logging.basicConfig(level=logging.ERROR)
    store = None
    if args.db:
        from app.db import migrate
        from app.db.engine import make_engine, make_sessionmaker
        from app.services.gb28181_store import Gb28181Store

        if args.migrate:
            migrate.upgrade(args.db)
        engine = make_engine(args.db)
        store = Gb28181Store(make_sessionmaker(engine))
    counter = Counter()
    writer = BatchWriter(store) if store else None

    async def sink(fixes):
        await counter.sink(fixes)
        if writer:
            await writer.sink(fixes)

    # Heartbeat timeout (interval × count) shorter than the whole run: a lost keepalive would show.
    settings = Gb28181Settings(
        host="127.0.0.1",
        port=0,
        password=PASSWORD,
        tcp=False,
        heartbeat_interval_s=args.heartbeat,
        heartbeat_count=2,
        catalog_on_register=False,
        subscribe_catalog=False,
        subscribe_mobile_position=False,
        subscribe_alarm=False,
    )
    server = Gb28181Server(settings, position_sink=sink)
    await server.start()
    server._udp.get_extra_info("socket").setsockopt(
        __import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 4 << 20
    )
    if writer:
        writer.task = asyncio.create_task(writer.run())
    print(f"baseline: SIP+MANSCDP parse and 200 build of a keepalive, one core: {baseline():,.0f} msg/s")
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(
        target=simulator, args=(server.udp_port, args.n, args.rounds, args.positions, args.window, child)
    )
    proc.start()
    loop = asyncio.get_running_loop()
    results, t_pos0 = {}, None
    while True:
        name, secs, ok = await loop.run_in_executor(None, parent.recv)
        results[name] = (secs, ok)
        if name == "register":
            t_pos0 = None
            print(
                f"registration: {ok}/{args.n} OK in {secs:.2f} s → {args.n / secs:,.0f} registrations/s "
                f"({2 * args.n / secs:,.0f} REGISTER transactions/s incl. the 401 round)"
            )
        elif name.startswith("keepalive"):
            print(
                f"keepalive round {name[9:]}: {ok}/{args.n} OK in {secs:.2f} s "
                f"→ {args.n / secs:,.0f} keepalives/s"
            )
        elif name == "position0":
            t_pos0 = time.perf_counter() - secs
        if name == "done":
            stray = ok
            break
    proc.join(10)
    if args.positions:
        total = args.n * args.positions
        await _wait(lambda: counter.n >= total, 30)
        secs = counter.last - t_pos0
        ok = sum(v[1] for k, v in results.items() if k.startswith("position"))
        print(
            f"MobilePosition: {ok}/{total} NOTIFYs answered 200; {counter.n}/{total} fixes into the sink "
            f"in {secs:.2f} s → {counter.n / secs:,.0f} notifications/s"
        )
        if writer:
            await _wait(lambda: writer.stored >= total and not writer.buf, 120)
            secs = writer.last - t_pos0
            print(
                f"  into PostgreSQL (INSERT … unnest, 2,000-row batches): {writer.stored}/{total} "
                f"rows in {secs:.2f} s → {writer.stored / secs:,.0f} positions/s stored"
            )
    online = sum(1 for d in server.registry.devices.values() if d.online)
    ka = sum(d.keepalives for d in server.registry.devices.values())
    print(
        f"devices registered {len(server.registry.devices)}/{args.n}, online {online}, "
        f"wrongly marked offline {server.stats['device_offline']}, "
        f"keepalives counted {ka}/{args.n * args.rounds}, "
        f"retransmissions seen {server.stats['retransmissions']}, stray {stray}"
    )
    lost = (
        (args.n - len(server.registry.devices)) + (args.n * args.rounds - ka) + server.stats["device_offline"]
    )
    print("RESULT:", "none lost, none wrongly offline" if lost == 0 else f"{lost} LOST/OFFLINE")
    if writer:
        writer.task.cancel()
    await server.stop()
    return 0 if lost == 0 else 1


async def _wait(cond, within_s):
    deadline = time.perf_counter() + within_s
    while not cond() and time.perf_counter() < deadline:  # noqa: ASYNC110 (polling a counter is the point)
        await asyncio.sleep(0.05)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000, help="simulated devices")
    p.add_argument("--rounds", type=int, default=3, help="keepalive rounds")
    p.add_argument("--positions", type=int, default=3, help="MobilePosition NOTIFYs per device")
    p.add_argument("--window", type=int, default=64, help="transactions in flight")
    p.add_argument("--heartbeat", type=float, default=15.0, help="heartbeat interval (s); timeout = 2×")
    p.add_argument("--db", help="PostgreSQL URL: also store positions through the store")
    p.add_argument("--migrate", action="store_true", help="run the migrations on --db first")
    sys.exit(asyncio.run(main(p.parse_args())))
