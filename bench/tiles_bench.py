"""Vector tiles on the demo city, all in one run: our API's tiles with the cache warm and cold, tipg (its own
virtualenv, the same tables, tiles, columns and limits), a bare ``GET /hello`` on the same server as our
tiles (``bench/tiles_hello_app.py``), and the ST_AsMVT query alone.

    PYTHONPATH=. python bench/tiles_bench.py [--concurrency 8] [--rounds 5] [--no-redis] [--tipg-venv DIR]

Paired rounds: each round makes the cache cold (a version bump in Redis, as a change would; without Redis
a restart), runs the cold pass, then the warm, hello and tipg passes in a rotating order, so that each
ratio is taken between passes a few seconds apart on this shared machine; the ranges over rounds are
printed, with the server process's CPU per request (what the load of other processes disturbs least).
The requests go through a minimal keep-alive HTTP/1.1 client (a few µs per request), not httpx
(hundreds), so that the client does not bound the server on 2 cores.

tipg is installed on first use into ``--tipg-venv`` (default ``$TIPG_VENV`` or
``~/.cache/sharpeyes/tipg-venv``: ``python -m venv`` + ``pip install tipg==1.6.1 uvicorn``); if that
fails the error is printed and the tipg rows are left out. Uses $DATABASE_URL if set (with the demo city
loaded), otherwise a throw-away database; $REDIS_URL (default the local Redis) unless --no-redis.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from _common import ROOT, cpu_seconds, demo_database, rss_mb, token

from app.services.tile_cache import _BUMP
from app.services.tiles import LAYERS as OUR_LAYERS
from tests.live_servers import free_port, new_bus_prefix

BBOX = (24.9351, 60.1641, 24.9535, 60.1792)  # the demo city
LAYERS = ("roads", "divisions", "key_areas", "cameras")
ZOOMS = range(13, 18)
TIPG_VERSION = "1.6.1"
# tipg's collection, geometry column and properties for each of our layers (coverage_status is computed
# by our query from the planning results; tipg serves the table's own columns).
TIPG = {"roads": ("road_edge", "geom", "id,name,highway"),
        "divisions": ("division", "boundary", "code,name,name_en,level"),
        "key_areas": ("key_area", "area", "id,name,name_en,category,division_code"),
        "cameras": ("camera", "location", "id,gb_id,name,cls,kind,status,heading_deg,fov_deg,range_m,hd,networked,"
                    "division_code")}


def tiles() -> list[tuple[str, int, int, int]]:
    out = []
    for z in ZOOMS:
        n = 1 << z

        def xy(lon, lat, n=n):
            return (int((lon + 180) / 360 * n),
                    int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))

        x1, y1 = xy(BBOX[0], BBOX[3])
        x2, y2 = xy(BBOX[2], BBOX[1])
        out += [(layer, z, x, y) for layer in LAYERS for x in range(x1, x2 + 1) for y in range(y1, y2 + 1)]
    return out


def our_path(t) -> str:
    return f"/tiles/{t[0]}/{t[1]}/{t[2]}/{t[3]}.pbf"


def tipg_path(t) -> str:
    table, geom, props = TIPG[t[0]]
    return (f"/collections/public.{table}/tiles/WebMercatorQuad/{t[1]}/{t[2]}/{t[3]}"
            f"?geom-column={geom}&properties={props}&limit={OUR_LAYERS[t[0]].limit}")


# --- a minimal keep-alive HTTP/1.1 client --------------------------------------------------------------
async def _get(reader, writer, request: bytes) -> tuple[int, int]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        size = 0
        while True:
            n = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(n + 2)
            size += n
            if n == 0:
                return status, size
    if length:
        await reader.readexactly(length)
    return status, length


async def _pass(port: int, paths: list[str], headers: dict, concurrency: int) -> tuple[float, list[float], int]:
    extra = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Accept-Encoding": "gzip"}.items())
    requests = [f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode() for p in paths]
    queue = list(reversed(requests))
    lat: list[float] = []
    size = 0

    async def worker():
        nonlocal size
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                req = queue.pop()
                t0 = time.perf_counter()
                status, n = await _get(reader, writer, req)
                lat.append(time.perf_counter() - t0)
                if status not in (200, 204):
                    raise RuntimeError(f"HTTP {status} for {req.split(b' ')[1].decode()}")
                size += n
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0, lat, size


# --- servers ---------------------------------------------------------------------------------------------
class Server:
    def __init__(self, name: str, cmd: list[str], env: dict, ready_path: str) -> None:
        self.name, self.cmd, self.env, self.ready_path = name, cmd, env, ready_path
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> None:
        self.proc = subprocess.Popen([*self.cmd, "--host", "127.0.0.1", "--port", str(self.port),
                                      "--log-level", "warning"], cwd=ROOT, env=self.env)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}{self.ready_path}", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    @property
    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)


def tipg_python(venv: Path) -> Path | str:
    """The venv's python with tipg, installing it on first use; an error message (str) if that fails."""
    py = venv / "bin" / "python"
    check = [str(py), "-c", "import tipg, uvicorn; print(tipg.__version__)"]
    if py.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return py
    print(f"installing tipg {TIPG_VERSION} into {venv} ...", flush=True)
    for cmd in ([sys.executable, "-m", "venv", str(venv)],
                [str(py), "-m", "pip", "install", "-q", f"tipg=={TIPG_VERSION}", "uvicorn"]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            return f"{' '.join(cmd[:4])}: {(r.stderr or r.stdout).strip()[-800:]}"
    return py


def api_server(url: str, redis_url: str | None) -> Server:
    env = {**os.environ, "DATABASE_URL": url, "SHARPEYES_DEMO_MODE": "1", "SHARPEYES_BUS_PREFIX": new_bus_prefix(),
           "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'bench'}"}
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return Server("API", [sys.executable, "-m", "uvicorn", "tiles_hello_app:app", "--no-proxy-headers"], env,
                  "/api/v1/health")


def tipg_server(py: Path, url: str) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIPG_", "PYTHON"))}
    tables = ",".join(f'"public.{t[0]}"' for t in TIPG.values())
    env.update(DATABASE_URL=url.replace("postgresql+psycopg://", "postgresql://"),
               TIPG_DB_SCHEMAS='["public"]', TIPG_DB_TABLES=f"[{tables}]",
               TIPG_MAX_FEATURES_PER_TILE="20000", TIPG_CATALOG_TTL="0")
    return Server("tipg", [str(py), "-m", "uvicorn", "tipg.main:app"], env, "/collections")


async def sql_baseline(url: str, work: list) -> float:
    """The tile queries alone (one connection, sequential): what PostGIS costs without HTTP or cache."""
    from app.db.engine import make_engine
    from app.domain.access import Scope
    from app.services import tiles as svc

    engine = make_engine(url)
    scope = Scope.everywhere_up_to(0)
    async with engine.connect() as conn:
        t0 = time.perf_counter()
        for layer, z, x, y in work:
            await svc.render(conn, svc.LAYERS[layer], z, x, y, scope)
        elapsed = time.perf_counter() - t0
    await engine.dispose()
    return elapsed


def make_cold(api: Server, redis_url: str | None) -> None:
    """Every cached tile out of reach: the versions bumped in Redis (the API re-reads them within its
    refresh interval, 1 s; waited for twice that), or a restart without Redis."""
    if redis_url:
        import redis

        prefix = api.env["SHARPEYES_BUS_PREFIX"]
        redis.Redis.from_url(redis_url).eval(_BUMP, 1, prefix + "tiles:v", *OUR_LAYERS)
        time.sleep(2.0)
    else:
        api.stop()
        api.start()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-redis", action="store_true", help="one process's in-memory cache, no Redis")
    ap.add_argument("--tipg-venv", type=Path,
                    default=Path(os.environ.get("TIPG_VENV", Path.home() / ".cache/sharpeyes/tipg-venv")))
    args = ap.parse_args()
    redis_url = None if args.no_redis else os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    work = tiles()
    n = len(work)
    py = tipg_python(args.tipg_venv)
    tipg_error = py if isinstance(py, str) else None
    print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min), "
          f"{os.cpu_count()} CPUs", flush=True)
    rows: dict[str, list[tuple[float, float, list[float]]]] = {}  # case -> [(tiles/s, server µs/req, lat)]
    with demo_database() as url:
        api = api_server(url, redis_url)
        tipg = None if tipg_error else tipg_server(py, url)
        api.start()
        try:
            if tipg is not None:
                tipg.start()
            tok = token(f"http://127.0.0.1:{api.port}", "commander")
            headers = {"Authorization": f"Bearer {tok}"}
            sql_s = asyncio.run(sql_baseline(url, work))

            def run(case: str, server: Server, paths: list[str], hdrs: dict) -> None:
                cpu0 = server.cpu
                secs, lat, size = asyncio.run(_pass(server.port, paths, hdrs, args.concurrency))
                rows.setdefault(case, []).append((n / secs, (server.cpu - cpu0) / n * 1e6, lat))
                rows.setdefault(case + " bytes", []).append((size, 0.0, []))

            ours = [our_path(t) for t in work]
            passes = [("API warm", api, ours, headers), ("hello", api, ["/hello"] * n, headers)]
            if tipg is not None:
                passes.append(("tipg", tipg, [tipg_path(t) for t in work], {}))
                run("tipg", tipg, passes[-1][2], {})  # its pool and catalog warmed once, not counted
                rows.pop("tipg"), rows.pop("tipg bytes")
            for r in range(args.rounds):
                make_cold(api, redis_url)
                run("API cold", api, ours, headers)
                for case, server, paths, hdrs in passes[r % len(passes):] + passes[:r % len(passes)]:
                    run(case, server, paths, hdrs)
                print(f"round {r + 1}/{args.rounds}: load {os.getloadavg()[0]:.2f}", flush=True)
            rss = rss_mb(api.proc.pid)
        finally:
            api.stop()
            if tipg is not None:
                tipg.stop()
    report(rows, n, sql_s, rss, args, redis_url, tipg_error)


def report(rows, n, sql_s, rss, args, redis_url, tipg_error) -> None:
    def pct(lat, q):
        return sorted(lat)[min(len(lat) - 1, int(q * len(lat)))] * 1000

    def rng(xs, fmt="{:.0f}"):
        return f"{fmt.format(min(xs))}–{fmt.format(max(xs))}" if len(xs) > 1 else fmt.format(xs[0])

    print(f"\ntiles: {n} per pass ({', '.join(LAYERS)}; z{ZOOMS.start}-{ZOOMS.stop - 1} over the demo city), "
          f"concurrency {args.concurrency}, {args.rounds} paired rounds, cache "
          f"{'shared through Redis' if redis_url else 'in-process (no Redis)'}")
    print(f"{'case':<30}{'rate/s (median, range)':>26}{'server CPU µs/req':>20}"
          f"{'p50 ms':>8}{'p99 ms':>8}{'KiB avg':>9}")
    print(f"{'ST_AsMVT alone (1 conn, seq.)':<30}{n / sql_s:>26.0f}")
    for case in ("API warm", "hello", "tipg", "API cold"):
        if case not in rows:
            continue
        rates = [r[0] for r in rows[case]]
        cpus = [r[1] for r in rows[case]]
        lat = [x for r in rows[case] for x in r[2]]
        kib = statistics.mean(r[0] for r in rows[case + " bytes"]) / n / 1024
        print(f"{case:<30}{f'{statistics.median(rates):.0f} ({rng(rates)})':>26}"
              f"{f'{statistics.median(cpus):.0f} ({rng(cpus)})':>20}{pct(lat, .5):>8.2f}{pct(lat, .99):>8.2f}"
              f"{kib if case != 'hello' else 0:>9.2f}")

    def ratios(a, b):
        return [x[0] / y[0] for x, y in zip(rows[a], rows[b], strict=True)]

    print("\nper-round ratios of rates (min–max over rounds, median):")
    pairs = [("API warm", "hello")] + ([("API warm", "tipg"), ("API cold", "tipg")] if "tipg" in rows else [])
    for a, b in pairs:
        rs = ratios(a, b)
        print(f"  {a} / {b}: {rng(rs, '{:.2f}')} (median {statistics.median(rs):.2f})")
    if "tipg" in rows:
        cpu = [y[1] / x[1] for x, y in zip(rows["API warm"], rows["tipg"], strict=True)]
        print(f"  server CPU per request, tipg / API warm: {rng(cpu, '{:.1f}')} (median {statistics.median(cpu):.1f})")
    else:
        print(f"  tipg not measured: {tipg_error}")
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min); API RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
