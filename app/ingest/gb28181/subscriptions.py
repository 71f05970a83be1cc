"""SUBSCRIBE dialogs (Catalog, MobilePosition, Alarm), refreshed before they expire.

Mixed into ``Gb28181Server`` (``server.py``), whose state and helpers it uses: ``settings``, ``stats``,
``registry``, ``_reply``, ``_spawn``, ``_publish``.
"""

from __future__ import annotations

import contextlib
import secrets

from app.ingest.gb28181 import manscdp, sip
from app.ingest.gb28181.registry import Device


class Subscriptions:
    async def subscribe(
        self, dev: Device, event: str, cmd_type: str, extra: dict | None = None, refresh: bool = False
    ) -> bool:
        """SUBSCRIBE (new, or a refresh reusing the dialog's Call-ID and tags)."""
        key = cmd_type
        old = dev.subscriptions.get(key) if refresh else None
        sub = old or {
            "call_id": f"{secrets.token_hex(8)}@{self.host}",
            "from_tag": sip.new_tag(),
            "to_tag": None,
            "cseq": 0,
            "event": f"{event};id={secrets.randbelow(1 << 20)}",
            "extra": extra,
        }
        sub["cseq"] += 1
        body = manscdp.build("Query", cmd_type, self.next_sn(), dev.device_id, sub["extra"])
        expires = self.settings.subscription_expires_s
        resp = await self.request(
            dev,
            "SUBSCRIBE",
            body,
            [
                ("Event", sub["event"]),
                ("Expires", str(expires)),
                ("Contact", f"<sip:{self.settings.server_id}@{self.host}:{self.udp_port}>"),
            ],
            call_id=sub["call_id"],
            from_tag=sub["from_tag"],
            to_tag=sub["to_tag"],
            cseq=sub["cseq"],
        )
        if resp is None or not (200 <= (resp.status or 0) < 300):
            dev.subscriptions.pop(key, None)
            self.stats["subscribe_failed"] += 1
            return False
        sub["to_tag"] = sip.header_params(resp.get("To") or "").get("tag")
        with contextlib.suppress(ValueError):  # the device may grant a shorter time
            expires = int((resp.get("Expires") or str(expires)).split(";")[0].strip())
        sub["expires_at"] = self.now() + expires
        sub["expires"] = expires
        dev.subscriptions[key] = sub
        return True

    def _refresh_subscriptions(self, now: float) -> None:
        for dev in self.registry.devices.values():
            for key, sub in list(dev.subscriptions.items()):
                if not sub.get("refreshing") and now > sub["expires_at"] - min(60.0, sub["expires"] / 4):
                    sub["refreshing"] = True
                    self._spawn(self._refresh(dev, key, sub), "subscribe")

    async def _refresh(self, dev: Device, key: str, sub: dict) -> None:
        event = sub["event"].split(";")[0]
        try:
            await self.subscribe(dev, event, key, sub["extra"], refresh=True)
        finally:
            sub["refreshing"] = False
