"""A live stream pushed on as GB/T 28181 sends it: MPEG-TS (what ``LiveStreams`` hands its viewers) back to
MPEG-2 PS in RTP (payload type 96, the SSRC the receiver asked for in ``y=``), over UDP or RTP over TCP
(RFC 4571 framing). What an upper platform receives when it plays a channel of this (lower) platform.

The TS is parsed here (PAT → PMT → the video PID; its PES packets → access units with their PTS/DTS), not
decoded. Each access unit becomes one PS pack as GB devices write it: pack header, before a keyframe the
system header and the program stream map (stream type 0x1B H.264 / 0x24 H.265: receivers such as
ZLMediaKit need the PSM to know the codec), then PES packets of at most 64 KiB. The pack is cut into RTP
payloads of at most 1400 bytes; the frame's last packet carries the marker bit, all share its 90 kHz PTS.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterable
from dataclasses import dataclass, field

from app.media.rtp import build_rtp, frame_rfc4571

TS_PACKET = 188
MAX_PAYLOAD = 1400
MAX_PES = 65400
VIDEO_TYPES = {0x1B: "h264", 0x24: "h265"}


@dataclass(slots=True)
class AccessUnit:
    data: bytes
    pts: int
    dts: int
    key: bool


def _crc32_mpeg(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _read_ts(b: bytes) -> int:
    return ((b[0] >> 1) & 7) << 30 | b[1] << 22 | (b[2] >> 1) << 15 | b[3] << 7 | b[4] >> 1


def is_keyframe(es: bytes, stream_type: int) -> bool:
    """An access unit that starts a GOP: H.264 IDR or SPS; H.265 VPS/SPS or an IRAP slice."""
    i = es.find(b"\x00\x00\x01")
    while i >= 0 and i + 3 < len(es):
        h = es[i + 3]
        if stream_type == 0x24:
            if (h >> 1) & 0x3F in (16, 17, 18, 19, 20, 21, 32, 33):
                return True
        elif h & 0x1F in (5, 7):
            return True
        i = es.find(b"\x00\x00\x01", i + 3)
    return False


@dataclass
class TsDemux:
    """MPEG-TS bytes in, video access units out (the first program's first H.264/H.265 stream)."""

    _buf: bytearray = field(default_factory=bytearray)
    pmt_pid: int | None = None
    video_pid: int | None = None
    stream_type: int | None = None
    _pes: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[AccessUnit]:
        self._buf += data
        out: list[AccessUnit] = []
        pos = 0
        while len(self._buf) - pos >= TS_PACKET:
            if self._buf[pos] != 0x47:  # lost sync: find the next sync byte
                pos += 1
                continue
            self._packet(bytes(self._buf[pos:pos + TS_PACKET]), out)
            pos += TS_PACKET
        del self._buf[:pos]
        return out

    def flush(self) -> list[AccessUnit]:
        """The access unit being gathered (a TsChunk is one whole frame: nothing more will come for it)."""
        out: list[AccessUnit] = []
        self._emit(out)
        return out

    def _packet(self, p: bytes, out: list[AccessUnit]) -> None:
        pusi, pid, afc = p[1] & 0x40, ((p[1] & 0x1F) << 8) | p[2], (p[3] >> 4) & 3
        start = 4
        if afc & 2:
            start = 5 + p[4]
        if not afc & 1 or start >= TS_PACKET:
            return
        payload = p[start:]
        if pid == 0 and pusi:
            sec = payload[1 + payload[0]:]
            if len(sec) >= 16:
                self.pmt_pid = ((sec[10] & 0x1F) << 8) | sec[11]
        elif pid == self.pmt_pid and pusi and self.video_pid is None:
            sec = payload[1 + payload[0]:]
            length = ((sec[1] & 0x0F) << 8) | sec[2]
            i, end = 12 + (((sec[10] & 0x0F) << 8) | sec[11]), 3 + length - 4
            while i + 5 <= end:
                st, es_pid, info = sec[i], ((sec[i + 1] & 0x1F) << 8) | sec[i + 2], \
                    ((sec[i + 3] & 0x0F) << 8) | sec[i + 4]
                if st in VIDEO_TYPES:
                    self.video_pid, self.stream_type = es_pid, st
                    break
                i += 5 + info
        elif pid == self.video_pid and self.video_pid is not None:
            if pusi:
                self._emit(out)
            self._pes += payload

    def _emit(self, out: list[AccessUnit]) -> None:
        pes, self._pes = bytes(self._pes), bytearray()
        if len(pes) < 9 or pes[:3] != b"\x00\x00\x01":
            return
        flags, hlen = pes[7], pes[8]
        pts = _read_ts(pes[9:14]) if flags & 0x80 else 0
        dts = _read_ts(pes[14:19]) if flags & 0xC0 == 0xC0 else pts
        es = pes[9 + hlen:]
        if es:
            out.append(AccessUnit(es, pts, dts, is_keyframe(es, self.stream_type or 0x1B)))


# --- PS ---------------------------------------------------------------------------------------------


def _ts_field(marker: int, t: int) -> bytes:
    t &= (1 << 33) - 1
    return bytes([(marker << 4) | ((t >> 29) & 0x0E) | 1, (t >> 22) & 0xFF, ((t >> 14) & 0xFE) | 1,
                  (t >> 7) & 0xFF, ((t << 1) & 0xFE) | 1])


def pack_header(scr: int, mux_rate: int = 20_000) -> bytes:
    scr &= (1 << 33) - 1
    b = bytes([0x44 | ((scr >> 27) & 0x38) | ((scr >> 28) & 0x03), (scr >> 20) & 0xFF,
               ((scr >> 12) & 0xF8) | 0x04 | ((scr >> 13) & 0x03), (scr >> 5) & 0xFF,
               ((scr << 3) & 0xF8) | 0x04, 0x01])
    return b"\x00\x00\x01\xba" + b + struct.pack("!I", (mux_rate << 10) | 0x3FF)[1:] + b"\xf8"


def system_header(mux_rate: int = 20_000) -> bytes:
    body = struct.pack("!I", 0x80000001 | (mux_rate << 1))[1:] + bytes([0x04, 0xE1, 0xFF])
    body += bytes([0xE0, 0xE0 | 0x20, 0x80])  # video stream 0xE0 and its P-STD buffer
    return b"\x00\x00\x01\xbb" + struct.pack("!H", len(body)) + body


def program_stream_map(stream_type: int) -> bytes:
    es_map = bytes([stream_type, 0xE0]) + b"\x00\x00"
    body = bytes([0xE0, 0xFF]) + b"\x00\x00" + struct.pack("!H", len(es_map)) + es_map
    head = b"\x00\x00\x01\xbc" + struct.pack("!H", len(body) + 4) + body
    return head + struct.pack("!I", _crc32_mpeg(head))


def ps_pack(au: AccessUnit, stream_type: int) -> bytes:
    """One access unit as one PS pack (the first PES with PTS and DTS, the rest continuing it)."""
    parts = [pack_header(au.dts)]
    if au.key:
        parts += [system_header(), program_stream_map(stream_type)]
    data, first = memoryview(au.data), True
    while data:
        head = (b"\x80\xc0\x0a" + _ts_field(3, au.pts) + _ts_field(1, au.dts)) if first else b"\x80\x00\x00"
        chunk, data = data[:MAX_PES - len(head)], data[MAX_PES - len(head):]
        parts += [b"\x00\x00\x01\xe0", struct.pack("!H", len(head) + len(chunk)), head, bytes(chunk)]
        first = False
    return b"".join(parts)


# --- the sender -------------------------------------------------------------------------------------


class PsRtpPusher:
    """Sends one stream's RTP to a receiver: ``udp`` (from a socket of its own), ``tcp-active`` (we connect
    to the receiver's passive listener) or ``tcp-passive`` (we listen on ``port``; the receiver connects)."""

    def __init__(self, mode: str, dest: tuple[str, int], ssrc: int, payload_type: int = 96) -> None:
        self.mode, self.dest, self.ssrc, self.payload_type = mode, dest, ssrc & 0xFFFFFFFF, payload_type
        self.port = 0
        self.packets_sent = self.frames_sent = 0
        self._seq = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._server: asyncio.base_events.Server | None = None
        self._connected = asyncio.Event()

    async def open(self, bind: str = "0.0.0.0") -> None:
        loop = asyncio.get_running_loop()
        if self.mode == "udp":
            self._udp, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=(bind, 0))
            self.port = self._udp.get_extra_info("sockname")[1]
            self._connected.set()
        elif self.mode == "tcp-active":
            self._server = None
        elif self.mode == "tcp-passive":
            async def accept(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                if self._writer is not None:
                    w.close()
                    return
                self._writer = w
                self._connected.set()

            self._server = await asyncio.start_server(accept, bind, 0)
            self.port = self._server.sockets[0].getsockname()[1]
        else:
            raise ValueError(f"mode must be udp, tcp-active or tcp-passive, not {self.mode!r}")

    async def _connect(self, timeout_s: float) -> None:
        if self.mode == "tcp-active" and self._writer is None:
            _, self._writer = await asyncio.wait_for(asyncio.open_connection(*self.dest), timeout_s)
            self.port = self._writer.get_extra_info("sockname")[1]
            self._connected.set()
        await asyncio.wait_for(self._connected.wait(), timeout_s)

    async def push(self, ts: AsyncIterable[bytes], connect_timeout_s: float = 10.0) -> None:
        """Until ``ts`` ends or the receiver's connection closes (ConnectionError)."""
        await self._connect(connect_timeout_s)
        demux = TsDemux()
        async for chunk in ts:
            for au in demux.feed(chunk) + demux.flush():
                await self._send_au(au, demux.stream_type or 0x1B)

    async def _send_au(self, au: AccessUnit, stream_type: int) -> None:
        ps = ps_pack(au, stream_type)
        chunks = [ps[k:k + MAX_PAYLOAD] for k in range(0, len(ps), MAX_PAYLOAD)]
        for k, c in enumerate(chunks):
            pkt = build_rtp(c, seq=self._seq, timestamp=au.pts, ssrc=self.ssrc,
                            payload_type=self.payload_type, marker=k == len(chunks) - 1)
            self._seq = (self._seq + 1) & 0xFFFF
            if self._udp is not None:
                self._udp.sendto(pkt, self.dest)
            else:
                if self._writer.is_closing():
                    raise ConnectionError("the receiver closed the RTP connection")
                self._writer.write(frame_rfc4571(pkt))
            self.packets_sent += 1
        if self._writer is not None:
            await self._writer.drain()
        self.frames_sent += 1

    def close(self) -> None:
        for closer in (self._udp, self._writer, self._server):
            if closer is not None:
                with contextlib.suppress(Exception):
                    closer.close()
        self._udp = self._writer = self._server = None
