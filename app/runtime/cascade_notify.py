"""Subscriptions of upper platforms (GB/T 28181 cascade): catalog changes, mobile positions, alarms.

A SUBSCRIBE from an upper (``CascadeNotify.on_subscribe``) is answered 200 with the granted ``Expires``;
a Catalog subscription then gets the current shared directory in NOTIFYs, and afterwards every change of a
shared camera: the ``cameras`` bus messages (from the API's edits and the devices' status, from any
process) are turned into ADD / DEL / UPDATE / ON / OFF against what the upper was told. A MobilePosition
subscription of a platform with ``relay_positions`` gets the new position of a shared mobile camera when
it moves. A platform with ``relay_alarms`` gets an Alarm MESSAGE for each alarm of a shared camera (the
``incidents`` messages the SIP server's alarms open). Subscriptions lapse at their expiry unless refreshed.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from types import SimpleNamespace

from app.domain import sharing
from app.ingest.gb28181 import sip
from app.ingest.gb28181.upper_link import UpperLink
from app.ingest.gb28181.upper_subscriptions import (
    SubscribeError,
    UpperSubscription,
    alarm_body,
    catalog_change,
    catalog_notify_bodies,
    mobile_position_body,
    read_subscribe,
)
from app.services import platform_share, platforms

log = logging.getLogger(__name__)


class CascadeNotify:
    def __init__(self, cascade) -> None:
        self.cascade = cascade
        self.subs: dict[str, UpperSubscription] = {}  # Call-ID → subscription
        self._sn = 0
        self._lock = asyncio.Lock()  # camera changes are applied in order, one at a time

    @property
    def server(self):
        return self.cascade.server

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _next_sn(self) -> int:
        self._sn += 1
        return self._sn

    # --- SUBSCRIBE ---------------------------------------------------------------------------------

    def on_subscribe(self, pid: int, link: UpperLink, ctx) -> None:
        msg = ctx[0]
        try:
            req = read_subscribe(msg)
        except SubscribeError as e:
            self.server._reply(ctx, e.status, e.reason)
            return
        old = self.subs.get(msg.call_id)
        if req.expires == 0:  # unsubscribe
            self.subs.pop(msg.call_id, None)
            tag = sip.header_params(old.local).get("tag") if old is not None else None
            self.server._reply(ctx, 200, headers=[("Expires", "0")], to_tag=tag)
            return
        if old is not None:  # refresh inside the dialog
            old.expires_at = self._now() + req.expires
            self.server._reply(ctx, 200, headers=[("Expires", str(req.expires))],
                               to_tag=sip.header_params(old.local).get("tag"))
            return
        tag = sip.new_tag()
        sub = UpperSubscription.of(pid, msg, req, tag, self._now())
        self.subs[msg.call_id] = sub
        self.server._reply(ctx, 200, headers=[("Expires", str(req.expires))], to_tag=tag)
        self.cascade._spawn(self._initial(sub, link))

    async def _initial(self, sub: UpperSubscription, link: UpperLink) -> None:
        """The state now: a Catalog subscription gets the shared directory (each item ADD)."""
        c = link.config
        if sub.kind != "Catalog":
            await self._notify(sub, link, None)
            return
        async with self._lock:
            async with self.cascade.engine.connect() as conn:
                items = await platforms.shared_directory(conn, sub.platform_id, c.local_id)
            for it in items:
                if str(it["DeviceID"])[10:13] not in ("215", "216"):
                    sub.known[str(it["DeviceID"])] = it
            for body in catalog_notify_bodies([{**it, "Event": "ADD"} for it in items], self._next_sn(),
                                              c.local_id, c.charset):
                if not await self._notify(sub, link, body):
                    return

    async def resync(self, pid: int) -> set[str] | None:
        """The platform's rule may have changed: its catalog subscribers are told the difference (ADD for
        cameras now shared, DEL for those no longer). The DeviceIDs shared now (None: unknown platform)."""
        link = self.cascade.links.get(pid)
        if link is None:
            return None
        async with self._lock:
            async with self.cascade.engine.connect() as conn:
                items = await platforms.shared_directory(conn, pid, link.config.local_id)
            now = {str(it["DeviceID"]): it for it in items if str(it["DeviceID"])[10:13] not in ("215", "216")}
            for sub in [s for s in self._live("Catalog") if s.platform_id == pid]:
                changes = [catalog_change(sub.known, d, None) for d in list(sub.known) if d not in now]
                changes += [catalog_change(sub.known, d, it) for d, it in now.items()]
                changes = [c for c in changes if c is not None]
                if changes:
                    c = link.config
                    for body in catalog_notify_bodies(changes, self._next_sn(), c.local_id, c.charset):
                        await self._notify(sub, link, body)
        return set(now)

    async def _notify(self, sub: UpperSubscription, link: UpperLink, body: bytes | None) -> bool:
        resp = await link.in_dialog("NOTIFY", sub.remote_uri, sub.local, sub.remote, sub.call_id,
                                    headers=sub.headers(self._now()), body=body or b"")
        if resp is not None and resp.status == 481:  # the upper forgot the subscription
            self.subs.pop(sub.call_id, None)
        return resp is not None and resp.status == 200

    def _live(self, kind: str) -> list[UpperSubscription]:
        now = self._now()
        for key in [k for k, s in self.subs.items() if s.expires_at <= now]:
            del self.subs[key]  # lapsed: not refreshed in time
        return [s for s in self.subs.values() if s.kind == kind and s.platform_id in self.cascade.links]

    def drop_platform(self, pid: int) -> None:
        for key in [k for k, s in self.subs.items() if s.platform_id == pid]:
            del self.subs[key]

    # --- bus messages ------------------------------------------------------------------------------

    def on_bus(self, topic: str, msg: dict) -> None:
        if topic == "cameras" and msg.get("id") is not None and (self._live("Catalog") or
                                                                 self._live("MobilePosition")):
            self.cascade._spawn(self._camera_changed(msg))
        elif topic == "incidents" and msg.get("camera_gb_id"):
            self.cascade._spawn(self._alarm(msg))

    async def _camera_changed(self, msg: dict) -> None:
        async with self._lock:
            by_pid: dict[int, tuple] = {}
            for sub in self._live("Catalog") + self._live("MobilePosition"):
                link = self.cascade.links.get(sub.platform_id)
                if link is None:
                    continue
                if sub.platform_id not in by_pid:
                    async with self.cascade.engine.connect() as conn:
                        item, _ = await platform_share.camera_item(conn, sub.platform_id, link.config.local_id,
                                                                     camera_id=int(msg["id"]))
                        row = await platform_share.platform(conn, sub.platform_id)
                    by_pid[sub.platform_id] = (item, row)
                item, row = by_pid[sub.platform_id]
                cam_msg = msg.get("camera") or {}
                device_id = item["DeviceID"] if item else _device_id(link.config.local_id, msg["id"],
                                                                      cam_msg.get("gb_id"))
                if sub.kind == "Catalog":
                    change = catalog_change(sub.known, device_id, item)
                    if change is not None:
                        c = link.config
                        for body in catalog_notify_bodies([change], self._next_sn(), c.local_id, c.charset):
                            await self._notify(sub, link, body)
                elif item is not None and row and row["relay_positions"] and msg.get("lon") is not None \
                        and sub.known.get(device_id) != (pos := {"lon": msg["lon"], "lat": msg["lat"]}):
                    sub.known[device_id] = pos  # only a move is a report (an edit elsewhere is not)
                    body = mobile_position_body(self._next_sn(), device_id, float(msg["lon"]), float(msg["lat"]),
                                                datetime.now(self.server.tz), link.config.charset)
                    await self._notify(sub, link, body)

    async def _alarm(self, msg: dict) -> None:
        for pid, link in list(self.cascade.links.items()):
            async with self.cascade.engine.connect() as conn:
                row = await platform_share.platform(conn, pid)
                if row is None or not row["relay_alarms"]:
                    continue
                item, _ = await platform_share.camera_item(conn, pid, link.config.local_id,
                                                           gb_id=msg["camera_gb_id"])
            if item is None:
                continue
            inc = msg.get("incident") or {}
            at = _when(msg.get("alarm_time")) or datetime.now(self.server.tz)
            body = alarm_body(self._next_sn(), item["DeviceID"], method=msg.get("alarm_method"),
                              alarm_type=msg.get("alarm_type"), at=at,
                              description=str(inc.get("description") or inc.get("title") or "alarm"),
                              lon=msg.get("lon"), lat=msg.get("lat"), encoding=link.config.charset)
            await link.message(body)


def _device_id(local_id: str, camera_id: int, gb_id: str | None) -> str:
    """The id the upper knows a camera by (that of ``sharing.camera_id``), from a bus message alone."""
    return sharing.camera_id(local_id, SimpleNamespace(id=int(camera_id), gb_id=gb_id))


def _when(raw: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None
