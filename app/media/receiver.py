"""The receiving end of a GB/T 28181 media stream: RTP over UDP, or over TCP with RFC 4571 framing,
either listening for the device (``tcp-passive``) or connecting to it (``tcp-active``).

    rx = await open_receiver("udp", "0.0.0.0", ssrc=...)     # rx.port goes into the INVITE's SDP
    async for ps in rx: ...                                  # PS payload bytes, in sequence order
    rx.close()

The iterator ends on ``close()``, on TCP EOF, or when no packet came for ``idle_s`` (also before the
first one), so a device that vanished mid-stream leaves no stuck session; :attr:`Receiver.end_reason`
says which. Packets of another SSRC (when one is given), not RTP, or of a payload type other than
``payload_types`` are counted in ``bad`` and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from dataclasses import dataclass
from typing import Literal

from app.media.rtp import ReorderWindow, Rfc4571Decoder, RtpPacket, parse_rtp

log = logging.getLogger(__name__)

Mode = Literal["udp", "tcp-passive", "tcp-active"]
# A gap in sequence numbers is waited for this long before it is given up (UDP reordering is short).
REORDER_WAIT_S = 0.1
FRAME_MAX_BYTES = 256 << 10
UDP_BURST = 256  # datagrams read per wake-up at most, so one stream cannot starve the others


@dataclass
class ReceiverStats:
    packets: int = 0  # accepted RTP packets
    bytes: int = 0  # their payload bytes
    lost: int = 0  # sequence numbers never seen
    bad: int = 0  # datagrams/frames that were not RTP, or another SSRC / payload type
    duplicates: int = 0
    last_packet_at: float | None = None  # time.monotonic()


class Receiver:
    def __init__(self, mode: Mode, ssrc: int | None, idle_s: float, payload_types: frozenset[int] | None,
                 max_queued: int) -> None:
        self.mode, self.ssrc, self.idle_s = mode, ssrc, idle_s
        self.payload_types = payload_types
        self.port = 0
        self.peer: tuple[str, int] | None = None
        self.stats = ReceiverStats()
        self.end_reason: str | None = None
        self._window = ReorderWindow()
        self._q: asyncio.Queue[bytes | None] = asyncio.Queue(max_queued)
        self._opened_at = time.monotonic()
        self._watchdog: asyncio.Task | None = None
        self._udp: socket.socket | None = None
        self._loop = asyncio.get_running_loop()
        self._server: asyncio.Server | None = None
        self._sock: socket.socket | None = None
        self._reader_task: asyncio.Task | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._connected = False
        self._frame: list[bytes] = []  # payloads of the frame being received
        self._frame_bytes = 0
        self._frame_ts = 0
        self._overflow = 0

    # --- the packet path -------------------------------------------------------------------------------

    def _on_packet(self, data: bytes) -> None:
        if self.end_reason is not None:
            return
        pkt = parse_rtp(data)
        if (pkt is None or (self.ssrc is not None and pkt.ssrc != self.ssrc)
                or (self.payload_types is not None and pkt.payload_type not in self.payload_types)):
            self.stats.bad += 1
            return
        self.stats.last_packet_at = time.monotonic()
        self._deliver(self._window.push(pkt))

    def _deliver(self, pkts: list[RtpPacket]) -> None:
        """Payloads are handed on a frame at a time (up to the marker bit, or the next timestamp): one
        wake-up of the consumer and the remux thread per frame instead of one per packet."""
        st = self.stats
        st.lost, st.duplicates = self._window.lost + self._overflow, self._window.duplicates + self._window.late
        for p in pkts:
            if not p.payload:
                continue
            st.packets += 1
            st.bytes += len(p.payload)
            if self._frame and p.timestamp != self._frame_ts:  # the previous frame had no marker
                self._hand_on()
            self._frame.append(p.payload)
            self._frame_bytes += len(p.payload)
            self._frame_ts = p.timestamp
            if p.marker or self._frame_bytes >= FRAME_MAX_BYTES:
                self._hand_on()

    def _hand_on(self) -> None:
        if not self._frame:
            return
        data = self._frame[0] if len(self._frame) == 1 else b"".join(self._frame)
        self._frame, self._frame_bytes = [], 0
        try:
            self._q.put_nowait(data)
        except asyncio.QueueFull:  # the consumer is stuck: count as lost rather than grow
            self._overflow += 1

    def _end(self, reason: str) -> None:
        if self.end_reason is not None:
            return
        self.end_reason = reason
        self._deliver(self._window.flush())
        self._hand_on()
        while True:
            try:
                self._q.put_nowait(None)
                break
            except asyncio.QueueFull:
                self._q.get_nowait()
        self._teardown()

    def _teardown(self) -> None:
        if self._udp is not None:
            self._loop.remove_reader(self._udp.fileno())
            self._udp.close()
        if self._server is not None:
            self._server.close()
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None and self._reader_task is not asyncio.current_task():
            self._reader_task.cancel()
        if self._watchdog is not None and self._watchdog is not asyncio.current_task():
            self._watchdog.cancel()
        if self._sock is not None and not self._connected:
            self._sock.close()

    async def _watch(self) -> None:
        while self.end_reason is None:
            await asyncio.sleep(min(REORDER_WAIT_S, self.idle_s / 4))
            now = time.monotonic()
            last = self.stats.last_packet_at
            if (self._window.held or self._frame) and last is not None and now - last > REORDER_WAIT_S:
                self._deliver(self._window.flush())  # the stream paused: give up the gaps
                self._hand_on()
            if now - (last if last is not None else self._opened_at) > self.idle_s:
                what = "no packet" if last is None else "no packet since the last one"
                self._end(f"idle: {what} for {self.idle_s:g} s")

    async def _read_tcp(self, reader: asyncio.StreamReader) -> None:
        framing = Rfc4571Decoder()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                bad_before = framing.bad
                for frame in framing.feed(data):
                    self._on_packet(frame)
                self.stats.bad += framing.bad - bad_before
        except (ConnectionError, OSError) as e:
            self._end(f"connection lost: {e}")
            return
        self._end("eof: the device closed the connection")

    # --- the public side -------------------------------------------------------------------------------

    async def connect(self, addr: tuple[str, int], timeout_s: float = 5.0) -> None:
        """tcp-active: connect from :attr:`port` to the device's media port (from its SDP answer)."""
        if self.mode != "tcp-active":
            raise ValueError("connect() is for tcp-active receivers")
        if self._connected or self.end_reason is not None:
            raise RuntimeError("receiver already connected or closed")
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout_s):
            await loop.sock_connect(self._sock, addr)
        reader, self._writer = await asyncio.open_connection(sock=self._sock)
        self._connected = True
        self.peer = tuple(addr)
        self._opened_at = time.monotonic()  # idle counts from the connection, not from the INVITE
        self._reader_task = asyncio.create_task(self._read_tcp(reader))

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._reader_task is not None or self.end_reason is not None:
            writer.close()  # one device per receiver: a second connection is not ours
            self.stats.bad += 1
            return
        self._writer = writer
        self.peer = writer.get_extra_info("peername")
        self._server.close()  # stop listening: the port was for this one device
        self._reader_task = asyncio.create_task(self._read_tcp(reader))

    def close(self) -> None:
        self._end("closed")

    def __aiter__(self) -> Receiver:
        return self

    async def __anext__(self) -> bytes:
        item = await self._q.get()
        if item is None:
            self._q.put_nowait(None)  # later calls end too
            raise StopAsyncIteration
        parts = [item]
        while not self._q.empty():  # hand over what is already here in one piece
            nxt = self._q.get_nowait()
            if nxt is None:
                self._q.put_nowait(None)
                break
            parts.append(nxt)
        return parts[0] if len(parts) == 1 else b"".join(parts)


    def _udp_ready(self) -> None:
        """Read every datagram waiting, not one per wake-up as asyncio's datagram transport does: a
        frame arrives as a burst of packets (a 1080p keyframe: ~100), and each loop turn costs."""
        sock = self._udp
        for _ in range(UDP_BURST):
            try:
                data, addr = sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # e.g. ICMP port unreachable reported on a UDP socket: not fatal here
                log.debug("udp media socket: %s", e)
                return
            if self.peer is None:
                self.peer = addr
            self._on_packet(data)
            if self.end_reason is not None:
                return


async def open_receiver(mode: Mode, host: str, ssrc: int | None = None, *, port: int = 0, idle_s: float = 10.0,
                        payload_types: frozenset[int] | None = None, max_queued: int = 2000) -> Receiver:
    """Bind (``port`` 0 = any free one) and start receiving; ``rx.port`` is the bound port."""
    if mode not in ("udp", "tcp-passive", "tcp-active"):
        raise ValueError(f"mode must be udp, tcp-passive or tcp-active, not {mode!r}")
    rx = Receiver(mode, ssrc, idle_s, payload_types, max_queued)
    loop = asyncio.get_running_loop()
    if mode == "udp":
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            with contextlib.suppress(OSError):  # bursts of a 1080p keyframe: ~100 datagrams at once
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        rx._udp, rx.port = sock, sock.getsockname()[1]
        loop.add_reader(sock.fileno(), rx._udp_ready)
    elif mode == "tcp-passive":
        rx._server = await asyncio.start_server(rx._accept, host, port)
        rx.port = rx._server.sockets[0].getsockname()[1]
    else:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        rx._sock, rx.port = sock, sock.getsockname()[1]
    rx._watchdog = asyncio.create_task(rx._watch())
    return rx
