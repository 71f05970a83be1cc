"""Simulated GA/T 1400 checkpoints (卡口) reporting to a running platform: ``sharpeyes simulate checkpoints``.

N checkpoints are placed along one drivable route of the city's road graph, about ``spacing_m`` apart; each
registers as its own device (HTTP Digest: the first Register gets the 401 challenge), uploads its tollgate
(position), keeps its session alive, and uploads a ``MotorVehicleObject`` with a small generated JPEG for
every car that passes it. A few plates drive the chain at ``kmh`` (and come round to its start again):
each pass's ``PassTime`` is the car's own clock, which starts an hour back and advances by the road
distance at that speed, so a trajectory is plausible at once; passes are sent at most ``rate`` per second
and never ahead of the wall clock (once a car catches up with the present it drives in real time)."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import logging
import random
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from PIL import Image, ImageDraw
from pyproj import Geod
from sqlalchemy import text

from app.db.engine import make_engine
from app.ingest.gb28181 import digest

log = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")  # PassTime is local time without a zone (GA/T 1400)
GEOD = Geod(ellps="WGS84")
ROUND_S = 900  # from the last checkpoint back to the first (one-way streets: no straight way back)
PLATES = ("京A12345", "京B6K789", "沪C33221", "粤B0Q777", "京N55M88", "苏E12X34")


@dataclass
class Stats:
    registered: int = 0
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    plates: list[str] = field(default_factory=list)


def jpeg(label: str, seed: int) -> bytes:
    """A small real JPEG (a plate-coloured box with the pass number), ~1–2 KB."""
    rnd = random.Random(seed)
    img = Image.new("RGB", (160, 90), (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)))
    draw = ImageDraw.Draw(img)
    draw.rectangle((30, 50, 130, 75), fill=(20, 60, 160))
    draw.text((36, 56), label, fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=60)
    return out.getvalue()


def local(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")


def device_ids(base: str, n: int) -> list[str]:
    """``base``, ``base``+1, …: 20 digits each (admit them, or use the platform-wide password)."""
    if len(base) != 20 or not base.isdigit():
        raise ValueError("--id: a 20-digit GA/T 1400 device id")
    head, tail = base[:14], int(base[14:])
    if tail + n > 1_000_000:
        raise ValueError("--id: too close to the end of its numbering")
    return [f"{head}{tail + k:06d}" for k in range(n)]


def tollgate_id(device: str) -> str:
    return f"{device[:10]}121{device[13:]}"  # type code 121: a checkpoint


async def route_points(database_url: str, n: int, spacing_m: float, seed: int) -> list[tuple[float, float, float]]:
    """``n`` points along one drivable road route, ``spacing_m`` apart: (lon, lat, road metres from the previous)."""
    engine = make_engine(database_url)
    rnd = random.Random(seed)
    try:
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM road_edge"))).scalar()
            if not count:
                raise RuntimeError("no road graph in this database (load the demo city: sharpeyes demo --no-serve)")
            for _ in range(20):
                start = (await conn.execute(text(
                    "SELECT source, ST_StartPoint(geom) AS p FROM road_edge WHERE cost >= 0 AND reverse_cost >= 0 "
                    "OFFSET :k LIMIT 1"), {"k": rnd.randrange(count)})).first()
                if start is None:
                    continue
                # a node about the route's length away, reached along the roads
                nodes = (await conn.execute(text("""
                    WITH far AS (SELECT e.target AS node FROM road_edge e, road_edge s
                                 WHERE s.source = :src AND e.cost >= 0 AND e.reverse_cost >= 0
                                 ORDER BY abs(ST_Distance(ST_EndPoint(e.geom)::geography,
                                                          ST_StartPoint(s.geom)::geography) - :len) LIMIT 1),
                    path AS (SELECT d.seq, d.node FROM far, pgr_dijkstra(
                        'SELECT id, source, target, cost, reverse_cost FROM road_edge', :src, far.node, true) d)
                    SELECT p.seq, ST_X(v.p), ST_Y(v.p) FROM path p CROSS JOIN LATERAL (
                        SELECT CASE WHEN e.source = p.node THEN ST_StartPoint(e.geom) ELSE ST_EndPoint(e.geom) END AS p
                        FROM road_edge e WHERE e.source = p.node OR e.target = p.node LIMIT 1) v
                    ORDER BY p.seq"""), {"src": start.source, "len": spacing_m * (n - 1) * 1.5})).all()
                pts = _spaced([(r[1], r[2]) for r in nodes], n, spacing_m)
                if len(pts) == n:
                    return pts
    finally:
        await engine.dispose()
    raise RuntimeError(f"found no road route long enough for {n} checkpoints {spacing_m:.0f} m apart")


def _spaced(path: list[tuple[float, float]], n: int, spacing_m: float) -> list[tuple[float, float, float]]:
    """Path nodes at least ``spacing_m`` of road apart, the first ``n`` of them."""
    if not path:
        return []
    out = [(*path[0], 0.0)]
    run = 0.0
    for a, b in itertools.pairwise(path):
        run += GEOD.inv(a[0], a[1], b[0], b[1])[2]
        if run >= spacing_m:
            out.append((*b, run))
            run = 0.0
            if len(out) == n:
                break
    return out


class Checkpoint:
    """One device: its digest session against /VIID and its tollgate."""

    def __init__(self, client: httpx.AsyncClient, device: str, password: str, name: str,
                 lon: float, lat: float) -> None:
        self.client, self.device, self.password = client, device, password
        self.tollgate, self.name, self.lon, self.lat = tollgate_id(device), name, lon, lat
        self.headers = {"User-Identify": device, "Content-Type": "application/VIID+JSON"}
        self.seq = 0

    async def post(self, path: str, body: object, **headers: str) -> httpx.Response:
        return await self.client.post(path, json=body, headers=self.headers | headers)

    async def register(self) -> None:
        path, body = "/VIID/System/Register", {"RegisterObject": {"DeviceID": self.device}}
        r = await self.post(path, body)
        if r.status_code == 401:
            params = digest.parse_authorization(r.headers.get("www-authenticate", ""))
            auth = digest.authorization(self.device, params.get("realm", ""), self.password,
                                        params.get("nonce", ""), path, method="POST", qop=True)
            r = await self.post(path, body, Authorization=auth)
        if r.status_code != 200:
            raise RuntimeError(f"checkpoint {self.device}: register refused ({r.status_code} {r.text[:200]})")
        r = await self.post("/VIID/Tollgates", {"TollgateListObject": {"TollgateObject": [{
            "TollgateID": self.tollgate, "Name": self.name, "Longitude": round(self.lon, 7),
            "Latitude": round(self.lat, 7), "Place": self.name, "Status": "1", "TollgateCat": "10",
            "TollgateUsage": "80", "LaneNum": 2}]}})
        if r.status_code != 200:
            raise RuntimeError(f"checkpoint {self.device}: tollgate refused ({r.status_code} {r.text[:200]})")

    async def keepalive(self) -> None:
        await self.post("/VIID/System/Keepalive", {"KeepaliveObject": {"DeviceID": self.device}})

    async def unregister(self) -> None:
        await self.post("/VIID/System/UnRegister", {"UnRegisterObject": {"DeviceID": self.device}})

    async def vehicle(self, plate: str, at: datetime, direction: str, kmh: float) -> bool:
        self.seq += 1
        rid = f"{self.device}02{local(at)}{self.seq % 100000:05d}02"[:48]
        obj = {"MotorVehicleID": rid, "InfoKind": 1, "SourceID": rid[:41], "DeviceID": self.device,
               "TollgateID": self.tollgate, "PassTime": local(at), "LaneNo": 1, "Direction": direction,
               "Speed": round(kmh, 1), "HasPlate": "1", "PlateClass": "02", "PlateColor": "2", "PlateNo": plate,
               "VehicleClass": "K33", "VehicleColor": "A",
               "SubImageList": {"SubImageInfoObject": [{
                   "ImageID": rid[:41], "EventSort": 1, "DeviceID": self.device, "Type": "01", "FileFormat": "Jpeg",
                   "ShotTime": local(at), "Width": 160, "Height": 90,
                   "Data": base64.b64encode(jpeg(f"{self.seq}", zlib.crc32(rid.encode()))).decode()}]}}
        r = await self.post("/VIID/MotorVehicles", {"MotorVehicleListObject": {"MotorVehicleObject": [obj]}})
        if r.status_code != 200:
            return False
        answers = r.json().get("ResponseStatusListObject", {}).get("ResponseStatusObject", [])
        return bool(answers) and all(str(a.get("StatusCode")) == "0" for a in answers)


@dataclass
class Car:
    plate: str
    at: int  # index of the checkpoint it passes next
    clock: datetime  # its own time at that pass


async def simulate_checkpoints(base: str, database_url: str, device_id: str, password: str, count: int = 4,
                               plates: int = 3, rate: float = 5.0, seconds: float | None = None,
                               kmh: float = 50.0, spacing_m: float = 300.0, keepalive_s: float = 30.0,
                               seed: int | None = None) -> Stats:
    """Run until ``seconds`` have passed (or forever); returns what was sent and accepted."""
    if count < 2:
        raise ValueError("--checkpoints: at least 2 (a car drives from one to the next)")
    seed = random.randrange(1 << 30) if seed is None else seed
    ids = device_ids(device_id, count)
    pts = await route_points(database_url, count, spacing_m, seed)
    stats = Stats(plates=list(PLATES[:max(1, min(plates, len(PLATES)))]))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    cars = [Car(p, k % count, start + timedelta(seconds=7 * k)) for k, p in enumerate(stats.plates)]
    stop_at = None if seconds is None else time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        gates = [Checkpoint(client, d, password, f"模拟卡口 {k + 1}", lon, lat)
                 for k, (d, (lon, lat, _)) in enumerate(zip(ids, pts, strict=True))]
        for g in gates:
            await g.register()
            stats.registered += 1
        log.info("%d checkpoints registered along %.1f km of road", count, sum(p[2] for p in pts) / 1000)
        last_keepalive = time.monotonic()
        try:
            while stop_at is None or time.monotonic() < stop_at:
                if time.monotonic() - last_keepalive >= keepalive_s:
                    await asyncio.gather(*(g.keepalive() for g in gates))
                    last_keepalive = time.monotonic()
                car = min(cars, key=lambda c: c.clock)
                wait = (car.clock - datetime.now(UTC)).total_seconds()
                if wait > 0:  # caught up with the present: real time from here on
                    await asyncio.sleep(min(wait, 1.0))
                    continue
                ok = await gates[car.at].vehicle(car.plate, car.clock, "1", kmh)
                stats.sent += 1
                stats.accepted += ok
                stats.refused += not ok
                if car.at + 1 < count:
                    car.clock += timedelta(seconds=pts[car.at + 1][2] / (kmh / 3.6))
                    car.at += 1
                else:  # the end of the chain: it comes round to the first checkpoint again, by other streets
                    car.clock += timedelta(seconds=ROUND_S)
                    car.at = 0
                await asyncio.sleep(1.0 / rate)
        finally:
            for g in gates:
                try:
                    await g.unregister()
                except httpx.HTTPError:
                    pass
    return stats
