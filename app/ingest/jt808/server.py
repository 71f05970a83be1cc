"""Asyncio TCP listener for JT/T 808 terminals: protocol callbacks, group commit across connections.

Each connection is an ``asyncio.Protocol``: bytes are cut into frames and decoded in the read callback
(no coroutine per connection or message); a 0x0200 location takes a short struct-only path. The fixes
of all connections go into one open group, sealed after ``group_delay_s`` or at ``group_max_fixes``
and handed to ``sink`` as one batch (group commit); while up to ``max_in_flight`` groups are being
stored the next one fills. A location's 0x8001 is sent only once its group's ``sink`` returned, i.e.
after the commit — "ok", or "fail" if it raised (the terminal keeps and resends its data): nothing
acknowledged is ever lost. Each connection answers its messages in their order: a reply queues behind
the location acks still waiting for their commit. Malformed input is counted and logged and never ends
the listener; a wrong checksum is answered "bad message" and the connection stays open. Backpressure:
a connection with too many unanswered messages, or all of them while too many fixes wait, stop being
read until the commits catch up.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from app.domain.fix import Fix
from app.ingest.jt808 import messages as m
from app.ingest.jt808.codec import (
    ATTR_SUBPACKAGE,
    ATTR_VERSIONED,
    MAX_BODY,
    Frame,
    Jt808Error,
    checksum,
    decode_frame,
    encode_frame,
    escape,
    phone_from_bcd,
    unescape,
)
from app.ingest.jt808.splitter import FrameSplitter

log = logging.getLogger(__name__)
Sink = Callable[[list[Fix]], Awaitable[object]]
MAX_PACKAGES = 64  # sub-packaged message parts kept per connection
MAX_QUEUED = 256  # replies of one connection waiting for commits before we stop reading it
LOCATION_ACK = None  # outbox body placeholder: 0x8001 ok / fail, decided by the sink's outcome
_HEAD = struct.Struct(">HH")
_ACK = struct.Struct(">HH6sHHHB")  # 0x8001 with the 2013 header: id, attributes, phone, serial, body (5)
_SIMPLE_MASK = ATTR_VERSIONED | ATTR_SUBPACKAGE | 0x1C00  # 2019 header, sub-packages, encryption


@dataclass
class Jt808Stats:
    connections: int = 0
    active: int = 0
    frames: int = 0
    bad_frames: int = 0
    bad_checksums: int = 0
    fixes: int = 0
    sink_errors: int = 0
    unauthenticated: int = 0
    overflows: int = 0
    groups: int = 0  # sink calls (group commits)


@dataclass
class Session:
    peer: str
    phone: str | None = None
    authenticated: bool = False
    serial: int = 0
    splitter: FrameSplitter = field(default_factory=FrameSplitter)
    parts: dict[tuple[int, int], dict[int, bytes]] = field(default_factory=dict)
    phone_raw: bytes = b""  # the 6-byte BCD of ``phone`` once authenticated (hot path: no re-decoding)

    def next_serial(self) -> int:
        self.serial = (self.serial + 1) & 0xFFFF
        return self.serial


def auth_code(secret: str, phone: str) -> str:
    """Derived, not stored: a terminal re-authenticating after a server restart still matches."""
    return hmac.new(secret.encode(), phone.encode(), hashlib.sha256).hexdigest()[:16]


class _Group:
    """Fixes of many connections stored by one ``sink`` call; ``ok`` is None until it returned."""

    __slots__ = ("conns", "fixes", "ok")

    def __init__(self) -> None:
        self.fixes: list[Fix] = []
        self.conns: set[_Connection] = set()
        self.ok: bool | None = None


class _Connection(asyncio.Protocol):
    def __init__(self, server: Jt808Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.session = Session("?")
        # Replies in message order: ready bytes, or (group, header fields) of a location awaiting its commit.
        self.queue: deque[bytes | tuple[_Group, bytes, int, int, int | None]] = deque()
        self.paused = False
        self.closed = False
        self.eof = False  # the terminal closed its side: close ours once its answers are out
        self.last_rx = time.monotonic()
        self._idle: asyncio.TimerHandle | None = None

    # -- asyncio callbacks ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.session.peer = str(transport.get_extra_info("peername"))
        srv = self.server
        srv.stats.connections += 1
        srv.stats.active += 1
        srv._conns.add(self)
        self._idle = asyncio.get_running_loop().call_later(srv.idle_timeout_s, self._check_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        self.server.stats.active -= 1
        self.server._conns.discard(self)
        if self._idle is not None:
            self._idle.cancel()
        self.queue.clear()  # nobody to answer; unacknowledged data will be resent by the terminal

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        srv = self.server
        try:
            splitter = self.session.splitter
            overflows = splitter.overflows
            for segment in splitter.feed(data):
                srv._on_segment(self, segment)
            srv.stats.overflows += splitter.overflows - overflows
        except Exception:  # a bug in one session must not take the listener down
            log.exception("JT/T 808 session %s (%s) failed", self.session.phone, self.session.peer)
            self.transport.close()
            return
        self.flush()
        if len(self.queue) >= MAX_QUEUED and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        # The terminal closed its side: keep ours open while answers still wait for their commit.
        self.eof = True
        return bool(self.queue)

    # -- replies -------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write the replies at the head of the queue that are decided (in order)."""
        queue = self.queue
        if not queue or self.closed:
            return
        out = []
        session = self.session
        while queue:
            item = queue[0]
            if type(item) is bytes:
                out.append(item)
            else:
                group, phone_raw, serial, msg_id, version = item
                if group.ok is None:
                    break
                result = m.OK if group.ok else m.FAIL
                out.append(_general_reply(phone_raw, session.next_serial(), serial, msg_id, result, version))
            queue.popleft()
        if out:
            self.transport.write(b"".join(out))
        if self.paused and len(queue) < MAX_QUEUED // 2 and not self.server._held:
            self.paused = False
            self.transport.resume_reading()
        if self.eof and not queue:
            self.transport.close()

    def reply_now(self, frame_bytes: bytes) -> None:
        self.queue.append(frame_bytes)

    def _check_idle(self) -> None:
        idle = time.monotonic() - self.last_rx
        if self.closed:
            return
        if idle >= self.server.idle_timeout_s:
            self.transport.close()
            return
        self._idle = asyncio.get_running_loop().call_later(self.server.idle_timeout_s - idle, self._check_idle)


def _general_reply(phone_raw: bytes, serial: int, reply_serial: int, reply_msg_id: int, result: int,
                   version: int | None) -> bytes:
    if version is None and len(phone_raw) == 6:
        data = _ACK.pack(m.PLATFORM_REPLY, 5, phone_raw, serial, reply_serial & 0xFFFF, reply_msg_id, result)
        return b"\x7e" + escape(data + bytes((checksum(data),))) + b"\x7e"
    body = m.encode_general_reply(reply_serial, reply_msg_id, result)
    return encode_frame(m.PLATFORM_REPLY, phone_raw, serial, body, version)


class Jt808Server:
    def __init__(
        self,
        sink: Sink,
        *,
        secret: str,
        host: str = "127.0.0.1",
        port: int = 0,
        require_auth: bool = True,
        accept_bad_checksum: bool = False,
        idle_timeout_s: float = 600.0,
        group_delay_s: float = 0.02,
        group_max_fixes: int = 5000,
        max_in_flight: int = 4,
        max_waiting_fixes: int = 50_000,
    ) -> None:
        self.sink = sink
        self.secret = secret
        self.host, self.port = host, port
        self.require_auth = require_auth
        self.accept_bad_checksum = accept_bad_checksum
        self.idle_timeout_s = idle_timeout_s
        self.group_delay_s, self.group_max_fixes = group_delay_s, group_max_fixes
        self.max_in_flight, self.max_waiting_fixes = max_in_flight, max_waiting_fixes
        self.stats = Jt808Stats()
        self._server: asyncio.Server | None = None
        self._conns: set[_Connection] = set()
        self._open: _Group | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._commits: set[asyncio.Task] = set()
        self._held = False  # every connection paused: too many fixes waiting for their commit
        self._seal_wanted = False  # the open group is due but all commit slots are busy

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), self.host, self.port, backlog=2048)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("JT/T 808 listening on %s:%d", self.host, self.port)
        return self.port

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._open = None  # never acknowledged: the terminals send it again
        for conn in list(self._conns):
            conn.transport.abort()
        for task in list(self._commits):
            task.cancel()
        await asyncio.gather(*self._commits, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    # -- group commit --------------------------------------------------------------------------
    def _add(self, conn: _Connection, fixes: list[Fix], phone_raw: bytes, serial: int, msg_id: int,
             version: int | None) -> None:
        group = self._open
        if group is None:
            group = self._open = _Group()
            self._timer = asyncio.get_running_loop().call_later(self.group_delay_s, self._seal)
        group.fixes += fixes
        group.conns.add(conn)
        conn.queue.append((group, phone_raw, serial, msg_id, version))
        if len(group.fixes) >= self.group_max_fixes:
            self._seal()

    def _seal(self) -> None:
        group = self._open
        if group is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if len(self._commits) >= self.max_in_flight:
            self._seal_wanted = True
            # Wait for a commit to finish (it seals us then): the group grows meanwhile. Hold every
            # connection if it grows too much — the database is slower than the terminals.
            if len(group.fixes) >= self.max_waiting_fixes and not self._held:
                self._held = True
                for conn in self._conns:
                    if not conn.paused:
                        conn.paused = True
                        conn.transport.pause_reading()
            return
        self._open, self._seal_wanted = None, False
        task = asyncio.get_running_loop().create_task(self._commit(group))
        self._commits.add(task)
        task.add_done_callback(self._commits.discard)

    async def _commit(self, group: _Group) -> None:
        ok = True
        self.stats.groups += 1
        try:
            await self.sink(group.fixes)
        except Exception:
            # Not acknowledged: the terminals keep the data and send it again.
            ok = False
            self.stats.sink_errors += 1
            log.exception("JT/T 808: storing %d fixes of %d connections failed", len(group.fixes),
                          len(group.conns))
        else:
            self.stats.fixes += len(group.fixes)
        group.ok = ok
        for conn in group.conns:
            conn.flush()
        self._commits.discard(asyncio.current_task())
        if self._open is not None and self._seal_wanted:
            self._seal()  # it waited for this slot
        if self._held and (self._open is None or len(self._open.fixes) < self.max_waiting_fixes // 2):
            self._held = False
            for conn in self._conns:
                if conn.paused and len(conn.queue) < MAX_QUEUED // 2:
                    conn.paused = False
                    conn.transport.resume_reading()

    # -- frames and messages -------------------------------------------------------------------
    def _on_segment(self, conn: _Connection, segment: bytes) -> None:
        self.stats.frames += 1
        session = conn.session
        # The usual frame: a 2013-header 0x0200 of an authenticated terminal, checksum right.
        try:
            data = unescape(segment) if b"\x7d" in segment else segment
        except Jt808Error:
            data = b""  # the full path below counts and logs it
        if len(data) >= 13 and session.phone_raw:
            msg_id, attributes = _HEAD.unpack_from(data, 0)
            if (msg_id == m.LOCATION and not attributes & _SIMPLE_MASK
                    and len(data) == 13 + (attributes & MAX_BODY) and data[4:10] == session.phone_raw
                    and checksum(data[:-1]) == data[-1]):
                serial = data[10] << 8 | data[11]
                try:
                    fix = m.location_fix(data[12:-1], session.phone)
                except Jt808Error as exc:
                    self.stats.bad_frames += 1
                    log.info("JT/T 808 %s: bad message 0x%04X: %s", session.phone, msg_id, exc)
                    conn.reply_now(_general_reply(session.phone_raw, session.next_serial(), serial, msg_id,
                                                  m.BAD_MESSAGE, None))
                    return
                self._add(conn, [fix], session.phone_raw, serial, msg_id, None)
                return
        try:
            frame = decode_frame(segment)
        except Jt808Error as exc:
            self.stats.bad_frames += 1
            log.debug("JT/T 808 %s: dropped frame: %s", session.peer, exc)
            return
        if not frame.checksum_ok:
            self.stats.bad_checksums += 1
            log.warning(
                "JT/T 808 %s (%s): wrong checksum on message 0x%04X",
                frame.header.phone,
                session.peer,
                frame.header.msg_id,
            )
            if not self.accept_bad_checksum:
                self._reply(conn, frame, m.BAD_MESSAGE)
                return
        frame = self._reassemble(conn, frame)
        if frame is not None:
            self._on_message(conn, frame)

    def _reassemble(self, conn: _Connection, frame: Frame) -> Frame | None:
        session = conn.session
        h = frame.header
        if h.package_total is None or h.package_total == 1:
            return frame
        key = (h.msg_id, h.package_total)
        parts = session.parts.setdefault(key, {})
        parts[h.package_index or 0] = frame.body
        if len(parts) < h.package_total:
            if sum(len(p) for p in session.parts.values()) > MAX_PACKAGES:
                session.parts.clear()  # a terminal that never completes must not grow memory
            self._reply(conn, frame, m.OK)
            return None
        body = b"".join(parts[i] for i in sorted(parts))
        del session.parts[key]
        return Frame(h, body, frame.checksum_ok)

    def _reply(self, conn: _Connection, frame: Frame, result: int) -> None:
        """Queue a 0x8001 for ``frame`` (behind the replies still waiting for a commit)."""
        h = frame.header
        conn.reply_now(_general_reply(h.phone_raw, conn.session.next_serial(), h.serial, h.msg_id, result,
                                      h.version))

    def _send(self, conn: _Connection, frame: Frame, msg_id: int, body: bytes) -> None:
        h = frame.header
        conn.reply_now(encode_frame(msg_id, h.phone_raw, conn.session.next_serial(), body, h.version))

    def _on_message(self, conn: _Connection, frame: Frame) -> None:
        session = conn.session
        h = frame.header
        if h.encrypted:
            self._reply(conn, frame, m.UNSUPPORTED)
            return
        try:
            if h.msg_id == m.REGISTER:
                m.decode_register(frame.body, h.version)
                session.phone = h.phone
                session.phone_raw = h.phone_raw if session.authenticated and h.version is None else b""
                self._send(
                    conn,
                    frame,
                    m.REGISTER_REPLY,
                    m.encode_register_reply(h.serial, m.REGISTERED, auth_code(self.secret, h.phone)),
                )
            elif h.msg_id == m.AUTHENTICATE:
                auth = m.decode_authenticate(frame.body, h.version)
                ok = hmac.compare_digest(auth.code, auth_code(self.secret, h.phone))
                session.authenticated = ok
                session.phone = h.phone
                # The hot path knows this terminal by its 2013 BCD phone (a 2019 header takes the full path).
                session.phone_raw = h.phone_raw if ok and h.version is None else b""
                if not ok:
                    log.warning("JT/T 808 %s (%s): wrong auth code", h.phone, session.peer)
                self._reply(conn, frame, m.OK if ok else m.FAIL)
            elif h.msg_id == m.HEARTBEAT:
                self._reply(conn, frame, m.OK)
            elif h.msg_id in (m.LOCATION, m.BATCH_LOCATION):
                self._on_location(conn, frame)
            elif h.msg_id == m.TERMINAL_REPLY:
                pass  # the terminal acknowledging one of ours: nothing to answer
            else:
                self._reply(conn, frame, m.UNSUPPORTED)
        except Jt808Error as exc:
            self.stats.bad_frames += 1
            log.info("JT/T 808 %s: bad message 0x%04X: %s", h.phone, h.msg_id, exc)
            self._reply(conn, frame, m.BAD_MESSAGE)

    def _on_location(self, conn: _Connection, frame: Frame) -> None:
        session = conn.session
        h = frame.header
        if self.require_auth and not (session.authenticated and session.phone == h.phone):
            self.stats.unauthenticated += 1
            self._reply(conn, frame, m.FAIL)
            return
        if h.msg_id == m.LOCATION:
            fixes = [m.location_fix(frame.body, h.phone)]
        else:
            fixes = [loc.to_fix(h.phone) for loc in m.decode_batch_location(frame.body).items]
        self._add(conn, fixes, h.phone_raw, h.serial, h.msg_id, h.version)


__all__ = ["LOCATION_ACK", "Jt808Server", "Jt808Stats", "Session", "auth_code", "phone_from_bcd"]
