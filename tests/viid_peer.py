"""A simulated GA/T 1400 device (a checkpoint camera) for the tests and the bench: an HTTP client that registers
with digest authentication (the 401 challenge first), keeps its session alive, describes its checkpoints and
uploads passes with images, over any httpx client (the app in-process, or a real server by URL)."""

from __future__ import annotations

import base64
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from app.ingest.gb28181 import digest

SHANGHAI = ZoneInfo("Asia/Shanghai")


def jpeg(size: int = 50_000, seed: int = 0) -> bytes:
    """A JPEG-looking blob of ``size`` bytes (SOI … EOI), different per seed."""
    body = random.Random(seed).randbytes(max(size - 6, 0))
    return b"\xff\xd8\xff\xe0" + body + b"\xff\xd9"


def local(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")


def vehicle(record_id: str, plate: str, tollgate: str, at: datetime, *, device: str, image: bytes | None = None,
            **extra) -> dict:
    """A ``MotorVehicleObject`` as checkpoint cameras send it (numbers as strings, as many do)."""
    obj = {"MotorVehicleID": record_id, "InfoKind": 1, "SourceID": record_id[:41], "DeviceID": device,
           "TollgateID": tollgate, "PassTime": local(at), "LaneNo": "2", "Direction": "1", "Speed": "48.5",
           "HasPlate": "1", "PlateClass": "02", "PlateColor": "2", "PlateNo": plate, "VehicleClass": "K33",
           "VehicleBrand": "1", "VehicleColor": "A"}
    if image is not None:
        obj["SubImageList"] = {"SubImageInfoObject": [{
            "ImageID": record_id[:41], "EventSort": 1, "DeviceID": device, "Type": "01", "FileFormat": "Jpeg",
            "ShotTime": local(at), "Width": 1920, "Height": 1080, "Data": base64.b64encode(image).decode()}]}
    return obj | extra


def tollgate(tollgate_id: str, name: str, lon: float, lat: float, place_code: str = "") -> dict:
    return {"TollgateID": tollgate_id, "Name": name, "Longitude": lon, "Latitude": lat, "PlaceCode": place_code,
            "Place": name, "Status": "1", "TollgateCat": "10", "TollgateUsage": "80", "LaneNum": 4}


class ViidPeer:
    def __init__(self, client: httpx.AsyncClient, device_id: str, password: str) -> None:
        self.client, self.device_id, self.password = client, device_id, password
        self.headers = {"User-Identify": device_id, "Content-Type": "application/VIID+JSON"}

    async def post(self, path: str, body: object, **headers: str) -> httpx.Response:
        return await self.client.post(path, json=body, headers=self.headers | headers)

    async def register(self, password: str | None = None) -> tuple[httpx.Response, httpx.Response | None]:
        """(the first answer, the digest-authenticated one when the first was a 401 challenge)."""
        path = "/VIID/System/Register"
        body = {"RegisterObject": {"DeviceID": self.device_id}}
        first = await self.post(path, body)
        if first.status_code != 401:
            return first, None
        params = digest.parse_authorization(first.headers["www-authenticate"])
        auth = digest.authorization(self.device_id, params["realm"], password or self.password, params["nonce"],
                                    path, method="POST", qop=True)
        return first, await self.post(path, body, Authorization=auth)

    async def keepalive(self) -> httpx.Response:
        return await self.post("/VIID/System/Keepalive", {"KeepaliveObject": {"DeviceID": self.device_id}})

    async def unregister(self) -> httpx.Response:
        return await self.post("/VIID/System/UnRegister", {"UnRegisterObject": {"DeviceID": self.device_id}})

    async def tollgates(self, items: list[dict]) -> httpx.Response:
        return await self.post("/VIID/Tollgates", {"TollgateListObject": {"TollgateObject": items}})

    async def motor_vehicles(self, items: list[dict]) -> httpx.Response:
        return await self.post("/VIID/MotorVehicles", {"MotorVehicleListObject": {"MotorVehicleObject": items}})

    def record_id(self, n: int, at: datetime) -> str:
        """48 characters as GA/T 1400 builds them: device id, type, time, sequence."""
        return f"{self.device_id}02{local(at)}{n:05d}02"[:48].ljust(48, "0")


def statuses(r: httpx.Response) -> list[dict]:
    return r.json()["ResponseStatusListObject"]["ResponseStatusObject"]


def passes_at(start: datetime, n: int, step_s: float = 60) -> list[datetime]:
    return [start + timedelta(seconds=i * step_s) for i in range(n)]
