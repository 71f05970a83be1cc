"""The city bench's load (bench/city_bench.py): JT/T 808 units driving from road nodes, websocket screens
with their own viewports, screens panning tiles, dispatchers. Each part reuses another bench's client."""

from __future__ import annotations

import asyncio
import math
import random
import time
from datetime import datetime, timedelta

import httpx
import ws_bench
from ingest_bench import Terminal, encode_frame, m
from tiles_bench import _get

from app.simulator.run import location_body

TILE_LAYERS = ("roads", "cameras")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


class RoadTerminal(Terminal):
    """ingest_bench's open-loop terminal, driving east from its road node, its fixes timed from the run's
    ``base`` (recent, so that dispatch sees the unit as fresh); remembers which fix each serial carries."""

    def __init__(self, phone: str, acks: list[float], x: float, y: float, run) -> None:
        super().__init__(phone, acks)
        self.x, self.y, self.run = x, y, run
        self.fix_of: dict[int, datetime] = {}

    def prepare(self, k: int, base: datetime, count: int) -> None:
        if k == 0:
            self.run.set_base(count)  # all terminals logged in
        for n in range(count):
            when = self.run.base + timedelta(seconds=n)
            serial = (self.serial + 1 + n) & 0xFFFF
            body = location_body(self.x + n * 1.5e-4, self.y, 30.0, 90.0, when)  # ~30 km/h at 60° N
            self.frames.append(encode_frame(m.LOCATION, self.raw_phone, serial, body))
            self.keys.append((self.phone, when.isoformat()))
            self.fix_of[serial] = when

    def send(self, n: int, now: float, probe) -> None:
        if not self.run.started:
            self.run.start()  # the first send: the measured part begins
        super().send(n, now, probe)

    def acked_fixes(self) -> set[tuple[str, datetime]]:
        return {(self.phone, self.fix_of[s]) for s in self.acked}


class Probe:
    """What ingest_bench's terminals note on a send (``sent``), read by every screen (not consumed)."""

    def __init__(self) -> None:
        self.sent: dict[tuple[str, str], float] = {}

    def latency(self, item: dict, _now: float) -> float | None:
        t0 = self.sent.get((item.get("device_id"), item.get("time")))
        return None if t0 is None else time.perf_counter() - t0  # the terminals' clock


def viewport(rng: random.Random, area: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """A screen's own viewport: 15–40 % of the city's width, 16:9 at 60° N."""
    w = (area[2] - area[0]) * rng.uniform(0.15, 0.4)
    h = w / 2
    x = rng.uniform(area[0], max(area[0], area[2] - w))
    y = rng.uniform(area[1], max(area[1], area[3] - h))
    return (x, y, x + w, y + h)


async def screens(bases: list[str], tok: str, boxes: list, probe: Probe, stop: asyncio.Event
                  ) -> tuple[ws_bench.Stats, list[asyncio.Task]]:
    """ws_bench's client, one per viewport, spread over the API processes; returns once all have their snapshot."""
    stats = ws_bench.Stats()
    readies = [asyncio.Event() for _ in boxes]
    sample = min(1.0, 20 / max(1, len(boxes)))  # the clients share this process's CPU: parse a sample
    tasks = []
    for i, box in enumerate(boxes):
        url = bases[i % len(bases)].replace("http", "ws") + "/ws"
        tasks.append(asyncio.create_task(ws_bench.client(url, tok, stats, readies[i], stop, sample, box,
                                                         probe.latency)))
        if i % 50 == 49:
            await asyncio.sleep(0.2)
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
    return stats, tasks


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


async def panner(port: int, tok: str, box, area, rng: random.Random, stop: asyncio.Event, lat: list[float],
                 errors: list[str], every: float = 1.0) -> None:
    """Every ``every`` s the view moves by up to a third of its size (and now and then zooms), then fetches
    the tiles it shows, as the map does (keep-alive, tiles_bench's minimal client)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    x0, y0, x1, y1 = box
    z = rng.choice((15, 16))
    try:
        while not stop.is_set():
            w, h = x1 - x0, y1 - y0
            dx, dy = rng.uniform(-w, w) / 3, rng.uniform(-h, h) / 3
            x0 = min(max(area[0], x0 + dx), area[2] - w)
            y0 = min(max(area[1], y0 + dy), area[3] - h)
            x1, y1 = x0 + w, y0 + h
            if rng.random() < 0.2:
                z = min(17, max(14, z + rng.choice((-1, 1))))
            tx0, ty0 = tile_xy(x0, y1, z)
            tx1, ty1 = tile_xy(x1, y0, z)
            for layer in TILE_LAYERS:
                for tx in range(tx0, tx1 + 1):
                    for ty in range(ty0, ty1 + 1):
                        req = (f"GET /tiles/{layer}/{z}/{tx}/{ty}.pbf HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               f"Authorization: Bearer {tok}\r\nAccept-Encoding: gzip\r\n\r\n").encode()
                        t0 = time.perf_counter()
                        try:
                            status, _ = await _get(reader, writer, req)
                        except (OSError, asyncio.IncompleteReadError) as e:
                            errors.append(repr(e))
                            writer.close()
                            reader, writer = await asyncio.open_connection("127.0.0.1", port)
                            continue
                        lat.append(time.perf_counter() - t0)
                        if status not in (200, 204):
                            errors.append(f"tile {status}")
            await asyncio.sleep(every)
    finally:
        writer.close()


class DeskStats:
    def __init__(self) -> None:
        self.create: list[float] = []
        self.recommend: list[float] = []
        self.seeing: list[float] = []
        self.callup: list[float] = []
        self.found: list[bool] = []  # per recommendation: at least one unit
        self.errors: list[str] = []


async def dispatcher(base: str, tok: str, nodes: list[tuple[float, float]], rng: random.Random,
                     stop: asyncio.Event, st: DeskStats, think: float) -> None:
    """A dispatcher's loop: an incident at a road point, the units recommended for it, the cameras seeing it,
    the best of them called up; then ``think`` seconds (± half) before the next call."""
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {tok}"}, timeout=60) as c:
        await asyncio.sleep(rng.uniform(0, think))  # not all at once
        while not stop.is_set():
            x, y = rng.choice(nodes)
            x, y = x + rng.uniform(-2e-4, 2e-4), y + rng.uniform(-1e-4, 1e-4)

            async def timed(into: list[float], method: str, path: str, **kw) -> dict | None:
                t0 = time.perf_counter()
                try:
                    r = await c.request(method, path, **kw)
                except httpx.HTTPError as e:  # e.g. a keep-alive connection the server closed meanwhile
                    st.errors.append(f"{method} {path.split('?')[0]}: {e!r}")
                    return None
                into.append(time.perf_counter() - t0)
                if r.status_code >= 300:
                    st.errors.append(f"{method} {path.split('?')[0]}: {r.status_code} {r.text[:120]}")
                    return None
                return r.json()

            inc = await timed(st.create, "POST", "/api/v1/incidents",
                              json={"type": "theft", "priority": 2, "lon": x, "lat": y})
            if inc is None:
                await asyncio.sleep(think)
                continue
            iid = inc["id"]
            rec = await timed(st.recommend, "GET", f"/api/v1/incidents/{iid}/recommend")
            st.found.append(bool(rec and rec.get("recommended")))
            seen = await timed(st.seeing, "GET", "/api/v1/callup/seeing", params={"lon": x, "lat": y})
            ids = [cam["id"] for cam in (seen or {}).get("cameras", [])][:4]
            if ids:
                await timed(st.callup, "POST", "/api/v1/callup",
                            json={"camera_ids": ids, "reason": "city bench: incident call-up", "incident_id": iid})
            await asyncio.sleep(rng.uniform(think / 2, think * 1.5))
