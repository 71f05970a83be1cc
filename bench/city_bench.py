"""A synthetic city on the demo city's real roads (issue #19): N cameras and M patrol units placed on its road
nodes, the units reporting over JT/T 808 at --hz, S websocket screens each with its own viewport, P of them
also panning tiles, D dispatchers creating incidents, asking for the recommended units and calling up the
cameras that see them — run as (a) one ``--role all`` process and (b) 1 ingest + 2 API processes on the
Redis bus, on the same machine.

    PYTHONPATH=. python bench/city_bench.py [--cameras 50000] [--units 5000] [--hz 1] [--screens 200]
        [--panners 20] [--dispatchers 20] [--seconds 30] [--mode all|split|both]

Needs PostgreSQL + PostGIS (``SHARPEYES_TEST_PG``) and, for ``split``, Redis (``REDIS_URL``, default the
local one): a throw-away database with the demo city is made (as the other benches do), seeded, dropped.
The load generator (terminals: ingest_bench's; screens: ws_bench's client; tiles: tiles_bench's keep-alive
client; dispatchers: httpx) runs in this process, on the same cores. Measured from the moment all terminals
are logged in until the last acknowledgement (0x8001, sent after commit): CPU seconds per server process
and per stored fix, the database's and the load generator's; ingest→screen latency = the fix's send time →
its arrival on a screen (same clock; every screen counts, a sample of frames parsed); tiles per second and
p99; incident creation, recommend, seeing and call-up p99; and the acknowledged fixes missing from the
``position`` table (must be 0). The load average is printed before and after each run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import uvloop
from _common import ApiProcess, cpu_seconds, demo_database, token
from city_load import DeskStats, Probe, RoadTerminal, dispatcher, panner, pct, screens, viewport
from ingest_bench import bench_jt808

from app.db.engine import make_engine
from app.simulator import fleet
from tests.live_servers import free_port, new_bus_prefix

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
PHONE = "01390{:07d}"

NODES_SQL = """CREATE TEMP TABLE city_node AS
SELECT row_number() OVER (ORDER BY id) AS k, location FROM road_node WHERE degree > 0"""
# Fixed sectors (4 in 5) and PTZ discs (1 in 5) a few metres off a road node, each filed under its division.
CAMERAS_SQL = """
INSERT INTO camera (gb_id, name, division_code, location, view, kind, heading_deg, fov_deg, range_m, hd, cls, status)
SELECT '88' || lpad(i::text, 18, '0'), 'city ' || i,
       (SELECT code FROM division d WHERE ST_Intersects(d.boundary, p) ORDER BY level DESC LIMIT 1), p,
       CASE WHEN i %% 5 = 0 THEN ST_Buffer(p::geography, r, 4)::geometry
            ELSE ST_MakePolygon(ST_MakeLine(ARRAY[p,
                   ST_Project(p::geography, r, radians(h - 30))::geometry,
                   ST_Project(p::geography, r, radians(h))::geometry,
                   ST_Project(p::geography, r, radians(h + 30))::geometry, p])) END,
       CASE WHEN i %% 5 = 0 THEN 'ptz' ELSE 'fixed' END, h, CASE WHEN i %% 5 = 0 THEN 360 ELSE 60 END, r,
       i %% 3 <> 0, 1 + i %% 3, CASE WHEN i %% 17 = 0 THEN 'offline' ELSE 'online' END
FROM (SELECT i, ST_SetSRID(ST_MakePoint(ST_X(n.location) + (random() - 0.5) * 4e-4,
                                        ST_Y(n.location) + (random() - 0.5) * 2e-4), 4326) AS p,
             (random() * 360)::float AS h, 30 + random() * 60 AS r
      FROM generate_series(%(a)s::int, %(b)s::int) i
      JOIN city_node n ON n.k = 1 + i %% (SELECT count(*) FROM city_node)) s"""


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_busy() -> float:
    """CPU seconds all processes of this machine have used (``/proc/stat``: all but idle and iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def backends_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to this run's database (not the machine's
    other databases: the machine is shared). A backend that exits meanwhile drops out of the sum."""
    with psycopg.connect(url) as c:
        pids = [r[0] for r in c.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                        "AND pid <> pg_backend_pid()")]
    out = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            out[pid] = cpu_seconds(pid)
    return out


def settle(limit_s: float) -> None:
    """Wait (at most ``limit_s``) for the 1-minute load to fall under 1.5: the machine is shared."""
    deadline = time.monotonic() + limit_s
    while os.getloadavg()[0] > 1.5 and time.monotonic() < deadline:
        time.sleep(2)


def seed(url: str, cameras: int, units: int) -> tuple[list[tuple[str, float, float]], tuple, list]:
    """Cameras and units on the road nodes; the units (targets + units, fleet.register) as JT/T 808 devices.
    Returns the units (phone, x, y), the roads' extent and the road points (for incidents)."""
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(NODES_SQL)
        for a in range(1, cameras + 1, 50_000):
            c.execute(CAMERAS_SQL, {"a": a, "b": min(a + 49_999, cameras)})
        c.execute("VACUUM ANALYZE camera")
        area = c.execute("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                         "(SELECT ST_Extent(location) AS e FROM road_node WHERE degree > 0) s").fetchone()
        points = c.execute("SELECT ST_X(location), ST_Y(location) FROM road_node WHERE degree > 1").fetchall()

    async def _units() -> list[tuple[str, float, float]]:
        engine = make_engine(url)
        async with engine.begin() as conn:
            nodes = await fleet.start_nodes(conn, units, radius_deg=1.0)  # random nodes all over the city
            out = []
            for j, (_, x, y) in enumerate(nodes):
                await fleet.register(conn, "jt808", PHONE.format(j), f"C{j:05d}", x, y)
                out.append((PHONE.format(j), x, y))
        await engine.dispose()
        return out

    fleet_units = asyncio.run(_units())
    print(f"seeded {cameras:,} cameras and {units:,} JT/T 808 units on {len(points):,} road nodes in "
          f"{time.perf_counter() - t0:.0f} s; roads' extent {', '.join(f'{v:.4f}' for v in area)}")
    return fleet_units, tuple(area), points


def role_process(url: str, role: str, prefix: str, jt808: int = 0, redis: bool = True) -> ApiProcess:
    p = ApiProcess(url, redis_url=REDIS_URL if redis else None, bus_prefix=prefix)
    p.env.update(SHARPEYES_ROLE=role, SHARPEYES_JT808_PORT=str(jt808), SHARPEYES_GB_PORT="0",
                 SHARPEYES_INGEST_PER_MINUTE="100000000", SHARPEYES_LOGIN_PER_MINUTE="1000")
    return p


class Run:
    """One run's shared clock and counters: from the terminals' first send to their last acknowledgement."""

    def __init__(self, url: str, procs: dict[str, ApiProcess], not_before: datetime, resets: list[list]) -> None:
        self.url, self.procs, self.not_before, self.resets = url, procs, not_before, resets
        self.base = not_before
        self.count = 0
        self.started = False

    def set_base(self, count: int) -> None:
        # Recent fixes (dispatch wants a fresh one), 1 s of device clock apart, none in the future at 1 Hz,
        # none shared with an earlier run.
        self.count = count
        self.base = max(datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=count + 5), self.not_before)

    def start(self) -> None:
        self.started = True
        self.cpu0 = {n: cpu_seconds(p.proc.pid) for n, p in self.procs.items()}
        self.t0, self.db0, self.gen0 = time.perf_counter(), backends_cpu(self.url), time.process_time()
        self.busy0 = machine_busy()
        for values in self.resets:  # what the other clients measured while the terminals logged in
            values.clear()

    def stop(self) -> None:
        self.cpu = {n: cpu_seconds(p.proc.pid) - self.cpu0[n] for n, p in self.procs.items()}
        self.elapsed = time.perf_counter() - self.t0
        db = backends_cpu(self.url)
        self.db = sum(v - self.db0.get(pid, 0.0) for pid, v in db.items())
        self.gen = time.process_time() - self.gen0
        self.others = machine_busy() - self.busy0 - sum(self.cpu.values()) - self.db - self.gen


async def drive(args, run: Run, jt808: int, bases: list[str], ports: list[int], tokens: dict[str, str],
                fleet_units, area, points) -> dict:
    rng = random.Random(19)
    probe, stop = Probe(), asyncio.Event()
    boxes = [viewport(rng, area) for _ in range(args.screens)]
    stats, screen_tasks = await screens(bases, tokens["commander"], boxes, probe, stop)
    tile_lat: list[float] = []
    tile_errors: list[str] = []
    desk = DeskStats()
    run.resets += [tile_lat, tile_errors, desk.create, desk.recommend, desk.seeing, desk.callup, desk.found,
                   desk.errors]
    others = [asyncio.create_task(panner(ports[i % len(ports)], tokens["commander"], boxes[i], area,
                                         random.Random(i), stop, tile_lat, tile_errors))
              for i in range(min(args.panners, args.screens))]
    others += [asyncio.create_task(dispatcher(bases[i % len(bases)], tokens["dispatcher"], points,
                                              random.Random(1000 + i), stop, desk, args.think))
               for i in range(args.dispatchers)]
    terms: list[RoadTerminal] = []

    def make(j: int, acks: list[float]) -> RoadTerminal:
        phone, x, y = fleet_units[j]
        terms.append(RoadTerminal(phone, acks, x, y, run))
        return terms[-1]

    _, sent, acks, failed = await bench_jt808(jt808, len(fleet_units), args.hz, args.count / args.hz, probe, make)
    run.stop()
    await asyncio.sleep(0.5)  # the hub's last tick
    stop.set()
    await asyncio.gather(*screen_tasks, *others)
    acked = set().union(*(t.acked_fixes() for t in terms))
    return {"sent": sent, "acks": acks, "failed": failed, "acked": acked, "ws": stats, "tiles": tile_lat,
            "tile_errors": tile_errors, "desk": desk}


def stored_fixes(url: str, run: Run) -> set[tuple[str, datetime]]:
    with psycopg.connect(url) as c:
        rows = c.execute("SELECT t.external_id, p.fix_time FROM position p JOIN target t ON t.id = p.target_id "
                         "WHERE t.protocol = 'jt808' AND t.external_id LIKE '01390%%' AND p.fix_time >= %s "
                         "AND p.fix_time < %s", (run.base, run.base + timedelta(seconds=run.count))).fetchall()
    return {(r[0], r[1]) for r in rows}


def one_mode(args, mode: str, url: str, seeded, not_before: datetime) -> datetime:
    fleet_units, area, points = seeded
    prefix, jt808 = new_bus_prefix(), free_port()
    if mode == "all":
        procs = {"all": role_process(url, "all", prefix, jt808, redis=False)}
        api = [procs["all"]]
        shape = "one --role all process (no Redis: today's single-process default)"
    else:
        procs = {"ingest": role_process(url, "ingest", prefix, jt808), "api-1": role_process(url, "api", prefix),
                 "api-2": role_process(url, "api", prefix)}
        api = [procs["api-1"], procs["api-2"]]
        shape = "1 ingest + 2 API processes on the Redis bus"
    settle(args.settle)
    print(f"\n== ({'a' if mode == 'all' else 'b'}) {shape}\n   before: {load()}", flush=True)
    try:
        with ThreadPoolExecutor(len(procs)) as pool:
            list(pool.map(lambda p: p.start(), procs.values()))
        tokens = {u: token(api[0].base, u) for u in ("commander", "dispatcher")}
        run = Run(url, procs, not_before, [])
        # uvloop, as ingest_bench: the load generator's loop as cheap as the server's
        r = uvloop.run(drive(args, run, jt808, [p.base for p in api], [p.port for p in api], tokens,
                             fleet_units, area, points))
    finally:
        for p in procs.values():
            p.stop()
    stored = stored_fixes(url, run)
    report(args, run, r, stored)
    print(f"   after: {load()}", flush=True)
    return run.base + timedelta(seconds=run.count)


def report(args, run: Run, r: dict, stored: set) -> None:
    n = len(stored)
    s = run.elapsed
    print(f"   {args.units:,} terminals at {args.hz:g} Hz for {args.count / args.hz:g} s: {r['sent']:,} fixes sent, "
          f"{len(r['acked']):,} acknowledged ok, {r['failed']:,} not, {n:,} stored in {s:.1f} s "
          f"({n / s:,.0f}/s); send → 0x8001 p50 {pct(r['acks'], .5) * 1e3:.0f} ms, "
          f"p99 {pct(r['acks'], .99) * 1e3:.0f} ms")
    print(f"   lost acknowledged fixes: {len(r['acked'] - stored)}")
    for name, cpu in run.cpu.items():
        print(f"   CPU {name:<7}{cpu:7.1f} s = {cpu / s:4.0%} of a core = {cpu / max(n, 1) * 1e6:5.0f} µs per fix")
    total = sum(run.cpu.values())
    print(f"   CPU servers {total:.1f} s = {total / max(n, 1) * 1e6:.0f} µs per fix; "
          f"database (its backends) {run.db:.1f} s = "
          f"{run.db / max(n, 1) * 1e6:.0f} µs per fix; load generator (this process) {run.gen:.1f} s; "
          f"rest of the machine {max(0.0, run.others):.1f} s (of {(os.cpu_count() or 1) * s:.0f} core-s)")
    ws = r["ws"]
    print(f"   ingest→screen ({args.screens} screens, own viewports; {len(ws.latencies):,} sampled deliveries): "
          f"p50 {pct(ws.latencies, .5) * 1e3:.0f} ms, p99 {pct(ws.latencies, .99) * 1e3:.0f} ms; "
          f"{ws.positions / s / max(args.screens, 1):,.0f} positions/s per screen; {ws.closed} cut off")
    t = r["tiles"]
    print(f"   tiles ({min(args.panners, args.screens)} panning screens, layers roads + cameras, z14–17): "
          f"{len(t) / s:,.0f} tiles/s, p50 {pct(t, .5) * 1e3:.1f} ms, p99 {pct(t, .99) * 1e3:.1f} ms; "
          f"{len(r['tile_errors'])} errors")
    d = r["desk"]
    print(f"   dispatchers ({args.dispatchers}, think {args.think:g} s): {len(d.create)} incidents; p99 create "
          f"{pct(d.create, .99) * 1e3:.0f} ms, recommend {pct(d.recommend, .99) * 1e3:.0f} ms (p50 "
          f"{pct(d.recommend, .5) * 1e3:.0f}; {sum(d.found)} of {len(d.found)} with a unit), seeing "
          f"{pct(d.seeing, .99) * 1e3:.0f} ms, call-up {pct(d.callup, .99) * 1e3:.0f} ms ({len(d.callup)} call-ups)"
          f"; {len(d.errors)} errors{': ' + d.errors[0] if d.errors else ''}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=50_000)
    ap.add_argument("--units", type=int, default=5_000)
    ap.add_argument("--hz", type=float, default=1.0, help="fixes per second per unit")
    ap.add_argument("--screens", type=int, default=200)
    ap.add_argument("--panners", type=int, default=20, help="screens that also pan (fetch tiles)")
    ap.add_argument("--dispatchers", type=int, default=20)
    ap.add_argument("--think", type=float, default=2.0, help="a dispatcher's mean pause between incidents, s")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--mode", choices=("all", "split", "both"), default="both")
    ap.add_argument("--settle", type=float, default=60.0, help="wait up to this for a 1-min load < 1.5, s")
    args = ap.parse_args()
    args.count = max(1, int(args.seconds * args.hz))
    print(f"machine: {os.cpu_count()} cores; {load()}")
    with demo_database() as url:
        seeded = seed(url, args.cameras, args.units)
        not_before = datetime(2000, 1, 1, tzinfo=UTC)
        for mode in (("all", "split") if args.mode == "both" else (args.mode,)):
            not_before = one_mode(args, mode, url, seeded, not_before)


if __name__ == "__main__":
    main()
