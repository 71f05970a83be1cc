"""MobilePosition reports → ``app.domain.fix.Fix`` lists for the position sink, and the cameras of mobile
devices (body, vehicle cameras, drones) moved to where their device is, so call-up finds them there.

Camera moves are batched: the latest fix per device is kept and written by one background writer at most
every ``camera_follow_s`` (not per fix); which cameras follow is the store's rule (``follow_fixes``: only
devices admitted as kind 'mobile', never a camera a person placed). Each moved camera is announced
(``camera.moved``, which the runtime turns into the ``cameras`` message open maps redraw): at most one
announcement per camera per round, however often its device reports.

Mixed into ``Gb28181Server`` (``server.py``), whose state and helpers it uses: ``settings``, ``stats``,
``registry``, ``_reply``, ``_spawn``, ``_publish``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from app.domain.events import Topic
from app.domain.fix import Fix
from app.ingest.gb28181 import manscdp, mapping
from app.ingest.gb28181.registry import Device

log = logging.getLogger("app.ingest.gb28181")


class Positions:
    camera_follow_s = 3.0  # a mobile device's cameras are moved at most this often

    def _on_positions(self, dev: Device, doc: manscdp.Document) -> None:
        crs, now = self.crs_of(dev.device_id), datetime.now(UTC)
        fixes = [
            f
            for raw in manscdp.mobile_positions(doc, self.tz)
            if (f := mapping.position_fix(raw, crs, now)) is not None
        ]
        if not fixes:
            self.warn("position_without_fix", "MobilePosition from %s without coordinates", dev.device_id)
            return
        self.stats["positions"] += len(fixes)
        if self.position_sink is not None:
            self._spawn(self.position_sink(fixes), "position_sink")
        self._follow(fixes)

    def _follow(self, fixes: list[Fix]) -> None:
        if self.store is None or not hasattr(self.store, "follow_fixes"):
            return
        if not hasattr(self, "_following"):
            self._following: dict[str, Fix] = {}  # device id → its latest fix not yet written
            self._follow_wakeup = asyncio.Event()
            self._spawn(self._follow_writer(), "camera_follow")
        for f in fixes:
            old = self._following.get(f.device_id)
            if old is None or f.fix_time >= old.fix_time:
                self._following[f.device_id] = f
        self._follow_wakeup.set()

    async def _follow_writer(self) -> None:
        while True:
            await self._follow_wakeup.wait()
            self._follow_wakeup.clear()
            fixes, self._following = list(self._following.values()), {}
            try:
                moved = await self.store.follow_fixes(fixes)
                self.stats["cameras_followed"] += len(moved)
                self.stats["camera_follow_rounds"] += 1
            except Exception:
                self.stats["camera_follow_error"] += 1
                log.exception("mobile cameras not moved (%d devices)", len(fixes))
                moved = []
            try:  # the writer outlives a bus that fails: the next round announces again
                for gb_id in moved:
                    await self._publish(Topic.CAMERA_MOVED, {"gb_id": gb_id})
            except Exception:
                self.stats["camera_moved_publish_error"] += 1
                log.exception("camera moves not announced")
            await asyncio.sleep(self.camera_follow_s)  # fixes arriving meanwhile wait for the next round
