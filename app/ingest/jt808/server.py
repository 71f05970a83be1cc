"""Asyncio TCP listener for JT/T 808 terminals.

One coroutine per connection reads and decodes; it does not wait for storage. The fixes of all frames
in one read go to ``sink`` together, and the replies of that read (in frame order) are written once
``sink`` returned, i.e. after the fixes are committed, so a terminal that gets no "ok" keeps and resends
its data. Reads are pipelined: the next ones are decoded and submitted while earlier ones await their
commit (at most ``MAX_IN_FLIGHT`` per connection), and their replies are chained so a terminal still
gets every answer in the order of its messages. Malformed input is counted and logged and never ends
the listener; a wrong checksum is answered "bad message" and the connection stays open.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from app.domain.fix import Fix
from app.ingest.jt808 import messages as m
from app.ingest.jt808.codec import Frame, Jt808Error, decode_frame, encode_frame
from app.ingest.jt808.splitter import FrameSplitter

log = logging.getLogger(__name__)
Sink = Callable[[list[Fix]], Awaitable[object]]
MAX_PACKAGES = 64  # sub-packaged message parts kept per connection
MAX_IN_FLIGHT = 16  # reads per connection awaiting their commit before we stop reading (backpressure)
LOCATION_ACK = None  # outbox body placeholder: 0x8001 ok / fail, decided by the sink's outcome


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


@dataclass
class Session:
    peer: str
    phone: str | None = None
    authenticated: bool = False
    serial: int = 0
    splitter: FrameSplitter = field(default_factory=FrameSplitter)
    parts: dict[tuple[int, int], dict[int, bytes]] = field(default_factory=dict)
    # Replies and fixes of the read being handled: (frame, msg id, body or LOCATION_ACK).
    outbox: list[tuple[Frame, int, bytes | None]] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)

    def next_serial(self) -> int:
        self.serial = (self.serial + 1) & 0xFFFF
        return self.serial


def auth_code(secret: str, phone: str) -> str:
    """Derived, not stored: a terminal re-authenticating after a server restart still matches."""
    return hmac.new(secret.encode(), phone.encode(), hashlib.sha256).hexdigest()[:16]


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
    ) -> None:
        self.sink = sink
        self.secret = secret
        self.host, self.port = host, port
        self.require_auth = require_auth
        self.accept_bad_checksum = accept_bad_checksum
        self.idle_timeout_s = idle_timeout_s
        self.stats = Jt808Stats()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._on_connect, self.host, self.port, backlog=2048)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("JT/T 808 listening on %s:%d", self.host, self.port)
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        peer = str(writer.get_extra_info("peername"))
        session = Session(peer)
        self.stats.connections += 1
        self.stats.active += 1
        in_flight: collections.deque[asyncio.Task] = collections.deque()
        try:
            while True:
                async with asyncio.timeout(self.idle_timeout_s):  # a timer, not a task per read
                    data = await reader.read(65536)
                if not data:
                    break
                overflows = session.splitter.overflows
                for segment in session.splitter.feed(data):
                    self._on_segment(session, segment)
                self.stats.overflows += session.splitter.overflows - overflows
                outbox, fixes = session.outbox, session.fixes
                session.outbox, session.fixes = [], []
                while in_flight and in_flight[0].done():
                    in_flight.popleft()
                if not fixes and not in_flight:
                    self._write(session, writer, outbox, ok=True)  # nothing to wait for: answer now
                elif outbox:
                    prev = in_flight[-1] if in_flight else None
                    in_flight.append(asyncio.create_task(self._deliver(session, writer, outbox, fixes, prev)))
                    if len(in_flight) >= MAX_IN_FLIGHT:
                        await asyncio.shield(in_flight[0])
                await writer.drain()
            if in_flight:  # the terminal closed its side: its pending answers are still due
                await asyncio.shield(in_flight[-1])
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:  # a bug in one session must not take the listener down
            log.exception("JT/T 808 session %s (%s) failed", session.phone, peer)
        finally:
            self.stats.active -= 1
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _deliver(self, session: Session, writer: asyncio.StreamWriter, outbox: list, fixes: list[Fix],
                       prev: asyncio.Task | None) -> None:
        """Store the fixes of one read, then (after the previous read's replies) answer its frames."""
        ok = True
        if fixes:
            try:
                await self.sink(fixes)
            except Exception:
                # Not acknowledged: the terminal keeps the data and sends it again.
                ok = False
                self.stats.sink_errors += 1
                log.exception("JT/T 808 %s: storing %d fixes failed", session.phone, len(fixes))
            else:
                self.stats.fixes += len(fixes)
        if prev is not None:
            await asyncio.gather(prev, return_exceptions=True)
        with contextlib.suppress(Exception):  # the connection may be gone: nothing to answer then
            self._write(session, writer, outbox, ok)

    def _write(self, session: Session, writer: asyncio.StreamWriter, outbox: list, ok: bool) -> None:
        out = []
        for frame, msg_id, body in outbox:
            h = frame.header
            if body is LOCATION_ACK:
                body = m.encode_general_reply(h.serial, h.msg_id, m.OK if ok else m.FAIL)
            out.append(encode_frame(msg_id, h.phone_raw, session.next_serial(), body, h.version))
        if out:
            writer.write(b"".join(out))

    def _on_segment(self, session: Session, segment: bytes) -> None:
        self.stats.frames += 1
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
                self._reply(session, frame, m.BAD_MESSAGE)
                return
        frame = self._reassemble(session, frame)
        if frame is not None:
            self._on_message(session, frame)

    def _reassemble(self, session: Session, frame: Frame) -> Frame | None:
        h = frame.header
        if h.package_total is None or h.package_total == 1:
            return frame
        key = (h.msg_id, h.package_total)
        parts = session.parts.setdefault(key, {})
        parts[h.package_index or 0] = frame.body
        if len(parts) < h.package_total:
            if sum(len(p) for p in session.parts.values()) > MAX_PACKAGES:
                session.parts.clear()  # a terminal that never completes must not grow memory
            self._reply(session, frame, m.OK)
            return None
        body = b"".join(parts[i] for i in sorted(parts))
        del session.parts[key]
        return Frame(h, body, frame.checksum_ok)

    def _reply(self, session: Session, frame: Frame, result: int | None) -> None:
        """Queue a 0x8001 for ``frame`` (``LOCATION_ACK``: ok or fail once the read's fixes are stored)."""
        h = frame.header
        body = None if result is LOCATION_ACK else m.encode_general_reply(h.serial, h.msg_id, result)
        session.outbox.append((frame, m.PLATFORM_REPLY, body))

    def _send(self, session: Session, frame: Frame, msg_id: int, body: bytes) -> None:
        session.outbox.append((frame, msg_id, body))

    def _on_message(self, session: Session, frame: Frame) -> None:
        h = frame.header
        if h.encrypted:
            self._reply(session, frame, m.UNSUPPORTED)
            return
        try:
            if h.msg_id == m.REGISTER:
                m.decode_register(frame.body, h.version)
                session.phone = h.phone
                self._send(
                    session,
                    frame,
                    m.REGISTER_REPLY,
                    m.encode_register_reply(h.serial, m.REGISTERED, auth_code(self.secret, h.phone)),
                )
            elif h.msg_id == m.AUTHENTICATE:
                auth = m.decode_authenticate(frame.body, h.version)
                ok = hmac.compare_digest(auth.code, auth_code(self.secret, h.phone))
                session.authenticated = ok
                session.phone = h.phone
                if not ok:
                    log.warning("JT/T 808 %s (%s): wrong auth code", h.phone, session.peer)
                self._reply(session, frame, m.OK if ok else m.FAIL)
            elif h.msg_id == m.HEARTBEAT:
                self._reply(session, frame, m.OK)
            elif h.msg_id in (m.LOCATION, m.BATCH_LOCATION):
                self._on_location(session, frame)
            elif h.msg_id == m.TERMINAL_REPLY:
                pass  # the terminal acknowledging one of ours: nothing to answer
            else:
                self._reply(session, frame, m.UNSUPPORTED)
        except Jt808Error as exc:
            self.stats.bad_frames += 1
            log.info("JT/T 808 %s: bad message 0x%04X: %s", h.phone, h.msg_id, exc)
            self._reply(session, frame, m.BAD_MESSAGE)

    def _on_location(self, session: Session, frame: Frame) -> None:
        h = frame.header
        if self.require_auth and not (session.authenticated and session.phone == h.phone):
            self.stats.unauthenticated += 1
            self._reply(session, frame, m.FAIL)
            return
        if h.msg_id == m.LOCATION:
            locations = [m.decode_location(frame.body)]
        else:
            locations = m.decode_batch_location(frame.body).items
        session.fixes += [loc.to_fix(h.phone) for loc in locations]
        self._reply(session, frame, LOCATION_ACK)
