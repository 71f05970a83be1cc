"""The GB/T 28181 platform side: a SIP server that devices and lower platforms register to.

Flow per device: REGISTER (digest) → 200 with Date → Catalog query, catalog / MobilePosition
subscriptions, SetGuard + alarm subscription → Keepalive MESSAGEs keep it online; silence for
interval × count marks it and its channels offline. Every request is answered before its work
(database, sink, bus) runs in a background task, so a slow database never makes devices retransmit.

Topics handed to ``publish(topic, message)``:
- ``gb28181.device``   {device_id, status online|offline, reason, at}
- ``camera.status``    {gb_id, status online|offline|fault, at}: only real changes (an event row exists)
- ``camera.deleted``   {gb_id}: catalog DEL
- ``gb28181.catalog``  {device_id, items, channels, stored, without_location}: a complete catalog answer
- ``incident.created`` the stored incident (see ``Gb28181Store.insert_incident``)
- ``gb28181.alarm``    the decoded alarm, only when running without a store
Fixes go to ``position_sink(fixes)`` as lists of ``mapping.PositionFix``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from app.ingest.gb28181 import codes, digest, manscdp, mapping, sip
from app.ingest.gb28181.ptz import ptz_cmd
from app.ingest.gb28181.registry import CatalogAssembler, Device, Registry
from app.ingest.gb28181.settings import Gb28181Settings
from app.ingest.gb28181.transport import RateLimitedLog, UdpProtocol, serve_tcp_connection

log = logging.getLogger("app.ingest.gb28181")

PositionSink = Callable[[list[mapping.PositionFix]], Awaitable[None]]
Publish = Callable[[str, dict], Awaitable[None]]
_DEVICE_ID = re.compile(r"^\d{20}$")
_RESPONSE_CACHE_S = 32.0  # RFC 3261 Timer J: a retransmitted request gets the same answer
_RESPONSE_CACHE_MAX = 50_000
_NONCE_TTL_S = 600.0
_MANSCDP = "Application/MANSCDP+xml"


class Gb28181Server:
    def __init__(
        self,
        settings: Gb28181Settings,
        *,
        store=None,
        position_sink: PositionSink | None = None,
        publish: Publish | None = None,
        device_passwords: dict[str, str] | None = None,
        device_crs: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store  # app.services.gb28181_store.Gb28181Store or None (no persistence)
        self.position_sink = position_sink
        self.publish = publish
        self.passwords = dict(device_passwords or {})
        self.device_crs = dict(device_crs or {})
        self.tz = ZoneInfo(settings.device_tz)
        self.registry = Registry(settings.heartbeat_interval_s, settings.heartbeat_count)
        self.catalogs = CatalogAssembler()
        self.stats: Counter = Counter()
        self.warn = RateLimitedLog(self.stats)
        self._nonces: dict[str, float] = {}
        self._responses: dict[tuple, tuple[float, bytes]] = {}
        self._pending: dict[str, asyncio.Future] = {}
        self._tasks: set[asyncio.Task] = set()
        self._seen_since_flush: set[str] = set()
        self._sn = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self._sweeper: asyncio.Task | None = None
        self._status_task: asyncio.Task | None = None
        self._status_queue: dict[str, tuple[str, list[str]]] = {}
        self._status_wakeup = asyncio.Event()
        self.host = settings.host
        self.udp_port = self.tcp_port = settings.port

    # --- lifecycle ---------------------------------------------------------------------------------

    async def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        s = self.settings
        if s.udp:
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: UdpProtocol(self._on_message, s.max_message_bytes, self.warn),
                local_addr=(s.host, s.port),
            )
            self.udp_port = self._udp.get_extra_info("sockname")[1]
        if s.tcp:
            self._tcp = await asyncio.start_server(
                lambda r, w: serve_tcp_connection(
                    r,
                    w,
                    self._on_message,
                    s.max_message_bytes,
                    self.warn,
                    s.heartbeat_interval_s * s.heartbeat_count + 60,
                ),
                s.host,
                self.udp_port if s.udp else s.port,
            )
            self.tcp_port = self._tcp.sockets[0].getsockname()[1]

    async def start(self) -> None:
        s = self.settings
        # With port 0, TCP takes the port UDP got so devices see one address; that port may already be
        # taken for TCP by someone else, so an ephemeral pick is retried a few times.
        for attempt in range(20):
            try:
                await self._bind()
                break
            except OSError:
                if s.port != 0 or attempt == 19:
                    raise
                if self._udp is not None:
                    self._udp.close()
                    self._udp = None
        self.host = s.public_host or (s.host if s.host not in ("0.0.0.0", "::", "") else "127.0.0.1")
        self._sweeper = asyncio.create_task(self._sweep_loop())
        self._status_task = asyncio.create_task(self._status_writer())
        log.info(
            "GB/T 28181 server %s listening on %s udp:%s tcp:%s",
            s.server_id,
            s.host,
            self.udp_port if s.udp else "-",
            self.tcp_port if s.tcp else "-",
        )

    async def stop(self) -> None:
        for task in (self._sweeper, self._status_task):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._udp:
            self._udp.close()
        if self._tcp:
            self._tcp.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp.wait_closed(), 2)
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> Gb28181Server:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def _spawn(self, coro: Awaitable, what: str) -> None:
        async def guarded():
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                self.stats[f"{what}_error"] += 1
                log.exception("%s failed", what)

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, topic: str, message: dict) -> None:
        if self.publish is not None:
            await self.publish(topic, message)

    def crs_of(self, device_id: str) -> str:
        return self.device_crs.get(device_id, self.settings.default_crs)

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    # --- dispatch ----------------------------------------------------------------------------------

    def _on_message(self, msg: sip.SipMessage, addr: tuple[str, int], transport: str, send) -> None:
        self.stats["rx"] += 1
        if not msg.is_request:
            fut = self._pending.get(msg.branch)
            if fut is not None and not fut.done() and (msg.status or 0) >= 200:
                fut.set_result(msg)
            return
        if msg.method == "ACK":
            return
        key = (msg.call_id, msg.get("CSeq"), msg.branch)
        cached = self._responses.get(key)
        if cached is not None:  # a retransmission: same answer, no second processing
            self.stats["retransmissions"] += 1
            send(cached[1])
            return
        ctx = (msg, addr, transport, send, key)
        handler = {
            "REGISTER": self._on_register,
            "MESSAGE": self._on_manscdp,
            "NOTIFY": self._on_manscdp,
            "OPTIONS": self._on_options,
            "BYE": self._on_options,
        }.get(msg.method or "")
        if handler is None:
            self._reply(ctx, 405, headers=[("Allow", "REGISTER, MESSAGE, NOTIFY, OPTIONS, BYE, ACK")])
            return
        handler(ctx)

    def _reply(self, ctx, status: int, reason: str = "", headers=(), body: bytes = b"") -> None:
        msg, addr, _, send, key = ctx
        resp = sip.make_response(msg, status, reason, received=addr)
        resp.headers += list(headers)
        resp.headers.append(("User-Agent", "SharpEyes"))
        resp.body = body
        data = resp.to_bytes()
        self._responses[key] = (self.now(), data)
        if len(self._responses) > _RESPONSE_CACHE_MAX:  # bounded memory under a flood
            del self._responses[next(iter(self._responses))]
        self.stats[f"tx_{status}"] += 1
        send(data)

    def _on_options(self, ctx) -> None:
        self._reply(ctx, 200)

    # --- REGISTER ----------------------------------------------------------------------------------

    def _on_register(self, ctx) -> None:
        msg, addr, transport, send, _ = ctx
        dev_id = sip.uri_user(msg.get("From") or "") or sip.uri_user(msg.get("To") or "")
        if not _DEVICE_ID.match(dev_id):
            self.warn("bad_device_id", "REGISTER from %s with id %r", addr, dev_id)
            self._reply(ctx, 400, "Bad Device ID")
            return
        password = self.passwords.get(dev_id, self.settings.password)
        if password is None:
            self.warn("unknown_device", "REGISTER from unknown device %s at %s", dev_id, addr)
            self._reply(ctx, 403, "Unknown Device")
            return
        auth = digest.parse_authorization(msg.get("Authorization") or "")
        if not auth:
            self._challenge(ctx)
            return
        if auth.get("nonce") not in self._nonces:
            self._challenge(ctx, stale=True)  # e.g. issued before a restart
            return
        if auth.get("username") != dev_id or not digest.verify(auth, password, "REGISTER"):
            self.warn("auth_failed", "wrong password for %s from %s", dev_id, addr)
            self._reply(ctx, 403, "wrong password")
            return
        expires = self._expires(msg)
        if expires == 0:
            self._reply(ctx, 200, headers=self._register_headers(msg, 0))
            dev = self.registry.unregister(dev_id)
            self.stats["unregistrations"] += 1
            if dev is not None:
                self._spawn(self._device_status(dev, "offline", "unregistered"), "status")
            return
        if expires < self.settings.register_expires_min_s:
            self._reply(ctx, 423, headers=[("Min-Expires", str(self.settings.register_expires_min_s))])
            return
        expires = min(expires, self.settings.register_expires_max_s)
        self._reply(ctx, 200, headers=self._register_headers(msg, expires))
        now = self.now()
        new = Device(
            dev_id, msg.call_id, msg.get("Contact") or "", addr, transport, send, now, now + expires, now
        )
        before = self.registry.get(dev_id)
        was_online = before is not None and before.online
        dev, refresh = self.registry.register(new)
        dev.online = True
        self.stats["refreshes" if refresh else "registrations"] += 1
        if not refresh:
            self._spawn(self._after_register(dev), "after_register")
        elif not was_online:
            self._spawn(self._device_status(dev, "online", "registered"), "status")

    def _challenge(self, ctx, stale: bool = False) -> None:
        nonce = digest.new_nonce()
        self._nonces[nonce] = self.now() + _NONCE_TTL_S
        if len(self._nonces) > _RESPONSE_CACHE_MAX:  # a REGISTER flood must not grow memory without bound
            del self._nonces[next(iter(self._nonces))]
        self.stats["challenges"] += 1
        self._reply(
            ctx, 401, headers=[("WWW-Authenticate", digest.challenge(self.settings.domain, nonce, stale))]
        )

    def _expires(self, msg: sip.SipMessage) -> int:
        raw = msg.get("Expires")
        if raw is None:
            raw = sip.header_params(msg.get("Contact") or "").get("expires")
        try:
            return max(0, int(raw)) if raw is not None else 3600
        except ValueError:
            return 3600

    def _register_headers(self, msg: sip.SipMessage, expires: int) -> list[tuple[str, str]]:
        headers = []
        if msg.get("Contact"):
            headers.append(("Contact", msg.get("Contact")))
        headers.append(("Expires", str(expires)))
        if self.settings.date_header:
            # GB format, local time of the platform's zone: cameras set their clocks from it.
            headers.append(("Date", datetime.now(self.tz).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]))
        return headers

    async def _after_register(self, dev: Device) -> None:
        await self._device_status(dev, "online", "registered")
        s = self.settings
        if s.catalog_on_register:
            await self.query(dev, "Catalog")
        if s.subscribe_catalog:
            await self.subscribe(dev, "Catalog", "Catalog")
        if s.subscribe_mobile_position:
            await self.subscribe(
                dev, "presence", "MobilePosition", {"Interval": str(s.mobile_position_interval_s)}
            )
        if s.subscribe_alarm:
            await self.control(dev, {"GuardCmd": "SetGuard"})
            await self.subscribe(dev, "presence", "Alarm")

    async def _device_status(self, dev: Device, status: str, why: str) -> None:
        """Device-level transition: the device and all its channels follow (online restores the
        channels' own catalog status)."""
        self.stats[f"device_{status}"] += 1
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

    # --- MESSAGE / NOTIFY with MANSCDP bodies --------------------------------------------------------

    def _on_manscdp(self, ctx) -> None:
        msg, addr, transport, send, _ = ctx
        dev_id = sip.uri_user(msg.get("From") or "")
        dev = self.registry.seen(dev_id, self.now())
        if dev is None:
            self.warn("unregistered", "%s from unregistered %r at %s", msg.method, dev_id, addr)
            self._reply(ctx, 404, "Device Not Registered")  # makes real devices register again
            return
        if msg.method == "NOTIFY" and not msg.body:
            self._reply(ctx, 200)
            return
        try:
            doc = manscdp.parse(msg.body, msg.get("Content-Type"))
        except manscdp.BodyError as e:
            self.warn("bad_xml", "%s from %s: %s", msg.method, dev_id, e)
            self._reply(ctx, 400, "Bad Body")
            return
        self._reply(ctx, 200)
        self._seen_since_flush.add(dev_id)
        if dev.addr != addr and transport == "UDP":  # device moved (DHCP, NAT rebinding)
            dev.addr, dev.send = addr, send
        cmd = doc.cmd_type.lower()
        self.stats[f"cmd_{cmd or 'none'}"] += 1
        if cmd == "keepalive":
            dev.keepalives += 1
            if not dev.online:
                dev.online = True
                self._spawn(self._device_status(dev, "online", "keepalive"), "status")
        elif cmd == "catalog" and (doc.root == "response" or msg.method == "NOTIFY"):
            self._on_catalog(dev, doc, is_notify=msg.method == "NOTIFY")
        elif cmd == "mobileposition":
            self._on_positions(dev, doc)
        elif cmd == "alarm" and doc.root == "notify":
            self._spawn(self._on_alarm(dev, doc), "alarm")

    def _on_catalog(self, dev: Device, doc: manscdp.Document, is_notify: bool) -> None:
        page = manscdp.catalog(doc)
        if is_notify:
            self._spawn(self._locked(dev, self._catalog_events(dev, page.items)), "catalog")
            return
        items = self.catalogs.add(dev.device_id, page.sn, page.sum_num, page.items, self.now())
        if items is not None:
            self._spawn(self._locked(dev, self._catalog_complete(dev, items)), "catalog")

    async def _locked(self, dev: Device, coro) -> None:
        async with dev.lock:
            await coro

    async def _catalog_complete(self, dev: Device, items: list[manscdp.CatalogItem]) -> None:
        crs = self.crs_of(dev.device_id)
        rows = [mapping.camera_row(it, dev.device_id, crs) for it in items if it.is_camera]
        for r in rows:
            dev.channels[r["gb_id"]] = r["status"]
        self.stats["catalogs"] += 1
        result = await self.store.upsert_cameras(rows) if self.store else {"stored": [], "skipped": []}
        if self.store:
            for gb_id in result["changed"]:
                await self._publish(
                    "camera.status",
                    {"gb_id": gb_id, "status": dev.channels[gb_id], "at": datetime.now(UTC).isoformat()},
                )
        await self._publish(
            "gb28181.catalog",
            {
                "device_id": dev.device_id,
                "items": len(items),
                "channels": len(rows),
                "stored": len(result["stored"]),
                "without_location": len(result["skipped"]),
            },
        )

    async def _catalog_events(self, dev: Device, items: list[manscdp.CatalogItem]) -> None:
        crs = self.crs_of(dev.device_id)
        upserts, deletes, status_of = [], [], {}
        for it in items:
            if not it.is_camera:
                continue
            ev = it.event or "UPDATE"
            if ev in ("ADD", "UPDATE"):
                upserts.append(mapping.camera_row(it, dev.device_id, crs))
            elif ev == "DEL":
                deletes.append(it.device_id)
                dev.channels.pop(it.device_id, None)
            elif ev in ("ON", "OFF", "VLOST", "DEFECT"):
                status_of.setdefault(codes.STATUS[ev], []).append(it.device_id)
        self.stats["catalog_events"] += len(items)
        for r in upserts:
            dev.channels[r["gb_id"]] = r["status"]
        for status, ids in status_of.items():
            for i in ids:
                dev.channels[i] = status
        if self.store is None:
            return
        if upserts:
            res = await self.store.upsert_cameras(upserts)
            for gb_id in res["changed"]:
                await self._publish(
                    "camera.status",
                    {"gb_id": gb_id, "status": dev.channels[gb_id], "at": datetime.now(UTC).isoformat()},
                )
        if deletes:
            await self.store.delete_cameras(deletes)
            for gb_id in deletes:
                await self._publish("camera.deleted", {"gb_id": gb_id})
        for status, ids in status_of.items():
            await self._publish_camera_status(await self.store.set_status(status, ids), status)

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
        await self._publish("incident.created", incident)

    # --- requests to devices -----------------------------------------------------------------------

    def next_sn(self) -> int:
        self._sn += 1
        return self._sn

    async def request(
        self,
        dev: Device,
        method: str,
        body: bytes = b"",
        headers=(),
        *,
        call_id: str | None = None,
        from_tag: str | None = None,
        to_tag: str | None = None,
        cseq: int = 1,
        content_type: str | None = _MANSCDP,
    ) -> sip.SipMessage | None:
        """Send a request to a device and wait for its final response (None on timeout).
        Over UDP it is retransmitted with RFC 3261 Timer A (0.5 s doubling, capped at 4 s)."""
        s = self.settings
        branch = sip.new_branch()
        msg = sip.SipMessage(method=method, uri=f"sip:{dev.device_id}@{dev.addr[0]}:{dev.addr[1]}")
        port = self.udp_port if dev.transport == "UDP" else self.tcp_port
        msg.headers = [
            ("Via", f"SIP/2.0/{dev.transport} {self.host}:{port};rport;branch={branch}"),
            ("From", f"<sip:{s.server_id}@{s.domain}>;tag={from_tag or sip.new_tag()}"),
            ("To", f"<sip:{dev.device_id}@{s.domain}>" + (f";tag={to_tag}" if to_tag else "")),
            ("Call-ID", call_id or f"{secrets.token_hex(8)}@{self.host}"),
            ("CSeq", f"{cseq} {method}"),
            ("Max-Forwards", "70"),
            ("User-Agent", "SharpEyes"),
            *headers,
        ]
        if body and content_type:
            msg.headers.append(("Content-Type", content_type))
        msg.body = body
        data = msg.to_bytes()
        fut = asyncio.get_running_loop().create_future()
        self._pending[branch] = fut
        self.stats[f"out_{method.lower()}"] += 1
        try:
            deadline = self.now() + s.transaction_timeout_s
            interval = 0.5
            dev.send(data)
            while True:
                wait = (
                    min(interval, deadline - self.now()) if dev.transport == "UDP" else deadline - self.now()
                )
                if wait <= 0:
                    self.stats["out_timeout"] += 1
                    return None
                done, _ = await asyncio.wait({fut}, timeout=wait)
                if done:
                    return fut.result()
                if dev.transport == "UDP":
                    dev.send(data)
                    interval = min(interval * 2, 4.0)
        finally:
            self._pending.pop(branch, None)

    async def query(self, dev: Device, cmd_type: str, extra: dict | None = None) -> sip.SipMessage | None:
        body = manscdp.build("Query", cmd_type, self.next_sn(), dev.device_id, extra)
        return await self.request(dev, "MESSAGE", body)

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

    # --- periodic work -----------------------------------------------------------------------------

    async def _sweep_loop(self) -> None:
        period = max(0.05, min(1.0, self.settings.heartbeat_interval_s / 4))
        flush_every, last_flush = 10.0, self.now()
        while True:
            await asyncio.sleep(period)
            try:
                self.sweep()
                if (
                    self.store is not None
                    and self.now() - last_flush >= flush_every
                    and self._seen_since_flush
                ):
                    devs, self._seen_since_flush = self._seen_since_flush, set()
                    last_flush = self.now()
                    self._spawn(self.store.touch(sorted(devs), sorted(devs)), "touch")
            except Exception:
                log.exception("sweep failed")

    def sweep(self) -> None:
        now = self.now()
        silent, expired = self.registry.sweep(now)
        for dev in silent:
            self.warn("heartbeat_lost", "device %s missed its heartbeats", dev.device_id)
            self._spawn(self._device_status(dev, "offline", "heartbeat_timeout"), "status")
        for dev in expired:
            self.stats["registration_expired"] += 1
            if dev.online:
                self._spawn(self._device_status(dev, "offline", "registration_expired"), "status")
        for dev_id, items in self.catalogs.expire(now, self.settings.catalog_timeout_s):
            self.warn(
                "catalog_incomplete", "catalog of %s incomplete after timeout (%d items)", dev_id, len(items)
            )
            dev = self.registry.get(dev_id)
            if dev is not None and items:
                self._spawn(self._locked(dev, self._catalog_complete(dev, items)), "catalog")
        # Both tables are in insertion (= time) order: drop from the front until a live entry.
        while self._responses and now - next(iter(self._responses.values()))[0] > _RESPONSE_CACHE_S:
            del self._responses[next(iter(self._responses))]
        while self._nonces and now > next(iter(self._nonces.values())):
            del self._nonces[next(iter(self._nonces))]
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


async def run_server(
    settings: Gb28181Settings | None = None,
    position_sink: PositionSink | None = None,
    publish: Publish | None = None,
    session_maker=None,
    *,
    device_passwords: dict[str, str] | None = None,
    device_crs: dict[str, str] | None = None,
    started: asyncio.Event | None = None,
) -> None:
    """Run the signalling server until cancelled (for ``sharpeyes serve``). ``session_maker`` is an
    ``async_sessionmaker``; without one nothing is persisted."""
    from app.services.gb28181_store import Gb28181Store

    settings = settings or Gb28181Settings()
    store = Gb28181Store(session_maker) if session_maker is not None else None
    server = Gb28181Server(
        settings,
        store=store,
        position_sink=position_sink,
        publish=publish,
        device_passwords=device_passwords,
        device_crs=device_crs,
    )
    async with server:
        if started is not None:
            started.set()
        await asyncio.Event().wait()
