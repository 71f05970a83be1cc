"""Queries to a device whose answer comes back as a MANSCDP Response MESSAGE (DeviceInfo, DeviceStatus):
sent with a fresh SN, the answer matched by (device, CmdType, SN).

Mixed into ``Gb28181Server`` through ``Registrar``; uses ``settings``, ``request``, ``next_sn``.
"""

from __future__ import annotations

import asyncio

from app.ingest.gb28181 import manscdp
from app.ingest.gb28181.registry import Device

# Device-level commands (DeviceControl) by the name the API uses.
COMMANDS: dict[str, dict[str, str]] = {
    "reboot": {"TeleBoot": "Boot"},
    "guard": {"GuardCmd": "SetGuard"},
    "unguard": {"GuardCmd": "ResetGuard"},
    "reset_alarm": {"AlarmCmd": "ResetAlarm"},
}


def answer_fields(doc: manscdp.Document) -> dict[str, str]:
    """The answer's own fields (lower-case tags → text), without the envelope."""
    skip = {"cmdtype", "sn", "deviceid"}
    return {el.tag: el.text.strip() for el in doc.el
            if el.tag not in skip and len(el) == 0 and el.text and el.text.strip()}


class Queries:
    async def ask(self, dev: Device, cmd_type: str, timeout_s: float | None = None) -> manscdp.Document | None:
        """The device's answer to a Query, or None (refused, or no answer within the timeout)."""
        if not hasattr(self, "_answers"):
            self._answers: dict[tuple[str, str, int], asyncio.Future] = {}
        sn = self.next_sn()
        key = (dev.device_id, cmd_type.lower(), sn)
        fut = self._answers[key] = asyncio.get_running_loop().create_future()
        try:
            resp = await self.request(dev, "MESSAGE", manscdp.build("Query", cmd_type, sn, dev.device_id))
            if resp is None or resp.status != 200:
                return None
            return await asyncio.wait_for(fut, timeout_s or self.settings.transaction_timeout_s)
        except TimeoutError:
            return None
        finally:
            self._answers.pop(key, None)

    def _on_answer(self, dev: Device, doc: manscdp.Document) -> None:
        """A Response MESSAGE that is not a catalog page: the answer someone is waiting for, if any."""
        fut = getattr(self, "_answers", {}).get((dev.device_id, doc.cmd_type.lower(), doc.sn))
        if fut is not None and not fut.done():
            fut.set_result(doc)

    async def device_info(self, dev: Device) -> dict[str, str] | None:
        """Ask DeviceInfo; the manufacturer, model and firmware go to the device's row."""
        doc = await self.ask(dev, "DeviceInfo")
        if doc is None:
            self.stats["device_info_unanswered"] += 1
            return None
        fields = answer_fields(doc)
        self._note(dev.device_id, **{k: fields[k][:200] for k in ("manufacturer", "model", "firmware") if k in fields})
        return fields
