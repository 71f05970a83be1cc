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


@dataclass(slots=True)
class _Gathering:
    """One device's catalog being gathered: items merged by channel id over its answer and re-queries."""

    device_id: str
    total: int | None
    last_at: float  # the last page's arrival: quiet since then
    items: dict = field(default_factory=dict)  # channel id → item
    sns: list = field(default_factory=list)  # the query SNs whose answers feed it
    requeries: int = 0


class CatalogAssembler:
    """Catalog answers span many MESSAGEs (a 10,000-channel NVR sends a few hundred): gather by (device, SN)
    until SumNum items arrived. Pages get lost over UDP, so when an answer has been quiet for the timeout with
    items missing, what arrived is handed over (stored at once) and, up to ``requeries`` times, the device is
    asked again (``requery(device_id)`` sends a new Catalog query and returns its SN): the new answer merges
    into the same gathering by channel id until it is complete, else the last round gives up."""

    def __init__(self, requeries: int = 2, requery: Callable[[str], int | None] | None = None) -> None:
        self.requeries = requeries
        self.requery = requery
        self._parts: dict[tuple[str, int | None], _Gathering] = {}
        self._done: dict[tuple[str, int | None], float] = {}  # finished answers: late pages are not a new one

    def add(
        self, device_id: str, sn: int | None, sum_num: int | None, items: list, now: float
    ) -> list | None:
        """Items so far; returns the complete list once SumNum is reached, else None."""
        key = (device_id, sn)
        g = self._parts.get(key)
        if g is None:
            if key in self._done:
                return None  # a late page of an answer already complete (or handed over)
            g = self._parts[key] = _Gathering(device_id, sum_num, now, sns=[sn])
        for it in items:
            g.items[it.device_id] = it  # a retransmitted page or a re-query's answer must not count twice
        g.last_at = now
        if g.total is None or (sum_num is not None and sum_num > g.total):
            g.total = sum_num  # channels added meanwhile: the largest SumNum seen
        if g.total is None or len(g.items) >= g.total:
            self._finish(g, now)
            return list(g.items.values())
        return None

    def _finish(self, g: _Gathering, now: float) -> None:
        for sn in g.sns:
            self._parts.pop((g.device_id, sn), None)
            self._done[(g.device_id, sn)] = now

    def expire(self, now: float, timeout_s: float) -> list[tuple[str, list]]:
        """Answers quiet for ``timeout_s`` with items missing: (device, items so far) for each, to store now.
        Each is asked again while re-queries remain (it stays gathering), else given up."""
        out = []
        for g in {id(g): g for g in self._parts.values()}.values():
            if now - g.last_at <= timeout_s:
                continue
            out.append((g.device_id, list(g.items.values())))
            sn = self.requery(g.device_id) if self.requery and g.requeries < self.requeries else None
            if sn is None:
                self._finish(g, now)
                continue
            g.requeries += 1
            g.last_at = now
            g.sns.append(sn)
            self._parts[(g.device_id, sn)] = g
        for key, at in list(self._done.items()):
            if now - at > 4 * timeout_s:
                del self._done[key]
        return out
