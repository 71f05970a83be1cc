"""Drive N patrol units and report each one's fix about once per second over the network.

Each unit follows pgRouting routes between random road nodes at 60–90 % of the edge's speed (which the
OSM loader sets per road class), slowing for sharp turns; heading comes from the path. Reports go
through the real protocols: OsmAnd HTTP (speed in knots) or JT/T 808 TCP (register → authenticate →
0x0200, waiting for each 0x8001), so the whole ingest path is exercised end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import struct
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from app.db.engine import make_engine
from app.ingest.jt808 import messages as m
from app.ingest.jt808.codec import decode_frame, encode_frame, phone_to_bcd
from app.ingest.jt808.splitter import FrameSplitter
from app.services.demo import link_demo_officer
from app.simulator import fleet

log = logging.getLogger(__name__)
KNOT_KMH = 1.852
M_PER_DEG = 111_320.0
MISSION_CHECK_S = 3.0  # how often simulated cars look for a dispatch


@dataclass
class SimStats:
    sent: int = 0
    acknowledged: int = 0
    failed: int = 0
    per_unit: dict[str, int] = field(default_factory=dict)


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (b[0] - a[0]) * M_PER_DEG * math.cos(math.radians(a[1]))
    return math.hypot(dx, (b[1] - a[1]) * M_PER_DEG)


def _bearing(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (b[0] - a[0]) * math.cos(math.radians((a[1] + b[1]) / 2))
    return math.degrees(math.atan2(dx, b[1] - a[1])) % 360.0


class Car:
    """Position along a leg; ``advance`` moves it by dt seconds."""

    def __init__(self, device_id: str, node: int, x: float, y: float, rng: random.Random) -> None:
        self.device_id, self.node, self.x, self.y = device_id, node, x, y
        self.rng = rng
        self.leg: fleet.Leg | None = None
        self.i = 0  # current segment: coords[i] → coords[i+1]
        self.offset = 0.0  # metres along it
        self.factor = rng.uniform(0.6, 0.9)  # this driver's share of the speed limit
        self.speed_kmh = 0.0
        self.heading = 0.0
        self.mission: int | None = None  # the dispatch this car is driving to
        self.on_scene = False

    def set_leg(self, leg: fleet.Leg) -> None:
        self.leg, self.i, self.offset = leg, 0, 0.0

    def advance(self, dt: float) -> bool:
        """Move; False when the leg is finished (a new one is needed)."""
        leg = self.leg
        if leg is None:
            self.speed_kmh = 0.0
            return False
        limit = leg.speeds_kmh[self.i] * self.factor
        target = limit * (0.85 + 0.3 * self.rng.random())
        self.speed_kmh += max(-10.0, min(8.0, target - self.speed_kmh))  # ≤ 8 km/h/s up, 10 down
        left = self.speed_kmh / 3.6 * dt
        while left > 0:
            a, b = leg.coords[self.i], leg.coords[self.i + 1]
            seg = _metres(a, b)
            if self.offset + left < seg:
                self.offset += left
                left = 0.0
            else:
                left -= seg - self.offset
                self.i, self.offset = self.i + 1, 0.0
                if self.i >= len(leg.coords) - 1:
                    self.x, self.y = leg.coords[-1]
                    self.node, self.leg = leg.end_node, None
                    return False
        a, b = leg.coords[self.i], leg.coords[self.i + 1]
        f = self.offset / max(_metres(a, b), 1e-6)
        self.x, self.y = a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f
        if a != b:
            self.heading = _bearing(a, b)
        return True


class OsmAndSender:
    def __init__(self, url: str, token: str | None = None) -> None:
        self.url, self.token = url.rstrip("/"), token
        self.client = httpx.AsyncClient(timeout=10.0, limits=httpx.Limits(max_connections=64))

    async def open(self, car: Car) -> None:
        return None

    async def send(self, car: Car, when: datetime) -> bool:
        params = {"id": car.device_id, "lat": f"{car.y:.6f}", "lon": f"{car.x:.6f}", "timestamp": int(when.timestamp()),
                  "speed": f"{car.speed_kmh / KNOT_KMH:.2f}", "bearing": f"{car.heading:.1f}", "accuracy": 5}
        if self.token:
            params["token"] = self.token
        r = await self.client.get(f"{self.url}/ingest/osmand", params=params)
        if r.status_code != 200:
            log.warning("OsmAnd report of %s refused: %s %s", car.device_id, r.status_code, r.text[:200])
        return r.status_code == 200

    async def close(self) -> None:
        await self.client.aclose()


class Jt808Terminal:
    """One terminal connection: register, authenticate, then locations each waiting for its 0x8001."""

    def __init__(self, host: str, port: int, phone: str) -> None:
        self.host, self.port, self.phone = host, port, phone
        self.raw_phone = phone_to_bcd(phone)
        self.serial = 0
        self.splitter = FrameSplitter()
        self.pending: list = []
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _recv(self):
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(4096), 15)
            if not data:
                raise ConnectionError("server closed the connection")
            self.pending += [decode_frame(s) for s in self.splitter.feed(data)]
        return self.pending.pop(0)

    def _send(self, msg_id: int, body: bytes) -> int:
        self.serial = (self.serial + 1) & 0xFFFF
        self.writer.write(encode_frame(msg_id, self.raw_phone, self.serial, body))
        return self.serial

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        body = struct.pack(">HH", 0, 0) + b"SHEYE" + b"SIM-CAR".ljust(20, b"\0") + b"SIM0001" + b"\x01" + b"SIM"
        self._send(m.REGISTER, body)
        reply = await self._recv()
        if reply.header.msg_id != m.REGISTER_REPLY or reply.body[2] != m.REGISTERED:
            raise ConnectionError(f"terminal {self.phone} not registered")
        self._send(m.AUTHENTICATE, reply.body[3:])
        if m.decode_general_reply((await self._recv()).body)[2] != m.OK:
            raise ConnectionError(f"terminal {self.phone} not authenticated")

    async def location(self, body: bytes, msg_id: int = m.LOCATION) -> bool:
        serial = self._send(msg_id, body)
        while True:
            f = await self._recv()
            if f.header.msg_id == m.PLATFORM_REPLY:
                reply_serial, _, result = m.decode_general_reply(f.body)
                if reply_serial == serial:
                    return result == m.OK

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()


def location_body(x: float, y: float, speed_kmh: float, heading: float, when: datetime, sos: bool = False) -> bytes:
    status = m.STATUS_FIXED | m.STATUS_ACC | (1 << 18) | (1 << 19)  # ACC on, fixed, GPS + BeiDou
    return m.encode_location(m.Location(1 if sos else 0, status, y, x, 20, round(speed_kmh, 1),
                                        int(heading) % 360, when))


class Jt808Sender:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.terminals: dict[str, Jt808Terminal] = {}

    async def open(self, car: Car) -> None:
        t = Jt808Terminal(self.host, self.port, car.device_id)
        await t.connect()
        self.terminals[car.device_id] = t

    async def send(self, car: Car, when: datetime) -> bool:
        return await self.terminals[car.device_id].location(
            location_body(car.x, car.y, car.speed_kmh, car.heading, when))

    async def close(self) -> None:
        await asyncio.gather(*(t.close() for t in self.terminals.values()), return_exceptions=True)


def device_id(protocol: str, i: int) -> str:
    # JT/T 808 ids are the terminal's phone number as it sends it: 12 BCD digits, leading zero kept.
    return f"01390000{i + 1:04d}" if protocol == "jt808" else f"sim-{i + 1:03d}"


async def simulate(database_url: str, *, units: int = 12, protocol: str = "osmand", url: str | None = None,
                   host: str = "127.0.0.1", port: int = 6808, seconds: float | None = None, interval_s: float = 1.0,
                   token: str | None = None, seed: int | None = None, stop: asyncio.Event | None = None) -> SimStats:
    """Run until ``seconds`` have passed (or ``stop`` is set). Returns what was sent and acknowledged."""
    if protocol not in ("osmand", "jt808"):
        raise ValueError("protocol must be osmand or jt808")
    rng = random.Random(seed)
    engine = make_engine(database_url, pool_size=2, max_overflow=0)
    stats = SimStats()
    sender = OsmAndSender(url or "http://127.0.0.1:8000", token) if protocol == "osmand" else Jt808Sender(host, port)
    try:
        async with engine.begin() as conn:
            starts = await fleet.start_nodes(conn, units)
            if not starts:
                raise RuntimeError("no road graph in the database: load the demo city first (sharpeyes demo)")
            cars = []
            for i, (node, x, y) in enumerate(starts):
                car = Car(device_id(protocol, i), node, x, y, rng)
                await fleet.register(conn, protocol, car.device_id, f"SIM-{i + 1:02d}", x, y)
                cars.append(car)
            await link_demo_officer(conn)
        for car in cars:
            await sender.open(car)
        deadline = None if seconds is None else time.monotonic() + seconds
        tick = time.monotonic()
        next_check = 0.0
        while (deadline is None or time.monotonic() < deadline) and not (stop and stop.is_set()):
            if time.monotonic() >= next_check:  # the dispatcher's orders, every few seconds
                next_check = time.monotonic() + MISSION_CHECK_S
                await _follow_orders(engine, protocol, cars)
            for car in cars:
                if car.on_scene:
                    car.speed_kmh = 0.0
                    continue
                if not car.advance(interval_s):
                    async with engine.connect() as conn:
                        leg = await fleet.next_leg(conn, car.node, car.x, car.y)
                    if leg is not None:
                        car.set_leg(leg)
            now = datetime.now(UTC)
            results = await asyncio.gather(*(sender.send(c, now) for c in cars), return_exceptions=True)
            for car, ok in zip(cars, results, strict=True):
                stats.sent += 1
                if ok is True:
                    stats.acknowledged += 1
                    stats.per_unit[car.device_id] = stats.per_unit.get(car.device_id, 0) + 1
                else:
                    stats.failed += 1
                    if isinstance(ok, Exception):
                        log.warning("report of %s failed: %s", car.device_id, ok)
            tick += interval_s
            await asyncio.sleep(max(0.0, tick - time.monotonic()))
    finally:
        await sender.close()
        await engine.dispose()
    return stats


async def _follow_orders(engine, protocol: str, cars: list[Car]) -> None:
    async with engine.connect() as conn:
        orders = await fleet.missions(conn, protocol, [c.device_id for c in cars])
        for car in cars:
            m = orders.get(car.device_id)
            car.on_scene = m is not None and m.status == "on_scene"
            if m is None or car.on_scene or car.mission == m.dispatch_id:
                if m is None:
                    car.mission = None
                continue
            leg = await fleet.route_to(conn, car.x, car.y, m.x, m.y)
            if leg is not None:
                car.set_leg(leg)
                car.factor = 1.0  # responding: at the speed limit
                car.mission = m.dispatch_id
