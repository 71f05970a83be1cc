"""One JT/T 808 terminal's TCP connection: an ``asyncio.Protocol`` that cuts bytes into frames (handed to
the server's message handler in the read callback: no coroutine per connection or message) and writes
the replies in message order. A reply queues behind the location acks still waiting for their commit;
a connection with too many unanswered messages stops being read until the commits catch up.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.ingest.jt808 import messages as m
from app.ingest.jt808.codec import checksum, encode_frame, escape
from app.ingest.jt808.splitter import FrameSplitter

if TYPE_CHECKING:
    from app.ingest.batching import Batch
    from app.ingest.jt808.server import Jt808Server

log = logging.getLogger("app.ingest.jt808.server")  # one logger for the listener, as before the split
MAX_QUEUED = 256  # replies of one connection waiting for commits before we stop reading it
_ACK = struct.Struct(">HH6sHHHB")  # 0x8001 with the 2013 header: id, attributes, phone, serial, body (5)


@dataclass
class Session:
    peer: str
    phone: str | None = None
    authenticated: bool = False
    serial: int = 0
    splitter: FrameSplitter = field(default_factory=FrameSplitter)
    parts: dict[tuple[int, int], dict[int, bytes]] = field(default_factory=dict)
    phone_raw: bytes = b""  # the 6-byte BCD of ``phone`` once authenticated (hot path: no re-decoding)
    device: str | None = None  # the id its fixes carry: the registered one (admission), else ``phone``

    def next_serial(self) -> int:
        self.serial = (self.serial + 1) & 0xFFFF
        return self.serial


class Deferred:
    """A reply decided later (an admission look-up): the replies behind it wait for it."""

    __slots__ = ("reply",)

    def __init__(self) -> None:
        self.reply: bytes | None = None


def general_reply(phone_raw: bytes, serial: int, reply_serial: int, reply_msg_id: int, result: int,
                  version: int | None) -> bytes:
    """A 0x8001; the usual one (2013 header, known phone) packed in one struct call."""
    if version is None and len(phone_raw) == 6:
        data = _ACK.pack(m.PLATFORM_REPLY, 5, phone_raw, serial, reply_serial & 0xFFFF, reply_msg_id, result)
        return b"\x7e" + escape(data + bytes((checksum(data),))) + b"\x7e"
    body = m.encode_general_reply(reply_serial, reply_msg_id, result)
    return encode_frame(m.PLATFORM_REPLY, phone_raw, serial, body, version)


class Connection(asyncio.Protocol):
    def __init__(self, server: Jt808Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.session = Session("?")
        # Replies in message order: ready bytes, or (group, header fields) of a location awaiting its commit.
        self.queue: deque[bytes | Deferred | tuple[Batch, bytes, int, int, int | None]] = deque()
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
        srv.conns.add(self)
        self._idle = asyncio.get_running_loop().call_later(srv.idle_timeout_s, self._check_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        self.server.stats.active -= 1
        self.server.conns.discard(self)
        if self._idle is not None:
            self._idle.cancel()
        self.queue.clear()  # nobody to answer; unacknowledged data will be resent by the terminal

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        srv = self.server
        try:
            splitter = self.session.splitter
            overflows = splitter.overflows
            on_segment = srv.handler.on_segment
            for segment in splitter.feed(data):
                on_segment(self, segment)
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
            elif type(item) is Deferred:
                if item.reply is None:
                    break
                out.append(item.reply)
            else:
                group, phone_raw, serial, msg_id, version = item
                if group.ok is None:
                    break
                result = m.OK if group.ok else m.FAIL
                out.append(general_reply(phone_raw, session.next_serial(), serial, msg_id, result, version))
            queue.popleft()
        if out:
            self.transport.write(b"".join(out))
        if self.paused and len(queue) < MAX_QUEUED // 2 and not self.server.groups.held:
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
