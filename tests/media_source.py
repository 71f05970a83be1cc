"""A GB/T 28181 camera's media side for tests and benchmarks: real H.264/H.265 (libx264/libx265 via
PyAV) of a test pattern, packed into MPEG-2 PS the way GB devices pack it (pack header; system header
and a PSM with stream_type 0x1B/0x24 before each keyframe; PES with PTS/DTS), sent as RTP (PT 96,
90 kHz, payloads ≤ 1400 bytes, marker on a frame's last packet) over UDP or TCP (RFC 4571) in real time.

    async with stream_ps_rtp(("127.0.0.1", port), transport="udp", ssrc=123, codec="h264") as s:
        ...  # s.frames_sent, s.packets_sent; leaving the block stops it (TCP: closes the connection)

Cheap enough for many streams at once: a loop of GOPs is encoded once per (codec, size, fps…) and
replayed with rewritten timestamps. Every frame differs (a moving bar) and carries its loop frame
number twice: as 7-segment digits for a person, and as a 16-bit strip of blocks that
:func:`read_counter` reads back from a decoded frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

import av
import numpy as np

from app.media.rtp import build_rtp, frame_rfc4571

CLOCK = 90_000
MAX_PAYLOAD = 1400
STREAM_TYPE = {"h264": 0x1B, "h265": 0x24}
ENCODER = {"h264": "libx264", "h265": "libx265"}
COUNTER_BITS, BLOCK = 16, 16  # the machine-readable strip: 16 blocks of 16×16 px along the top-left

# 7-segment layout: segments a..g as (x, y, w, h) in units of a 4×7 digit cell
SEGMENTS = {"a": (1, 0, 2, 1), "b": (3, 1, 1, 2), "c": (3, 4, 1, 2), "d": (1, 6, 2, 1),
            "e": (0, 4, 1, 2), "f": (0, 1, 1, 2), "g": (1, 3, 2, 1)}
DIGITS = ["abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg"]


def codec_available(codec: str) -> bool:
    return ENCODER[codec] in av.codecs_available


def pattern(i: int, width: int, height: int) -> np.ndarray:
    """Frame ``i`` as a yuv420p array (height·3/2 × width): gradient, a moving bar, the frame number."""
    y = np.empty((height, width), np.uint8)
    y[:] = np.linspace(40, 200, width, dtype=np.uint8)[None, :]
    bar = (i * max(4, width // 100)) % width
    y[:, bar:bar + max(8, width // 40)] = 235
    for b in range(COUNTER_BITS):  # the strip, most significant bit first
        y[0:BLOCK, b * BLOCK:(b + 1) * BLOCK] = 235 if (i >> (COUNTER_BITS - 1 - b)) & 1 else 16
    unit = max(2, height // 60)
    for k, ch in enumerate(f"{i:06d}"):
        x0, y0 = BLOCK + k * 5 * unit, 2 * BLOCK
        y[y0 - unit:y0 + 8 * unit, x0 - unit:x0 + 4 * unit] = 16
        for s in DIGITS[int(ch)]:
            sx, sy, sw, sh = SEGMENTS[s]
            y[y0 + sy * unit:y0 + (sy + sh) * unit, x0 + sx * unit:x0 + (sx + sw) * unit] = 235
    uv = np.full((height // 2, width), 128, np.uint8)
    uv[:, : width // 2] = 90 + (i * 3) % 80  # the colour drifts too
    return np.vstack([y, uv])


def read_counter(frame: av.VideoFrame) -> int:
    """The frame number burned in by :func:`pattern`, read from a decoded frame."""
    y = frame.to_ndarray(format="gray")
    bits = [y[4:BLOCK - 4, b * BLOCK + 4:(b + 1) * BLOCK - 4].mean() > 128 for b in range(COUNTER_BITS)]
    return sum(1 << (COUNTER_BITS - 1 - k) for k, bit in enumerate(bits) if bit)


@dataclass(frozen=True)
class EncodedFrame:
    data: bytes  # Annex B access unit; keyframes carry their parameter sets
    key: bool


@functools.lru_cache(maxsize=16)
def encode_loop(codec: str = "h264", size: tuple[int, int] = (640, 360), fps: int = 25, seconds: float = 2.0,
                gop: int | None = None, bitrate: int | None = None) -> tuple[EncodedFrame, ...]:
    """``seconds`` of the pattern, closed GOPs of ``gop`` frames (default one second), no B-frames,
    so the loop can be replayed end to end forever."""
    width, height = size
    gop = gop or fps
    n = max(gop, round(seconds * fps) // gop * gop)
    ctx = av.CodecContext.create(ENCODER[codec], "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = Fraction(1, fps)
    ctx.framerate = fps
    ctx.gop_size = gop
    ctx.bit_rate = bitrate or int(width * height * fps * 0.08)
    opts = {"preset": "ultrafast", "tune": "zerolatency"}
    if codec == "h264":
        opts["x264-params"] = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0"
    else:
        opts["x265-params"] = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:log-level=error"
    ctx.options = opts
    out: list[EncodedFrame] = []

    def take(packets):
        out.extend(EncodedFrame(bytes(p), bool(p.is_keyframe)) for p in packets)

    for i in range(n):
        f = av.VideoFrame.from_ndarray(pattern(i, width, height), format="yuv420p")
        f.pts = i
        take(ctx.encode(f))
    take(ctx.encode(None))
    assert len(out) == n and out[0].key, (len(out), n)
    return tuple(out)


# --- MPEG-2 program stream, packed as GB devices do --------------------------------------------------


def _crc32_mpeg(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _ts_bytes(marker: int, t: int) -> bytes:
    """A 5-byte PTS/DTS field."""
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
    body += bytes([0xE0, 0xE0 | 0x20 | 0x00, 0x80])  # video stream 0xE0, P-STD buffer
    return b"\x00\x00\x01\xbb" + struct.pack("!H", len(body)) + body


@functools.lru_cache(maxsize=4)
def program_stream_map(stream_type: int) -> bytes:
    es_map = bytes([stream_type, 0xE0]) + b"\x00\x00"
    body = bytes([0xE0, 0xFF]) + b"\x00\x00" + struct.pack("!H", len(es_map)) + es_map
    head = b"\x00\x00\x01\xbc" + struct.pack("!H", len(body) + 4) + body
    return head + struct.pack("!I", _crc32_mpeg(head))


def ps_frame(frame: EncodedFrame, pts: int, stream_type: int, psm: bool = True, max_pes: int = 65400) -> bytes:
    """One access unit as a PS pack: pack header, [system header + PSM before a keyframe], PES packets
    (the first with PTS=DTS, the rest continuing it)."""
    parts = [pack_header(pts)]
    if frame.key:
        parts.append(system_header())
        if psm:
            parts.append(program_stream_map(stream_type))
    data, first = memoryview(frame.data), True
    while data:
        head = (b"\x80\xc0\x0a" + _ts_bytes(3, pts) + _ts_bytes(1, pts)) if first else b"\x80\x00\x00"
        chunk, data = data[:max_pes - len(head)], data[max_pes - len(head):]
        parts += [b"\x00\x00\x01\xe0", struct.pack("!H", len(head) + len(chunk)), head, chunk]
        first = False
    return b"".join(parts)


def rtp_packets(ps: bytes, seq: int, timestamp: int, ssrc: int, payload_type: int = 96) -> list[bytes]:
    chunks = [ps[k:k + MAX_PAYLOAD] for k in range(0, len(ps), MAX_PAYLOAD)]
    return [build_rtp(c, seq=seq + k, timestamp=timestamp, ssrc=ssrc, payload_type=payload_type,
                      marker=k == len(chunks) - 1) for k, c in enumerate(chunks)]


def ps_file_bytes(codec: str = "h264", size=(640, 360), fps: int = 25, seconds: float = 2.0, loops: int = 1,
                  psm: bool = True, **encode) -> bytes:
    """The PS a device would send for ``loops`` replays of the loop, as one byte string (benchmarks)."""
    frames = encode_loop(codec, tuple(size), fps, seconds, **encode)
    step = CLOCK // fps
    return b"".join(ps_frame(f, (k * len(frames) + i) * step, STREAM_TYPE[codec], psm)
                    for k in range(loops) for i, f in enumerate(frames))


# --- the sender ---------------------------------------------------------------------------------------


@dataclass
class PsRtpSender:
    """A running stream; ``port`` is the listening port for transport="tcp-listen"."""

    frames_sent: int = 0
    started_at: float | None = None  # time.monotonic() of frame 0's schedule (frame k is due k/fps later)
    sent_at: list[float] | None = None  # if asked for: time.time() as each frame's last packet left (latency)
    packets_sent: int = 0
    bytes_sent: int = 0
    port: int | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    error: BaseException | None = None
    _task: asyncio.Task | None = None
    _close: list = field(default_factory=list)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for c in reversed(self._close):
            with contextlib.suppress(Exception):
                c()
        self._close.clear()
        self.done.set()


async def start_ps_rtp(dest: tuple[str, int] | str, transport: Literal["udp", "tcp", "tcp-listen"] = "udp",
                       ssrc: int = 0x0100_0001, codec: str = "h264", fps: int = 25,
                       size: tuple[int, int] = (640, 360), seconds: float | None = None, *,
                       loop_seconds: float = 2.0, psm: bool = True, bitrate: int | None = None,
                       payload_type: int = 96, seq0: int = 0, start_frame: int = 0,
                       garbage_every: int = 0, frames: tuple[EncodedFrame, ...] | None = None,
                       stamp: bool = False) -> PsRtpSender:
    """Start sending; see :func:`stream_ps_rtp`. ``dest`` is (host, port) for "udp"/"tcp" (connect,
    as a device in TCP active mode does towards our passive listener) and the host to listen on for
    "tcp-listen" (the device's passive mode; we connect to ``sender.port``). ``seconds`` None = until
    stopped. ``garbage_every`` > 0 sends a datagram/frame of junk every that many frames (tests).
    ``frames``: an :func:`encode_loop` result to replay (a process that got it from another one).
    ``stamp``: keep ``sender.sent_at`` (frame ``start_frame + k`` left at ``sent_at[k]``), for glass-to-glass
    latency: a viewer reads the frame number back (:func:`read_counter`) and looks up when it was sent."""
    frames = frames or encode_loop(codec, tuple(size), fps, loop_seconds, bitrate=bitrate)
    s = PsRtpSender(sent_at=[] if stamp else None)
    loop = asyncio.get_running_loop()
    send = None
    if transport == "udp":
        tr, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=tuple(dest))
        s._close.append(tr.close)
        send = tr.sendto
        s.connected.set()
    elif transport in ("tcp", "tcp-listen"):
        writer_box: list[asyncio.StreamWriter] = []

        if transport == "tcp":
            _, w = await asyncio.open_connection(*dest)
            writer_box.append(w)
            s.connected.set()
        else:
            async def accept(_r, w):
                if writer_box:
                    w.close()
                    return
                writer_box.append(w)
                s.connected.set()

            server = await asyncio.start_server(accept, dest if isinstance(dest, str) else dest[0], 0)
            s.port = server.sockets[0].getsockname()[1]
            s._close.append(server.close)
        s._close.append(lambda: writer_box and writer_box[0].close())

        def send(pkt: bytes) -> None:
            writer_box[0].write(frame_rfc4571(pkt))
    else:
        raise ValueError(f"transport must be udp, tcp or tcp-listen, not {transport!r}")

    async def run() -> None:
        await s.connected.wait()
        step, seq, t0 = CLOCK // fps, seq0, time.monotonic()
        s.started_at = t0
        total = None if seconds is None else round(seconds * fps)
        k = 0
        try:
            while total is None or k < total:
                n = start_frame + k
                ps = ps_frame(frames[n % len(frames)], n * step, STREAM_TYPE[codec], psm)
                for pkt in rtp_packets(ps, seq, n * step, ssrc, payload_type):
                    send(pkt)
                    s.packets_sent += 1
                    s.bytes_sent += len(pkt)
                    seq += 1
                if garbage_every and k % garbage_every == garbage_every - 1:
                    send(b"\x80garbage" if transport == "udp" else b"\x00\x05junk!")
                    send(b"\x13" * 40)
                if transport != "udp":
                    await writer_box[0].drain()
                if s.sent_at is not None:
                    s.sent_at.append(time.time())
                s.frames_sent += 1
                k += 1
                await asyncio.sleep(max(0.0, t0 + k / fps - time.monotonic()))
        except (ConnectionError, OSError) as e:  # the platform closed its side: a device stops sending
            s.error = e
        finally:
            s.done.set()

    s._task = asyncio.create_task(run())
    return s


@contextlib.asynccontextmanager
async def stream_ps_rtp(dest, transport="udp", ssrc=0x0100_0001, codec="h264", fps=25, size=(640, 360),
                        seconds=None, **kw) -> AsyncIterator[PsRtpSender]:
    """Send a live PS-over-RTP stream while the block runs; stopping closes the socket."""
    s = await start_ps_rtp(dest, transport, ssrc, codec, fps, size, seconds, **kw)
    try:
        yield s
    finally:
        await s.stop()

