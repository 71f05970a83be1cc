"""GB/T 28181 devices admitted to register (/api/v1/devices): never a password nor its HA1 in an answer."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from app.api.schemas.base import Instant, Patch, Public, Strict
from app.api.schemas.requests import DIVISION_CODE

DeviceKind = Literal["ipc", "nvr", "dvr", "encoder", "mobile", "platform"]
DeviceActionName = Literal["catalog", "device_info", "device_status", "reboot", "guard", "unguard", "reset_alarm"]

__all__ = ["Device", "DeviceAction", "DeviceActionResult", "DeviceChannel", "DeviceCreate", "DeviceDetail",
           "DeviceKind", "DeviceList", "DeviceUpdate"]


class Device(Public):
    id: int
    gb_id: str
    name: str
    division_code: str | None
    kind: DeviceKind
    edition: Literal["2016", "2022"] | None = Field(description="GB/T 28181 edition (REGISTER header X-GB-Ver)")
    online: bool
    status_since: Instant | None
    registered_at: Instant | None
    last_keepalive_at: Instant | None
    transport: str | None
    address: str | None
    manufacturer: str | None
    model: str | None
    firmware: str | None
    channel_count: int | None
    catalog_sum: int | None = Field(description="SumNum of the device's last catalog answer")
    created_at: Instant


class DeviceList(Public):
    devices: list[Device]


class DeviceChannel(Public):
    gb_id: str
    name: str
    status: str
    camera_id: int
    lon: float | None
    lat: float | None


class DeviceDetail(Device):
    channels: list[DeviceChannel]


class DeviceCreate(Strict):
    gb_id: str = Field(pattern=r"^[0-9]{20}$", description="the device's 20-digit GB/T 28181 id")
    name: str = Field(min_length=1, max_length=200)
    division_code: str = Field(pattern=DIVISION_CODE)
    kind: DeviceKind | None = Field(default=None, description="default: what the id's type code says")
    password: str = Field(min_length=8, max_length=64, description="its SIP password (stored as its digest HA1)")


class DeviceUpdate(Patch):
    NULLABLE: ClassVar[frozenset[str]] = frozenset()
    name: str | None = Field(default=None, min_length=1, max_length=200)
    division_code: str | None = Field(default=None, pattern=DIVISION_CODE)
    kind: DeviceKind | None = None
    password: str | None = Field(default=None, min_length=8, max_length=64)


class DeviceAction(Strict):
    action: DeviceActionName
    reason: str | None = Field(default=None, max_length=500)


class DeviceActionResult(Public):
    action: DeviceActionName
    result: dict[str, Any] = Field(description="queries: the device's answer fields; commands: its SIP status")
