"""RTP (RFC 3550) as GB/T 28181 devices send it: header parsing, a small reordering window, and the
RFC 4571 framing of RTP over TCP. Pure: no I/O, and bad input is counted and dropped, never raised."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

RTP_VERSION = 2
SEQ_MOD = 1 << 16


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes
    csrcs: tuple[int, ...] = ()
    extension: bytes | None = None  # header extension body, after its 4-byte profile/length word


def parse_rtp(data: bytes) -> RtpPacket | None:
    """The packet, or None when ``data`` is not a well-formed RTP v2 packet."""
    n = len(data)
    if n < 12:
        return None
    b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
    if b0 == 0x80:  # what cameras send: no padding, extension or CSRC
        return RtpPacket(b1 & 0x7F, seq, ts, ssrc, b1 > 0x7F, bytes(data[12:]))
    if b0 >> 6 != RTP_VERSION:
        return None
    cc = b0 & 0x0F
    pos = 12 + 4 * cc
    if pos > n:
        return None
    csrcs = struct.unpack_from(f"!{cc}I", data, 12) if cc else ()
    extension = None
    if b0 & 0x10:
        if pos + 4 > n:
            return None
        words = struct.unpack_from("!H", data, pos + 2)[0]
        end = pos + 4 + 4 * words
        if end > n:
            return None
        extension = bytes(data[pos + 4:end])
        pos = end
    end = n
    if b0 & 0x20:
        pad = data[-1]
        if pad == 0 or pos + pad > n:
            return None
        end = n - pad
    return RtpPacket(b1 & 0x7F, seq, ts, ssrc, bool(b1 & 0x80), bytes(data[pos:end]), tuple(csrcs), extension)


def build_rtp(payload: bytes, *, seq: int, timestamp: int, ssrc: int, payload_type: int = 96,
              marker: bool = False) -> bytes:
    """A plain RTP v2 packet (no CSRC, extension or padding), as a GB device sends it."""
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | (payload_type & 0x7F),
                       seq % SEQ_MOD, timestamp & 0xFFFFFFFF, ssrc & 0xFFFFFFFF) + payload


def seq_delta(a: int, b: int) -> int:
    """b - a on the 16-bit sequence circle, in [-32768, 32767]."""
    d = (b - a) % SEQ_MOD
    return d - SEQ_MOD if d >= SEQ_MOD // 2 else d


@dataclass
class ReorderWindow:
    """Puts packets back in sequence order. A packet that arrives early waits for the missing ones
    until ``size`` packets are held (or :meth:`flush`), then the gap is given up and counted as lost.
    Duplicates and packets older than what was already released are dropped. A jump further than
    ``restart_gap`` (a device that restarted its sequence) starts over from the new number."""

    size: int = 64
    restart_gap: int = 3000
    expected: int | None = None
    held: dict[int, RtpPacket] = field(default_factory=dict)
    lost: int = 0
    duplicates: int = 0
    late: int = 0

    def push(self, pkt: RtpPacket) -> list[RtpPacket]:
        if pkt.seq == self.expected and not self.held:  # in order, nothing waiting: the usual case
            self.expected = (pkt.seq + 1) & 0xFFFF
            return [pkt]
        if self.expected is None:
            self.expected = pkt.seq
        d = seq_delta(self.expected, pkt.seq)
        if d < 0:
            if d < -self.restart_gap:
                return self._restart(pkt)
            self.late += 1
            return []
        if d > self.restart_gap:
            return self._restart(pkt)
        if pkt.seq in self.held:
            self.duplicates += 1
            return []
        self.held[pkt.seq] = pkt
        out = self._drain()
        while len(self.held) >= self.size:  # give up on the oldest gap
            out.extend(self._skip_gap())
        return out

    def flush(self) -> list[RtpPacket]:
        """Everything held, in order, giving up on the gaps (called when the stream pauses)."""
        out = self._drain()
        while self.held:
            out.extend(self._skip_gap())
        return out

    def _restart(self, pkt: RtpPacket) -> list[RtpPacket]:
        out = self.flush()
        self.expected = pkt.seq
        self.held[pkt.seq] = pkt
        return out + self._drain()

    def _drain(self) -> list[RtpPacket]:
        out = []
        while self.expected in self.held:
            out.append(self.held.pop(self.expected))
            self.expected = (self.expected + 1) % SEQ_MOD
        return out

    def _skip_gap(self) -> list[RtpPacket]:
        nearest = min(self.held, key=lambda s: seq_delta(self.expected, s))
        self.lost += seq_delta(self.expected, nearest)
        self.expected = nearest
        return self._drain()


@dataclass
class Rfc4571Decoder:
    """RTP over TCP (RFC 4571): each packet is preceded by its length, 2 bytes big-endian.

    Bytes that cannot start a frame (garbage on the wire) make it lose sync; it then skips a byte at a
    time until a length is followed by an RTP v2 header of the SSRC it saw last, so that random bytes
    that merely look like a header are not taken for a packet. ``bad`` counts the garbage runs,
    ``skipped`` their bytes."""

    _buf: bytearray = field(default_factory=bytearray)
    synced: bool = True
    ssrc: bytes | None = None  # of the last good frame, as on the wire
    bad: int = 0
    skipped: int = 0
    _run: int = 0  # bytes skipped in the current garbage run

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out = []
        pos, buf = 0, self._buf
        while len(buf) - pos >= 3:
            n = (buf[pos] << 8) | buf[pos + 1]
            ok = n >= 12 and buf[pos + 2] >> 6 == RTP_VERSION
            if ok and not self.synced and self.ssrc is not None and self._run < 65536:  # else: a new SSRC
                if len(buf) - pos < 14:
                    break  # wait for the SSRC bytes to decide
                ok = buf[pos + 10:pos + 14] == self.ssrc
            if not ok:
                if self.synced:
                    self.synced = False
                    self.bad += 1
                pos += 1
                self.skipped += 1
                self._run += 1
                continue
            if len(buf) - pos - 2 < n:
                break
            frame = bytes(buf[pos + 2:pos + 2 + n])
            self.synced, self.ssrc, self._run = True, frame[8:12], 0
            out.append(frame)
            pos += 2 + n
        del buf[:pos]
        return out


def frame_rfc4571(packet: bytes) -> bytes:
    return struct.pack("!H", len(packet)) + packet
