"""Links to upper platforms (GB/T 28181 cascade) from the process that runs the SIP server.

One ``UpperLink`` per enabled ``upper_platform`` row, kept in step with the table: at start, on every
``platforms`` bus message (the API's changes, from any process) and every ``reload_s`` as a safety net.
A changed address, id, password or timing replaces the link (the old one unregisters first); a disabled or
deleted platform unregisters (``Expires: 0``). The link state goes to the row (coalesced: the latest state
per platform). Requests from an upper platform reach the SIP server from its id; the server hands them
here (``server.platform_peers``): a Catalog query is answered 200, then the platform's shared directory
follows in as many MESSAGEs as it takes. Its INVITE, CANCEL and BYE go to ``cascade_media`` (video pushed to
it), its SUBSCRIBE to ``cascade_notify`` (catalog changes, positions; alarms relayed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from app.ingest.gb28181 import manscdp
from app.ingest.gb28181.server import Gb28181Server
from app.ingest.gb28181.upper_catalog import catalog_bodies
from app.ingest.gb28181.upper_link import LinkConfig, LinkStatus, UpperLink
from app.realtime.bus import Bus
from app.runtime.cascade_media import CascadeMedia
from app.runtime.cascade_notify import CascadeNotify
from app.services import platforms

log = logging.getLogger(__name__)


class Cascade:
    def __init__(self, engine: AsyncEngine, server: Gb28181Server, secret: str) -> None:
        self.engine, self.server, self.secret = engine, server, secret
        self.links: dict[int, UpperLink] = {}
        self._dirty: dict[int, LinkStatus] = {}
        self._wake = asyncio.Event()
        self._sync_lock = asyncio.Lock()
        self._resync = False
        self._tasks: set[asyncio.Task] = set()
        self._writer: asyncio.Task | None = None
        self.video = None  # the runtime's GbVideo (set once it runs): the channels' live streams
        self.media = CascadeMedia(self)
        self.notify = CascadeNotify(self)

    # --- the links, in step with the table ------------------------------------------------------------

    def _config(self, row: dict) -> LinkConfig | None:
        password = platforms.unseal(self.secret, row["sip_id"], row["password_sealed"])
        if password is None:
            return None
        ka = float(row["keepalive_s"])
        return LinkConfig(
            upper_id=row["sip_id"], domain=row["domain"], host=row["host"], port=row["port"],
            transport=row["transport"], password=password,
            local_id=row["local_id"] or self.server.settings.server_id, expires_s=row["register_expires_s"],
            keepalive_s=ka, keepalive_misses=row["keepalive_misses"], charset=row["charset"],
            timeout_s=min(self.server.settings.transaction_timeout_s, max(1.0, 2 * ka)),
            backoff_max_s=min(60.0, max(2.0, 2 * ka)))

    async def sync(self) -> None:
        """Apply the table; concurrent calls coalesce into one more pass."""
        if self._sync_lock.locked():
            self._resync = True
            return
        async with self._sync_lock:
            self._resync = True
            while self._resync:
                self._resync = False
                await self._sync_once()

    async def sync_and_share(self, pid) -> None:
        """A platform changed: the links, then what its subscribers and running pushes may still have."""
        await self.sync()
        if isinstance(pid, int) and pid in self.links:
            shared = await self.notify.resync(pid)
            if shared is not None:
                self.media.keep_only(pid, shared)

    async def _sync_once(self) -> None:
        async with self.engine.connect() as conn:
            rows = {r["id"]: r for r in await platforms.enabled_links(conn)}
        for pid in [p for p in self.links if p not in rows]:
            await self._drop(pid)
        for pid, row in rows.items():
            config = self._config(row)
            old = self.links.get(pid)
            if old is not None and old.config == config:
                continue
            if old is not None:
                await self._drop(pid)
            if config is None:
                self._note(pid, LinkStatus("offline", time.time(),
                                           "the password cannot be read (secret key changed): set it again"))
                continue
            self._start(pid, config)

    def _start(self, pid: int, config: LinkConfig) -> None:
        s = self.server
        link = UpperLink(config, request=s.send_request, udp_send=s.send_udp, deliver=s._on_message,
                         local_host=s.host, udp_port=s.udp_port, tcp_port=s.tcp_port,
                         on_change=lambda status: self._note(pid, status))
        self.links[pid] = link
        s.platform_peers[config.upper_id] = self._peer_handler(pid, link)
        link.start()

    async def _drop(self, pid: int) -> None:
        link = self.links.pop(pid, None)
        if link is None:
            return
        self.notify.drop_platform(pid)
        await self.media.stop_platform(pid, "platform disabled or changed")  # BYE while the link is up
        if self.server.platform_peers.get(link.config.upper_id) is not None and not any(
                o.config.upper_id == link.config.upper_id for o in self.links.values()):
            self.server.platform_peers.pop(link.config.upper_id, None)
        await link.stop(unregister=True)

    # --- link state to the row -------------------------------------------------------------------------

    def _note(self, pid: int, status: LinkStatus) -> None:
        if status.state == "offline":  # the upper is gone: nobody receives what we push
            self._spawn(self.media.stop_platform(pid, "link lost"))
            self.notify.drop_platform(pid)
        self._dirty[pid] = status
        self._wake.set()

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._dirty = self._dirty, {}
            try:
                async with self.engine.begin() as conn:
                    for pid, st in batch.items():
                        await platforms.write_link_state(conn, pid, st.state, st.since, st.error,
                                                         st.registered_at, st.last_keepalive)
            except Exception:
                log.exception("upper platform link state not written")
                await asyncio.sleep(1.0)

    # --- requests from an upper platform ---------------------------------------------------------------

    def _peer_handler(self, pid: int, link: UpperLink) -> Callable:
        def handle(ctx) -> None:
            msg, addr = ctx[0], ctx[1]
            if not link.trusts(addr):  # someone else using the upper's id: no directory for them
                log.warning("upper platform %s: request from %s refused", link.config.upper_id, addr)
                self.server._reply(ctx, 403, "Forbidden")
                return
            method = msg.method
            if method in ("INVITE", "CANCEL", "BYE", "INFO"):
                {"INVITE": lambda: self.media.on_invite(pid, link, ctx), "CANCEL": lambda: self.media.on_cancel(ctx),
                 "BYE": lambda: self.media.on_bye(ctx),
                 "INFO": lambda: self.media.on_info(ctx)}[method]()
                return
            if method == "SUBSCRIBE":
                self.notify.on_subscribe(pid, link, ctx)
                return
            try:
                doc = manscdp.parse(msg.body, msg.get("Content-Type"))
            except manscdp.BodyError:
                self.server._reply(ctx, 400, "Bad Body")
                return
            self.server._reply(ctx, 200)
            cmd = doc.cmd_type.lower()
            if doc.root.lower() == "query" and cmd == "catalog":
                self._spawn(self._send_catalog(pid, link, doc.sn or 0))
            elif doc.root.lower() == "query" and cmd in ("deviceinfo", "devicestatus"):
                self._spawn(self._send_info(pid, link, doc.cmd_type, doc.sn or 0))
            else:
                log.info("upper platform %s: %s %s not served", link.config.upper_id, doc.root, doc.cmd_type)

        return handle

    async def _send_catalog(self, pid: int, link: UpperLink, sn: int) -> None:
        c = link.config
        async with self.engine.connect() as conn:
            items = await platforms.shared_directory(conn, pid, c.local_id)
        bodies = catalog_bodies(items, sn, c.local_id, c.charset)
        for i, body in enumerate(bodies):
            resp = await link.message(body, timeout_s=c.timeout_s)
            if resp is None or resp.status != 200:
                log.warning("upper platform %s: catalog MESSAGE %d/%d %s; the rest not sent", c.upper_id,
                            i + 1, len(bodies), "unanswered" if resp is None else f"answered {resp.status}")
                return
        log.info("upper platform %s: catalog of %d items in %d MESSAGEs", c.upper_id, len(items), len(bodies))

    async def _send_info(self, pid: int, link: UpperLink, cmd: str, sn: int) -> None:
        """DeviceInfo / DeviceStatus about this platform, as uppers ask a lower one after it registers."""
        c = link.config
        if cmd.lower() == "deviceinfo":
            async with self.engine.connect() as conn:
                items = await platforms.shared_directory(conn, pid, c.local_id)
            channels = sum(1 for i in items if str(i["DeviceID"])[10:13] not in ("215", "216"))
            fields = {"DeviceName": "SharpEyes", "Result": "OK", "Manufacturer": "SharpEyes", "Model": "SharpEyes",
                      "Firmware": "1", "Channel": str(channels)}
        else:
            fields = {"Result": "OK", "Online": "ONLINE", "Status": "OK"}
        body = manscdp.build("Response", "DeviceInfo" if cmd.lower() == "deviceinfo" else "DeviceStatus", sn,
                             c.local_id, fields, encoding=c.charset)
        await link.message(body, timeout_s=c.timeout_s)

    def _spawn(self, coro) -> asyncio.Task:
        async def guarded():
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("upper platform work failed")

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        await self.sync()

    async def stop(self) -> None:
        """Every link unregisters while the SIP server still runs; the last states are written."""
        await self.media.close()
        await asyncio.gather(*(self._drop(pid) for pid in list(self.links)), return_exceptions=True)
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer


@contextlib.asynccontextmanager
async def running(engine: AsyncEngine, server: Gb28181Server | None, bus: Bus | None, secret: str,
                  reload_s: float = 30.0):
    """The cascade links of this process's SIP server (nothing when it runs none)."""
    if server is None:
        yield None
        return
    cascade = Cascade(engine, server, secret)
    try:
        await cascade.start()
    except Exception:  # a table not there yet or a database hiccup must not stop the SIP server
        log.exception("upper platform links not started")
    unsubscribe = bus.subscribe(lambda topic, msg: cascade._spawn(cascade.sync_and_share(msg.get("id"))),
                                topics={platforms.TOPIC}) if bus is not None else (lambda: None)
    unsubscribe_changes = bus.subscribe(cascade.notify.on_bus, topics={"cameras", "incidents"}) \
        if bus is not None else (lambda: None)

    async def periodic() -> None:
        while True:
            await asyncio.sleep(reload_s)
            with contextlib.suppress(Exception):
                await cascade.sync()

    reload = asyncio.create_task(periodic())
    try:
        yield cascade
    finally:
        unsubscribe()
        unsubscribe_changes()
        reload.cancel()
        await cascade.stop()
