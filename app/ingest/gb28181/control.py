"""DeviceControl: guard commands and PTZ moves to a channel through the device that carries it.

Mixed into ``Gb28181Server`` (``server.py``), whose state and helpers it uses: ``settings``, ``stats``,
``registry``, ``_reply``, ``_spawn``, ``_publish``.
"""

from __future__ import annotations

from app.ingest.gb28181 import manscdp, sip
from app.ingest.gb28181.ptz import ptz_cmd
from app.ingest.gb28181.registry import Device


class Control:
    async def control(self, dev: Device, extra: dict) -> sip.SipMessage | None:
        body = manscdp.build("Control", "DeviceControl", self.next_sn(), dev.device_id, extra)
        return await self.request(dev, "MESSAGE", body)

    def device_of(self, channel_id: str) -> Device | None:
        """The registered device that carries ``channel_id`` (or is it: a single camera registers itself)."""
        dev = self.registry.get(channel_id)
        if dev is not None:
            return dev
        return next((d for d in self.registry.devices.values() if channel_id in d.channels), None)

    async def ptz(self, channel_id: str, action: str, speed: int) -> bool:
        """Send a PTZ move or stop to a channel (DeviceControl/PTZCmd); True once the device answered 200."""
        dev = self.device_of(channel_id)
        if dev is None or not dev.online:
            self.stats["ptz_no_device"] += 1
            return False
        body = manscdp.build("Control", "DeviceControl", self.next_sn(), channel_id,
                             {"PTZCmd": ptz_cmd(action, speed), "Info": {"ControlPriority": "5"}})
        resp = await self.request(dev, "MESSAGE", body)
        self.stats["ptz_sent" if resp is not None and resp.status == 200 else "ptz_failed"] += 1
        return resp is not None and resp.status == 200
