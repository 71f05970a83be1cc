"""MPEG-2 PS in, MPEG-TS out: FFmpeg's "mpeg" demuxer and "mpegts" muxer through PyAV, packets copied
(never decoded), in a worker thread per stream.

The loop side feeds PS bytes with :meth:`Remuxer.feed` (never blocks: a full input queue drops and counts)
and reads :class:`TsChunk` from :attr:`Remuxer.chunks`, ``None`` marking the end. One chunk is what the
muxer wrote for one video frame; a keyframe's chunk starts with PAT/PMT (the TS muxer repeats them before
every keyframe), so a viewer can start with any keyframe chunk. Only the video stream is carried: GB
devices' audio is G.711, which neither MPEG-TS in browsers nor mpegts.js plays.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass

import av

log = logging.getLogger(__name__)

VIDEO_CODECS = {"h264", "hevc"}
# FFmpeg analyses a PS up to these limits every time (see _PsReader): the keyframe it starts at names the
# codec (PSM) and carries SPS/PPS, which is all a remux needs. Larger limits only delay the first frame.
DEMUX_OPTIONS = {"probesize": "32768", "analyzeduration": "40000"}
# The TS muxer writes PAT/PMT before every video keyframe by itself (tests check a keyframe chunk starts
# with them); flush_packets hands out each frame as soon as it is muxed, max_delay 0 holds nothing back.
MUX_OPTIONS = {"flush_packets": "1", "max_delay": "0"}


@dataclass(frozen=True, slots=True)
class TsChunk:
    data: bytes
    key: bool  # starts with PAT/PMT and a keyframe
    pts: int | None = None  # 90 kHz


PACK = b"\x00\x00\x01\xba"
# What opens a keyframe: GB devices put a system header and a PSM before each I-frame and nowhere else;
# a device that sends neither still starts it with parameter sets (H.264 SPS, H.265 VPS).
KEYFRAME_MARKS = (b"\x00\x00\x01\xbc", b"\x00\x00\x01\xbb", b"\x00\x00\x01\x67", b"\x00\x00\x01\x40\x01")
# Without any of them in this much, the stream is handed to FFmpeg as it is (which then probes).
GATE_MAX_BYTES = 4 << 20


def keyframe_start(buf: bytes) -> int:
    """Where the first pack that opens a keyframe starts in ``buf``, or -1."""
    at = min((i for i in (buf.find(m) for m in KEYFRAME_MARKS) if i >= 0), default=-1)
    if at < 0:
        return -1
    pack = buf.rfind(PACK, max(0, at - 256), at)  # the pack header before it (and PES header), if any
    return pack if pack >= 0 else at


class _PsReader:
    """The demuxer's input: blocking reads from the feed queue (worker thread only).

    Nothing before the first keyframe's pack reaches the demuxer: a stream joined mid-GOP has no PSM
    until its next keyframe, and FFmpeg would have to probe it for a whole GOP. FFmpeg's PS analysis
    always reads to its probe limit (the format has no header to say all streams are known), so those
    limits stay small and "open" stays fast."""

    def __init__(self, q: queue.Queue) -> None:
        self.q, self.rest, self.eof = q, b"", False
        self.gated, self.skipped, self._held = True, 0, b""

    def _next(self, n: int) -> bytes:
        item = self.q.get()
        if item is None:
            self.eof = True
            return b""
        parts, size = [item], len(item)
        while size < n:  # take what is already queued, in one read
            try:
                item = self.q.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self.eof = True
                break
            parts.append(item)
            size += len(item)
        return b"".join(parts)

    def read(self, n: int) -> bytes:
        while not self.rest:
            if self.eof:
                return b""
            data = self._next(n)
            if self.gated:
                data = self._gate(data)
            self.rest = data
        out, self.rest = self.rest[:n], self.rest[n:]
        return out

    def _gate(self, data: bytes) -> bytes:
        self._held += data
        at = keyframe_start(self._held)
        if at < 0 and self.skipped < GATE_MAX_BYTES and not self.eof:
            # keep a tail: a start code, or the pack header before a mark, may be split across reads
            self.skipped += max(0, len(self._held) - 512)
            self._held = self._held[-512:]
            return b""
        self.gated = False
        out, self._held = self._held[max(at, 0):], b""
        return out


class _TsWriter:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


class _MonotonicClock:
    """Keeps the output's DTS increasing when a device's clock jumps (restarted encoder, 33-bit wrap after
    26.5 h): a jump back, or forward by more than ``max_gap``, continues one frame after the last DTS."""

    def __init__(self, max_gap: int = 10 * 90_000) -> None:
        self.offset, self.last, self.step, self.max_gap = 0, None, 3600, max_gap

    def rebase(self, pkt: av.Packet) -> bool:
        dts = (pkt.dts if pkt.dts is not None else pkt.pts) + self.offset
        jumped = self.last is not None and not 0 < dts - self.last <= self.max_gap
        if jumped:
            self.offset += self.last + self.step - dts
            dts = self.last + self.step
        elif self.last is not None:
            self.step = dts - self.last
        pkt.pts, pkt.dts = pkt.pts + self.offset, dts
        self.last = dts
        return jumped


class Remuxer:
    """One stream's remux. ``start()`` on the event loop, ``feed()`` PS bytes, ``end()`` when the source is
    done; :attr:`chunks` yields TS chunks then ``None``. :attr:`reason` says why it ended."""

    def __init__(self, name: str = "stream", max_input_chunks: int = 2000, max_output_chunks: int = 500) -> None:
        self.name = name
        self._in: queue.Queue = queue.Queue(max_input_chunks)
        self.chunks: asyncio.Queue[TsChunk | None] = asyncio.Queue(max_output_chunks)
        self.codec: str | None = None
        self.width = self.height = 0
        self.bytes_in = self.bytes_out = self.frames = self.keyframes = 0
        self.dropped_in = self.dropped_out = 0
        self.reason: str | None = None
        self.opened_at: float | None = None
        self.first_key_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.opened_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"remux-{self.name}", daemon=True)
        self._thread.start()

    def feed(self, data: bytes) -> None:
        if self._stopping:
            return
        try:
            self._in.put_nowait(data)
            self.bytes_in += len(data)
        except queue.Full:  # the worker fell behind by seconds: drop, the demuxer resyncs on the next pack
            self.dropped_in += 1

    def end(self) -> None:
        """No more input: the worker flushes what it has and ends the output."""
        if self._stopping:
            return
        self._stopping = True
        while True:
            try:
                self._in.put_nowait(None)
                return
            except queue.Full:
                try:
                    self._in.get_nowait()
                except queue.Empty:
                    pass

    async def wait_closed(self) -> None:
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    # --- worker thread ---------------------------------------------------------------------------------

    def _emit(self, item: TsChunk | None) -> None:
        def put() -> None:
            if item is None:
                while self.chunks.full():  # the end marker always gets in
                    self.chunks.get_nowait()
                self.chunks.put_nowait(None)
                return
            try:
                self.chunks.put_nowait(item)
            except asyncio.QueueFull:
                self.dropped_out += 1

        try:
            self._loop.call_soon_threadsafe(put)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    def _run(self) -> None:
        reason = "source ended"
        try:
            reason = self._remux() or reason
        except Exception as e:  # a stream FFmpeg cannot read: end it with the reason, not a stuck viewer
            reason = f"remux failed: {type(e).__name__}: {e}"
            log.warning("%s: %s", self.name, reason)
        finally:
            self.reason = reason
            # drain what the loop side might still feed, so end() never blocks on a full queue
            self._stopping = True
            self._emit(None)

    def _remux(self) -> str | None:
        reader = _PsReader(self._in)
        try:
            src = av.open(reader, mode="r", format="mpeg", options=DEMUX_OPTIONS)
        except av.error.EOFError:
            return "source ended before any video"
        with src:
            video = next((s for s in src.streams.video
                          if s.codec_context is not None and s.codec_context.name in VIDEO_CODECS), None)
            if video is None:
                names = [s.codec_context.name if s.codec_context else "unknown" for s in src.streams]
                return f"no H.264/H.265 video in the stream (found {names or 'nothing'})"
            self.codec = "h265" if video.codec_context.name == "hevc" else "h264"
            self.width, self.height = video.codec_context.width, video.codec_context.height
            writer = _TsWriter()
            with av.open(writer, mode="w", format="mpegts", options=MUX_OPTIONS) as out:
                ov = out.add_stream_from_template(video)
                started, clock = False, _MonotonicClock()
                for pkt in src.demux(video):
                    if pkt.size == 0 or pkt.pts is None:
                        continue  # the demuxer's flush packet, or a frame without time: not muxable
                    if not started:
                        if not pkt.is_keyframe:
                            continue  # nothing before the first keyframe can be decoded
                        started = True
                    if clock.rebase(pkt):
                        log.info("%s: the device's timestamps jumped; output rebased", self.name)
                    key = bool(pkt.is_keyframe)
                    pkt.stream = ov
                    try:
                        out.mux(pkt)
                    except av.error.FFmpegError as e:  # one bad packet is skipped, not the stream
                        log.debug("%s: packet dropped: %s", self.name, e)
                        continue
                    data = writer.take()
                    if not data:
                        continue
                    self.frames += 1
                    self.bytes_out += len(data)
                    if key:
                        self.keyframes += 1
                        if self.first_key_at is None:
                            self.first_key_at = time.monotonic()
                    self._emit(TsChunk(data, key, pkt.pts))
            tail = writer.take()
            if tail:
                self._emit(TsChunk(tail, False))
        return None
