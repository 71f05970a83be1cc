"""Registered devices and their liveness: in-memory state, pure (the caller passes the clock)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

Sender = Callable[[bytes], None]


@dataclass(slots=True)
class Device:
    device_id: str
    call_id: str
    contact: str
    addr: tuple[str, int]
    transport: str  # 'UDP' | 'TCP'
    send: Sender
    registered_at: float
    expires_at: float
    last_seen: float
    online: bool = True
    channels: dict[str, str] = field(default_factory=dict)  # channel gb_id → last catalog status
    subscriptions: dict[str, dict] = field(default_factory=dict)  # event name → dialog state
    keepalives: int = 0
    # Catalog work for one device is applied in arrival order (OFF then ON must not race).
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Registry:
    def __init__(self, heartbeat_interval_s: float, heartbeat_count: int) -> None:
        self.devices: dict[str, Device] = {}
        self.timeout_s = heartbeat_interval_s * heartbeat_count

    def get(self, device_id: str) -> Device | None:
        return self.devices.get(device_id)

    def register(self, dev: Device) -> tuple[Device, bool]:
        """Store ``dev``; returns (device, is_refresh). A refresh keeps the Call-ID and the
        channels and subscriptions learned before."""
        old = self.devices.get(dev.device_id)
        if old is not None and old.call_id == dev.call_id:
            old.expires_at, old.last_seen = dev.expires_at, dev.last_seen
            old.addr, old.send, old.contact, old.transport = dev.addr, dev.send, dev.contact, dev.transport
            return old, True
        if old is not None:
            dev.channels = old.channels
        self.devices[dev.device_id] = dev
        return dev, False

    def unregister(self, device_id: str) -> Device | None:
        return self.devices.pop(device_id, None)

    def seen(self, device_id: str, now: float) -> Device | None:
        """A keepalive (or any message) from the device; None if it is not registered."""
        dev = self.devices.get(device_id)
        if dev is not None:
            dev.last_seen = now
        return dev

    def sweep(self, now: float) -> tuple[list[Device], list[Device]]:
        """(devices that just missed interval × count heartbeats, registrations that expired).
        Expired ones are removed; silent ones stay registered but offline."""
        silent, expired = [], []
        for dev in list(self.devices.values()):
            if now >= dev.expires_at:
                expired.append(self.devices.pop(dev.device_id))
            elif dev.online and now - dev.last_seen > self.timeout_s:
                dev.online = False
                silent.append(dev)
        return silent, expired


class CatalogAssembler:
    """Catalog answers may span several MESSAGEs: gather by (device, SN) until SumNum items arrived."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, int | None], tuple[float, int | None, dict]] = {}

    def add(
        self, device_id: str, sn: int | None, sum_num: int | None, items: list, now: float
    ) -> list | None:
        """Items so far; returns the complete list once SumNum is reached, else None."""
        key = (device_id, sn)
        started, total, got = self._parts.get(key, (now, sum_num, {}))
        for it in items:
            got[it.device_id] = it  # a retransmitted page must not count twice
        total = total if total is not None else sum_num
        if total is None or len(got) >= total:
            self._parts.pop(key, None)
            return list(got.values())
        self._parts[key] = (started, total, got)
        return None

    def expire(self, now: float, timeout_s: float) -> list[tuple[str, list]]:
        """Incomplete answers older than ``timeout_s``: given up on, returned with what arrived."""
        out = []
        for key, (started, _, got) in list(self._parts.items()):
            if now - started > timeout_s:
                del self._parts[key]
                out.append((key[0], list(got.values())))
        return out
