"""Device online/offline transitions: published at once, written to the store by one background writer
that batches a registration storm into one statement per status.

Mixed into ``Gb28181Server`` (``server.py``), whose state and helpers it uses: ``settings``, ``stats``,
``registry``, ``_reply``, ``_spawn``, ``_publish``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from app.ingest.gb28181.registry import Device

log = logging.getLogger("app.ingest.gb28181")


class DeviceStatus:
    async def _device_status(self, dev: Device, status: str, why: str) -> None:
        """Device-level transition: the device and all its channels follow (online restores the
        channels' own catalog status)."""
        self.stats[f"device_{status}"] += 1
        self._note_status(dev, status)  # the device's row (device_state.py)
        if status != "online":  # its video dialogs cannot outlive it
            self._end_device_dialogs(dev.device_id, why)
        await self._publish(
            "gb28181.device",
            {
                "device_id": dev.device_id,
                "status": status,
                "reason": why,
                "at": datetime.now(UTC).isoformat(),
            },
        )
        if self.store is None:
            return
        # Queued, latest per device wins; one statement per status writes a whole registration storm.
        if status == "online":
            ids = [dev.device_id, *(c for c, st in dev.channels.items() if st == "online")]
        else:
            ids = [dev.device_id, *dev.channels]
        self._status_queue[dev.device_id] = (status, ids)
        self._status_wakeup.set()

    async def _status_writer(self) -> None:
        while True:
            await self._status_wakeup.wait()
            self._status_wakeup.clear()
            queue, self._status_queue = self._status_queue, {}
            by_status: dict[str, tuple[list[str], list[str]]] = {}
            for device_id, (status, ids) in queue.items():
                gb_ids, devices = by_status.setdefault(status, ([], []))
                gb_ids.extend(ids)
                if status != "online":  # offline takes every channel, even ones never catalogued here
                    devices.append(device_id)
            for status, (gb_ids, devices) in by_status.items():
                try:
                    changed = await self.store.set_status(status, gb_ids, devices)
                except Exception:
                    self.stats["status_error"] += 1
                    log.exception("status update failed (%d cameras)", len(gb_ids))
                    continue
                await self._publish_camera_status(changed, status)

    async def _publish_camera_status(self, gb_ids, status: str) -> None:
        at = datetime.now(UTC).isoformat()
        for gb_id in gb_ids:
            await self._publish("camera.status", {"gb_id": gb_id, "status": status, "at": at})
