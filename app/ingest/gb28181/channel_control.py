"""Per-channel commands beyond moves: presets (PresetQuery, PTZCmd set/call/delete), cruises, and the
GB/T 28181-2022 additions: the PTZ position query, precise PTZ (PTZPreciseCtrl) and snapshots
(DeviceConfig/SnapShotConfig; the device then uploads the picture over HTTP to the URL it was given).

Answers that come back as Response MESSAGEs (PresetQuery, PTZPosition) are matched by (device, SN); a
preset list may span several MESSAGEs, gathered until SumNum (or ``PresetList Num``) items arrived.
A failure raises ``ChannelCommandFailed`` with the reason, for the caller to pass on.

Mixed into ``Gb28181Server`` (``server.py``) ahead of ``Registrar``, so that its ``_on_answer`` sees the
answers first and hands the others on; uses ``settings``, ``stats``, ``device_of``, ``next_sn``, ``request``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from app.ingest.gb28181 import manscdp
from app.ingest.gb28181.registry import Device

# A preset list is at most 255 items, a few MESSAGEs: bounded well below the API's call timeout (20 s),
# so a partial list comes back as such instead of the call timing out.
PRESETS_TIMEOUT_S = 10.0


class ChannelCommandFailed(Exception):
    """The channel's device is not here, refused the command, or did not answer."""


@dataclass(frozen=True, slots=True)
class Preset:
    number: int
    name: str | None


@dataclass(eq=False)
class _Ask:
    cmd: str  # lower-case CmdType expected back
    done: asyncio.Event = field(default_factory=asyncio.Event)
    docs: list[manscdp.Document] = field(default_factory=list)
    expected: int | None = None
    presets: dict[int, Preset] = field(default_factory=dict)


def _num(v: str | None) -> float | None:
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


def parse_presets(doc: manscdp.Document) -> tuple[int | None, list[Preset]]:
    """(the total the device announces, this page's presets) of one PresetQuery answer."""
    lst = doc.el.find("presetlist")
    items = []
    for it in lst.findall("item") if lst is not None else []:
        n = _num(manscdp.text(it, "PresetID"))
        if n is not None and 0 < n <= 255:
            items.append(Preset(int(n), manscdp.text(it, "PresetName")))
    total = _num(manscdp.text(doc.el, "SumNum"))
    if total is None and lst is not None:
        total = _num(lst.get("Num") or lst.get("num"))
    return (int(total) if total is not None else None), items


def parse_position(doc: manscdp.Document) -> dict[str, float]:
    """Pan, Tilt, Zoom of a PTZPosition answer, wherever the device nests them."""
    out = {}
    for name in ("pan", "tilt", "zoom"):
        el = next(doc.el.iter(name), None)
        v = _num(el.text.strip()) if el is not None and el.text else None
        if v is not None:
            out[name] = v
    if "pan" not in out or "tilt" not in out:
        raise ChannelCommandFailed("the device's PTZPosition answer has no Pan/Tilt")
    return out


class ChannelControl:
    def _channel_device(self, channel_id: str) -> Device:
        dev = self.device_of(channel_id)
        if dev is None or not dev.online:
            raise ChannelCommandFailed(f"no online device carries channel {channel_id}")
        return dev

    async def _send(self, dev: Device, body: bytes, what: str) -> None:
        resp = await self.request(dev, "MESSAGE", body)
        if resp is None:
            self.stats[f"{what}_unanswered"] += 1
            raise ChannelCommandFailed(f"{what}: the device did not answer")
        if resp.status != 200:
            self.stats[f"{what}_refused"] += 1
            raise ChannelCommandFailed(f"{what}: the device answered {resp.status} {resp.reason}")
        self.stats[f"{what}_sent"] += 1

    async def front_end(self, channel_id: str, ptz_hex: str) -> None:
        """A PTZCmd (presets, cruises: ``ptz.preset_cmd``/``cruise_cmd``) as DeviceControl to the channel."""
        dev = self._channel_device(channel_id)
        body = manscdp.build("Control", "DeviceControl", self.next_sn(), channel_id,
                             {"PTZCmd": ptz_hex, "Info": {"ControlPriority": "5"}})
        await self._send(dev, body, "front_end")

    async def ptz_precise(self, channel_id: str, pan: float, tilt: float, zoom: float) -> None:
        """GB/T 28181-2022 PTZPreciseCtrl: go to an absolute pan/tilt (degrees) and zoom (magnification)."""
        dev = self._channel_device(channel_id)
        body = manscdp.build("Control", "DeviceControl", self.next_sn(), channel_id, {"PTZPreciseCtrl": {
            "Pan": f"{pan:.2f}", "Tilt": f"{tilt:.2f}", "Zoom": f"{zoom:.2f}"}})
        await self._send(dev, body, "ptz_precise")

    async def snapshot(self, channel_id: str, upload_url: str, session_id: str, count: int = 1) -> None:
        """GB/T 28181-2022 SnapShotConfig: the device takes ``count`` pictures and POSTs each to ``upload_url``."""
        dev = self._channel_device(channel_id)
        body = manscdp.build("Control", "DeviceConfig", self.next_sn(), channel_id, {"SnapShotConfig": {
            "SnapNum": str(count), "Interval": "1", "UploadURL": upload_url, "SessionID": session_id}})
        await self._send(dev, body, "snapshot")

    async def presets(self, channel_id: str, timeout_s: float | None = None) -> tuple[list[Preset], bool]:
        """The channel's presets (sorted) and whether every announced one arrived."""
        wait = timeout_s or min(self.settings.catalog_timeout_s, PRESETS_TIMEOUT_S)
        ask = await self._ask_channel(channel_id, "PresetQuery", wait)
        if not ask.docs:
            raise ChannelCommandFailed("PresetQuery: no answer from the device")
        return sorted(ask.presets.values(), key=lambda p: p.number), ask.done.is_set()

    async def ptz_position(self, channel_id: str, timeout_s: float | None = None) -> dict[str, float]:
        ask = await self._ask_channel(channel_id, "PTZPosition", timeout_s or self.settings.transaction_timeout_s)
        if not ask.docs:
            raise ChannelCommandFailed("PTZPosition: no answer from the device")
        return parse_position(ask.docs[0])

    async def _ask_channel(self, channel_id: str, cmd_type: str, timeout_s: float) -> _Ask:
        """Send Query ``cmd_type`` for the channel; wait (bounded) for the whole answer."""
        dev = self._channel_device(channel_id)
        if not hasattr(self, "_channel_asks"):
            self._channel_asks: dict[tuple[str, int], _Ask] = {}
        sn = self.next_sn()
        key = (dev.device_id, sn)
        ask = self._channel_asks[key] = _Ask(cmd_type.lower())  # the answer may beat the MESSAGE's 200
        deadline = self.now() + timeout_s
        try:
            await self._send(dev, manscdp.build("Query", cmd_type, sn, channel_id), cmd_type.lower())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ask.done.wait(), max(0.0, deadline - self.now()))
        finally:
            self._channel_asks.pop(key, None)
        return ask

    def _on_answer(self, dev: Device, doc: manscdp.Document) -> None:
        ask = getattr(self, "_channel_asks", {}).get((dev.device_id, doc.sn))
        if ask is None or ask.cmd != doc.cmd_type.lower():
            super()._on_answer(dev, doc)  # DeviceInfo, DeviceStatus… (queries.py)
            return
        ask.docs.append(doc)
        if ask.cmd != "presetquery":
            ask.done.set()
            return
        total, items = parse_presets(doc)
        ask.presets.update((p.number, p) for p in items)
        if ask.expected is None:
            ask.expected = total if total is not None else len(ask.presets)
        if len(ask.presets) >= ask.expected:
            ask.done.set()
