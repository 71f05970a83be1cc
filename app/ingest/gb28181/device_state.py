"""A registered device's live state for the store's ``gb_device`` row: registered/online/offline with since,
keepalive, transport, address, expiry, edition, DeviceInfo, catalog size.

Changes are merged per device and written by one background writer, one statement per round whatever the
number of devices (a registration storm of 10,000 devices is a few statements). A keepalive is written at
most every ``keepalive_write_s`` per device, not per keepalive. Without a store nothing is kept.

Mixed into ``Gb28181Server`` through ``Registrar``; uses ``store``, ``stats``, ``now``, ``_spawn``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from app.ingest.gb28181.registry import Device

log = logging.getLogger("app.ingest.gb28181")


def _utc_now() -> str:
    return datetime.now(UTC).isoformat()


class DeviceState:
    keepalive_write_s = 30.0  # a device's last_keepalive_at is written at most this often

    def _note(self, device_id: str, **fields) -> None:
        """Queue fields of the device's row (``online`` takes ``at``, the moment it changed)."""
        if self.store is None or not hasattr(self.store, "update_devices"):
            return
        if not hasattr(self, "_device_rows"):
            self._device_rows: dict[str, dict] = {}
            self._device_wakeup = asyncio.Event()
            self._keepalive_written: dict[str, float] = {}
            self._spawn(self._device_writer(), "device_state")
        self._device_rows.setdefault(device_id, {}).update(fields)
        self._device_wakeup.set()

    def _note_registered(self, dev: Device, expires: int, edition: str, new: bool) -> None:
        now = datetime.now(UTC)
        at = now.isoformat()
        fields = {"expires_at": (now + timedelta(seconds=expires)).isoformat(),
                  "transport": dev.transport, "address": f"{dev.addr[0]}:{dev.addr[1]}", "edition": edition}
        if new:
            fields |= {"registered_at": at, "online": True, "at": at}
        self._note(dev.device_id, **fields)

    def _note_status(self, dev: Device, status: str) -> None:
        self._note(dev.device_id, online=status == "online", at=_utc_now())

    def _note_keepalive(self, dev: Device) -> None:
        now = self.now()
        written = getattr(self, "_keepalive_written", {}).get(dev.device_id)
        if written is not None and now - written < self.keepalive_write_s:
            return
        self._note(dev.device_id, last_keepalive_at=_utc_now())
        if hasattr(self, "_keepalive_written"):
            self._keepalive_written[dev.device_id] = now

    async def _device_writer(self) -> None:
        while True:
            await self._device_wakeup.wait()
            self._device_wakeup.clear()
            rows, self._device_rows = self._device_rows, {}
            try:
                await self.store.update_devices(rows)
            except Exception:
                self.stats["device_state_error"] += 1
                log.exception("device state not written (%d devices)", len(rows))
