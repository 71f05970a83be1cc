"""Alarm NOTIFYs → an incident opened through the store (published on ``incidents``), or a
``gb28181.alarm`` message when running without a store.

Mixed into ``Gb28181Server`` (``server.py``), whose state and helpers it uses: ``settings``, ``stats``,
``registry``, ``_reply``, ``_spawn``, ``_publish``.
"""

from __future__ import annotations

from app.domain.events import Topic
from app.ingest.gb28181 import manscdp, mapping
from app.ingest.gb28181.registry import Device


class Alarms:
    async def _on_alarm(self, dev: Device, doc: manscdp.Document) -> None:
        alarm = manscdp.alarm(doc, self.tz)
        row = mapping.incident_row(alarm, self.crs_of(dev.device_id))
        self.stats["alarms"] += 1
        if self.store is None:
            await self._publish("gb28181.alarm", {k: v for k, v in row.items() if k != "alarm_time"})
            return
        incident = await self.store.insert_incident(row, fallback_device=dev.device_id)
        if incident is None:
            self.warn("alarm_unplaced", "alarm from %s: no position and no known camera", alarm.device_id)
            return
        await self._publish(Topic.INCIDENTS, incident)
