"""The GB/T 28181 platform side: a SIP server that devices and lower platforms register to.

Flow per device: REGISTER (digest) → 200 with Date → Catalog query, catalog / MobilePosition
subscriptions, SetGuard + alarm subscription → Keepalive MESSAGEs keep it online; silence for
interval × count marks it and its channels offline. Every request is answered before its work
(database, sink, bus) runs in a background task, so a slow database never makes devices retransmit.

Topics handed to ``publish(topic, message)``:
- ``gb28181.device``   {device_id, status online|offline, reason, at}
- ``camera.status``    {gb_id, status online|offline|fault, at}: only real changes (an event row exists)
- ``camera.deleted``   {gb_id, id, division, secrecy}: catalog DEL (the row as it was)
- ``gb28181.catalog``  {device_id, items, channels, stored, without_location}: a complete catalog answer
- ``incidents``        the incident opened for an alarm (``app.domain.events.Topic.INCIDENTS``; see the
                       store's ``insert_incident``)
- ``gb28181.alarm``    the decoded alarm, only when running without a store
- ``gb28181.dialog``   {call_id, channel_id, device_id, kind, status ended, reason}: a video dialog ended
Fixes go to ``position_sink(fixes)`` as lists of ``app.domain.fix.Fix``.

This module wires the SIP transport (UDP, TCP) to the handlers, one module per seam, mixed into
``Gb28181Server``: ``registrar`` (REGISTER), ``status`` (device online/offline), ``catalog``,
``positions``, ``alarms``, ``subscriptions``, ``control`` (DeviceControl, PTZ), ``invite`` (video
dialogs: live, playback, download), ``records`` (RecordInfo) and ``transactions`` (requests sent to
devices). The server owns the state they share and the answer cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from app.domain.fix import Fix
from app.ingest.gb28181 import manscdp, sip
from app.ingest.gb28181.alarms import Alarms
from app.ingest.gb28181.catalog import Catalog
from app.ingest.gb28181.channel_control import ChannelControl
from app.ingest.gb28181.control import Control
from app.ingest.gb28181.invite import Invite
from app.ingest.gb28181.positions import Positions
from app.ingest.gb28181.records import Records
from app.ingest.gb28181.registrar import Registrar
from app.ingest.gb28181.registry import CatalogAssembler, Registry
from app.ingest.gb28181.settings import Gb28181Settings
from app.ingest.gb28181.status import DeviceStatus
from app.ingest.gb28181.subscriptions import Subscriptions
from app.ingest.gb28181.transactions import Transactions
from app.ingest.gb28181.transport import RateLimitedLog, UdpProtocol, serve_tcp_connection

log = logging.getLogger("app.ingest.gb28181")

PositionSink = Callable[[list[Fix]], Awaitable[None]]
Publish = Callable[[str, dict], Awaitable[None]]
_RESPONSE_CACHE_S = 32.0  # RFC 3261 Timer J: a retransmitted request gets the same answer
_RESPONSE_CACHE_MAX = 50_000
_PLATFORM_METHODS = frozenset({"INVITE", "SUBSCRIBE", "BYE", "CANCEL", "INFO"})  # from an upper platform
class Gb28181Server(
    ChannelControl,  # first: its _on_answer sees preset and position answers before queries.py
    Registrar, DeviceStatus, Catalog, Positions, Alarms, Subscriptions, Control, Invite, Records, Transactions
):
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
        self.store = store  # the platform's Gb28181Store (given by the runtime) or None (no persistence)
        self.position_sink = position_sink
        self.publish = publish
        self.passwords = dict(device_passwords or {})
        self.device_crs = dict(device_crs or {})
        self.tz = ZoneInfo(settings.device_tz)
        self.registry = Registry(settings.heartbeat_interval_s, settings.heartbeat_count)
        self.catalogs = CatalogAssembler()
        self.stats: Counter = Counter()
        self.warn = RateLimitedLog(self.stats)
        self._responses: dict[tuple, tuple[float, bytes]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._seen_since_flush: set[str] = set()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self._sweeper: asyncio.Task | None = None
        self._nonces: dict[str, float] = {}  # registrar: nonce → expiry
        self._pending: dict[tuple[str, str], asyncio.Future] = {}  # transactions: (branch, method) → final
        self._provisional: dict[str, Callable] = {}  # transactions: INVITE branch → 1xx handler
        self.dialogs: dict = {}  # invite: Call-ID → open Dialog
        self._invites: dict = {}  # invite: branch → INVITE client transaction (for ACK / late 200)
        self._ssrc_seq = 0  # invite: SSRC sequence
        self._record_queries: dict = {}  # records: (device, SN) → RecordInfo being gathered
        self._sn = 0  # transactions: MANSCDP SN
        self._status_task: asyncio.Task | None = None  # status: the writer
        self._status_queue: dict[str, tuple[str, list[str]]] = {}
        self._status_wakeup = asyncio.Event()
        self.platform_peers: dict[str, Callable] = {}  # upper platform id → handler(ctx) (runtime/cascade.py)
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
        await self._bye_all()  # while the transports can still carry the BYEs
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

    def send_udp(self, addr: tuple[str, int], data: bytes) -> None:
        """A datagram from the server's own socket (the cascade link registers upward from it)."""
        if self._udp is not None and not self._udp.is_closing():
            self._udp.sendto(data, addr)

    # --- dispatch ----------------------------------------------------------------------------------

    def _on_message(self, msg: sip.SipMessage, addr: tuple[str, int], transport: str, send) -> None:
        self.stats["rx"] += 1
        if not msg.is_request:
            self._on_response(msg)
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
        if msg.method in _PLATFORM_METHODS and (
                peer := self.platform_peers.get(sip.uri_user(msg.get("From") or ""))) is not None:
            peer(ctx)  # an upper platform we registered to: its INVITE, SUBSCRIBE, BYE (runtime/cascade.py)
            return
        handler = {
            "REGISTER": self._on_register,
            "MESSAGE": self._on_manscdp,
            "NOTIFY": self._on_manscdp,
            "OPTIONS": self._on_options,
            "BYE": self._on_bye,
        }.get(msg.method or "")
        if handler is None:
            self._reply(ctx, 405, headers=[("Allow", "REGISTER, MESSAGE, NOTIFY, OPTIONS, BYE, ACK")])
            return
        handler(ctx)

    def _reply(self, ctx, status: int, reason: str = "", headers=(), body: bytes = b"",
               to_tag: str | None = None) -> None:
        msg, addr, _, send, key = ctx
        resp = sip.make_response(msg, status, reason, received=addr, to_tag=to_tag)
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
    # --- MESSAGE / NOTIFY with MANSCDP bodies --------------------------------------------------------

    def _on_manscdp(self, ctx) -> None:
        msg, addr, transport, send, _ = ctx
        dev_id = sip.uri_user(msg.get("From") or "")
        if (peer := self.platform_peers.get(dev_id)) is not None:  # an upper platform we registered to
            peer(ctx)
            return
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
            self._note_keepalive(dev)
            if not dev.online:
                dev.online = True
                self._spawn(self._device_status(dev, "online", "keepalive"), "status")
        elif cmd == "catalog" and (doc.root == "response" or msg.method == "NOTIFY"):
            self._on_catalog(dev, doc, is_notify=msg.method == "NOTIFY")
        elif cmd == "mobileposition":
            self._on_positions(dev, doc)
        elif cmd == "recordinfo" and doc.root == "response":
            self._on_record_info(dev, doc)
        elif cmd == "alarm" and doc.root == "notify":
            self._spawn(self._on_alarm(dev, doc), "alarm")
        elif doc.root == "response":  # DeviceInfo, DeviceStatus…: someone asked (queries.py)
            self._on_answer(dev, doc)

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
        # In insertion (= time) order: drop from the front until a live entry.
        while self._responses and now - next(iter(self._responses.values()))[0] > _RESPONSE_CACHE_S:
            del self._responses[next(iter(self._responses))]
        self._expire_nonces(now)
        self._refresh_subscriptions(now)


async def run_server(
    settings: Gb28181Settings | None = None,
    position_sink: PositionSink | None = None,
    publish: Publish | None = None,
    store=None,
    *,
    device_passwords: dict[str, str] | None = None,
    device_crs: dict[str, str] | None = None,
    started: asyncio.Event | None = None,
) -> None:
    """Run the signalling server until cancelled (for ``sharpeyes serve``). ``store`` persists (the
    platform's ``Gb28181Store``, handed in by the caller: this package imports no service); without one
    nothing is persisted."""
    settings = settings or Gb28181Settings()
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
