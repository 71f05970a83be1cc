"""The GB/T 28181 live-video media path on real sockets with real encoded video: RTP/PS in (UDP, TCP
passive, TCP active), MPEG-TS out, shared by viewers (app/media). The TS is decoded with PyAV: frames
must keep coming and their burned-in frame numbers must advance."""

from __future__ import annotations

import asyncio
import io
import itertools
import time

import av
import pytest

from app.media.live import LiveStreams
from app.media.receiver import open_receiver
from app.media.remux import Remuxer
from app.media.rtp import ReorderWindow, Rfc4571Decoder, build_rtp, frame_rfc4571, parse_rtp
from tests.media_source import STREAM_TYPE, codec_available, encode_loop, ps_frame, read_counter, start_ps_rtp
from tests.waiting import async_wait_for

SSRC = 110_000_001
HOST = "127.0.0.1"


# --- rtp.py: pure --------------------------------------------------------------------------------------


def test_rtp_header_with_csrc_extension_and_padding():
    plain = build_rtp(b"ps-bytes", seq=65535, timestamp=3600, ssrc=SSRC, marker=True)
    p = parse_rtp(plain)
    assert (p.payload_type, p.seq, p.timestamp, p.ssrc, p.marker) == (96, 65535, 3600, SSRC, True)
    assert p.payload == b"ps-bytes" and p.csrcs == () and p.extension is None
    # V=2, P=1, X=1, CC=2; two CSRCs, one extension word, 3 bytes of padding
    head = bytes([0xB2, 0x60]) + (7).to_bytes(2, "big") + (9).to_bytes(4, "big") + (5).to_bytes(4, "big")
    full = head + (1).to_bytes(4, "big") + (2).to_bytes(4, "big") + b"\xbe\xde\x00\x01EXT!" + b"payload\x00\x00\x03"
    p = parse_rtp(full)
    assert p.csrcs == (1, 2) and p.extension == b"EXT!" and p.payload == b"payload" and p.payload_type == 96
    for junk in (b"", b"\x80" * 11, b"\x40" + plain[1:], full[:20], b"\xa0" + plain[1:-1] + b"\xff"):
        assert parse_rtp(junk) is None


def test_reorder_window_sorts_dedups_and_gives_up_on_gaps_across_wraparound():
    w = ReorderWindow(size=4)
    pk = {s: parse_rtp(build_rtp(bytes([s & 0xFF]), seq=s, timestamp=0, ssrc=1)) for s in range(65530, 65536)}
    pk |= {s: parse_rtp(build_rtp(bytes([s]), seq=s, timestamp=0, ssrc=1)) for s in range(0, 8)}
    got = []
    for s in (65530, 65532, 65532, 65531, 65533, 65535, 0, 1, 2, 65534, 4, 5, 6, 7):
        got += [p.seq for p in w.push(pk[s])]
    # 65534 came after 2: too late (already given up: lost), 3 never came: given up when 4 packets waited
    assert got == [65530, 65531, 65532, 65533, 65535, 0, 1, 2, 4, 5, 6, 7]
    assert w.duplicates == 1 and w.late == 1 and w.lost == 2
    # a sequence restart (device rebooted) is followed, not held forever
    assert [p.seq for p in w.push(parse_rtp(build_rtp(b"x", seq=30000, timestamp=0, ssrc=1)))] == [30000]


def test_rfc4571_framing_split_anywhere_and_garbage_skipped():
    pkts = [build_rtp(bytes([k]) * (20 + k), seq=k, timestamp=0, ssrc=1) for k in range(5)]
    wire = frame_rfc4571(pkts[0]) + b"\x00\x03xyz\xff" + b"".join(frame_rfc4571(p) for p in pkts[1:])
    d, out = Rfc4571Decoder(), []
    for k in range(0, len(wire), 7):
        out += d.feed(wire[k:k + 7])
    assert out == pkts and d.bad > 0


# --- the path, end to end ------------------------------------------------------------------------------


class Source:
    """An opener as the SIP side will write one: a receiver plus a simulated camera sending to it."""

    def __init__(self, mode="udp", codec="h264", idle_s=5.0, **sender):
        self.mode, self.codec, self.idle_s, self.sender_kw = mode, codec, idle_s, sender
        self.opens = self.closes = 0
        self.rx = self.sender = None

    async def __call__(self):
        self.opens += 1
        self.rx = rx = await open_receiver(self.mode, HOST, ssrc=SSRC, idle_s=self.idle_s)
        kw = dict(ssrc=SSRC, codec=self.codec, size=(320, 180), fps=25, **self.sender_kw)
        if self.mode == "udp":
            self.sender = await start_ps_rtp((HOST, rx.port), "udp", **kw)
        elif self.mode == "tcp-passive":  # the device connects to us
            self.sender = await start_ps_rtp((HOST, rx.port), "tcp", **kw)
        else:  # we connect to the device
            self.sender = await start_ps_rtp(HOST, "tcp-listen", **kw)
            await rx.connect((HOST, self.sender.port))

        async def close():  # the caller's BYE
            self.closes += 1
            await self.sender.stop()
            rx.close()

        return rx, close


async def collect(viewer, seconds: float | None = None, chunks: int | None = None) -> bytes:
    """TS bytes from a viewer for ``seconds``, or ``chunks`` chunks (one per frame), or until it ends;
    bounded by 30 s. Leaving closes the viewer at once (as a server does when its client goes)."""
    out, n = bytearray(), 0
    deadline = time.monotonic() + (seconds or 30)

    async def run():
        nonlocal n
        it = viewer.__aiter__()
        try:
            async for chunk in it:
                out.extend(chunk)
                n += 1
                if time.monotonic() > deadline or (chunks is not None and n >= chunks):
                    return
        finally:
            await it.aclose()  # leave now, not when the generator is collected

    await asyncio.wait_for(run(), (seconds or 30) + 10)
    return bytes(out)


def decode(ts: bytes) -> list[tuple[int, bool, bytes]]:
    """(burned-in frame number, keyframe, luma digest) of every frame the TS decodes to."""
    out = []
    if len(ts) < 188 * 4:
        return out
    with av.open(io.BytesIO(ts), format="mpegts") as c:
        for f in c.decode(video=0):
            y = f.to_ndarray(format="gray")
            out.append((read_counter(f), f.key_frame, y[40:, :].tobytes()[::97]))
    return out


@pytest.fixture(scope="module", autouse=True)
def encoded_loops():
    """Encode the cameras' loops before any timing starts (an encode inside an opener blocks the loop)."""
    for codec in ("h264", "h265"):
        if codec_available(codec):
            encode_loop(codec, (320, 180), 25, 2.0)


@pytest.fixture
async def streams():
    s = LiveStreams(linger_s=0.5)
    yield s
    await s.close()


@pytest.mark.parametrize("mode", ["udp", "tcp-passive", "tcp-active"])
async def test_each_transport_delivers_video_that_decodes(streams, mode):
    src = Source(mode)
    ts = await collect(streams.watch("ch1", src), chunks=40)
    frames = decode(ts)
    assert len(frames) >= 39, len(frames)  # the last chunk's frame may need the next one to decode
    assert frames[0][1], "the stream starts at a keyframe"
    numbers = [n for n, _, _ in frames]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), numbers  # every frame, in order
    assert len({d for _, _, d in frames}) == len(frames), "the picture changes every frame"
    assert src.rx.stats.packets >= 40 and src.rx.stats.lost == 0 and src.rx.stats.bad == 0
    assert streams.stats()["by_key"]["ch1"]["source"]["packets"] >= 40
    await async_wait_for(lambda: src.closes == 1, timeout=5, what="BYE after the linger")
    assert src.opens == 1 and streams.stats()["streams"] == 0


@pytest.mark.skipif(not codec_available("h265"), reason="no libx265 in this PyAV build")
async def test_h265_is_remuxed_too(streams):
    src = Source("udp", codec="h265")
    viewer = streams.watch("ch265", src)
    ts = await collect(viewer, chunks=30)
    frames = decode(ts)
    assert len(frames) >= 29 and frames[0][1]
    with av.open(io.BytesIO(ts), format="mpegts") as c:
        assert c.streams.video[0].codec_context.name == "hevc"


async def test_a_camera_joined_mid_gop_without_a_psm_starts_at_its_next_keyframe(streams):
    # some devices send no PSM; a stream may also be picked up in the middle of a GOP (frame 13 of 25)
    src = Source("udp", psm=False, start_frame=13)
    frames = decode(await collect(streams.watch("ch-nopsm", src), chunks=20))
    assert len(frames) >= 19 and frames[0][1] and frames[0][0] == 25


async def test_a_device_clock_that_jumps_back_keeps_the_output_monotonic():
    # a camera that restarts its encoder starts its timestamps again: the TS must go on, not freeze
    frames = encode_loop("h264", (320, 180), 25, 2.0)
    ps = b"".join(ps_frame(frames[i % 50], (i % 50) * 3600, STREAM_TYPE["h264"]) for i in range(100))
    remux = Remuxer("jump")
    remux.start()
    for k in range(0, len(ps), 1400):
        remux.feed(ps[k:k + 1400])
    remux.end()
    chunks = []
    while (c := await asyncio.wait_for(remux.chunks.get(), 10)) is not None:
        chunks.append(c)
    assert len(chunks) == 100 and remux.reason == "source ended"
    with av.open(io.BytesIO(b"".join(c.data for c in chunks)), format="mpegts") as c:
        dts = [p.dts for p in c.demux(video=0) if p.dts is not None]
    assert len(dts) == 100 and all(b > a for a, b in itertools.pairwise(dts))


async def test_two_viewers_share_one_source_closed_once_after_the_linger(streams):
    src = Source("udp")
    a, b = streams.watch("ch2", src), streams.watch("ch2", src)
    got_a, got_b = await asyncio.gather(collect(a, seconds=1.5), collect(b, seconds=1.5))
    left = time.monotonic()
    assert src.opens == 1 and decode(got_a) and decode(got_b)
    await async_wait_for(lambda: src.closes == 1, timeout=5, what="the source closed")
    assert time.monotonic() - left >= 0.4, "closed before the linger"
    assert a.end_reason == "viewer left" and streams.last_end_reason["ch2"] == "no viewer for 0.5 s"
    await asyncio.sleep(0.3)
    assert src.closes == 1


async def test_a_viewer_back_within_the_linger_keeps_the_source(streams):
    src = Source("udp")
    await collect(streams.watch("ch3", src), seconds=0.6)
    ts = await collect(streams.watch("ch3", src), seconds=0.6)  # back before 0.5 s passed
    assert src.opens == 1 and src.closes == 0 and decode(ts)[0][1]


async def test_a_late_viewer_starts_at_a_keyframe_at_once(streams):
    src = Source("udp")  # keyframes every 25 frames
    first = streams.watch("ch4", src)
    task = asyncio.create_task(collect(first, seconds=30))

    def frames_out():
        return streams.stats()["by_key"].get("ch4", {}).get("frames", 0)

    # join after the second GOP has begun, 3 to 14 frames into a GOP: the next keyframe is ≥ 0.4 s away
    joined_at = await async_wait_for(lambda: (f := frames_out()) > 25 and 3 <= f % 25 <= 14 and f, timeout=10)
    late = streams.watch("ch4", src)
    t0 = time.monotonic()
    it = late.__aiter__()
    head = await it.__anext__()
    assert time.monotonic() - t0 < 0.3, "the GOP cache is served without waiting for the next keyframe"
    assert head[0] == 0x47 and head[1] & 0x1F == 0 and head[2] == 0  # a TS packet of PID 0: the PAT
    rest, n = bytearray(head), 1
    async for chunk in it:
        rest.extend(chunk)
        n += 1
        if n >= 20:
            break
    await it.aclose()
    frames = decode(bytes(rest))
    # the first frame is the keyframe that opened the current GOP (the picture's counter runs mod 50)
    assert frames[0][1] and frames[0][0] == (joined_at // 25 * 25) % 50, (joined_at, frames[0][0])
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert src.opens == 1


async def test_garbage_between_packets_is_dropped_and_the_video_still_decodes(streams):
    src = Source("udp", garbage_every=3)
    frames = decode(await collect(streams.watch("ch5", src), chunks=40))
    assert len(frames) >= 39 and src.rx.stats.bad >= 10


async def test_garbage_on_tcp_is_resynced(streams):
    src = Source("tcp-passive", garbage_every=3)
    frames = decode(await collect(streams.watch("ch6", src), chunks=40))
    assert len(frames) >= 39 and src.rx.stats.bad > 0


async def test_a_source_that_stops_sending_ends_every_viewer_with_the_reason(streams):
    src = Source("udp", idle_s=0.8, seconds=1.0)  # the camera goes silent after 1 s
    a, b = streams.watch("ch7", src), streams.watch("ch7", src)
    t0 = time.monotonic()
    ts_a, ts_b = await asyncio.gather(collect(a), collect(b))  # ends by itself
    assert time.monotonic() - t0 < 5
    assert a.end_reason.startswith("idle") and b.end_reason == a.end_reason
    assert len(decode(ts_a)) >= 15 and decode(ts_b)
    await async_wait_for(lambda: src.closes == 1, timeout=5, what="BYE after the device went silent")


async def test_a_device_closing_its_tcp_connection_ends_the_viewers(streams):
    src = Source("tcp-passive", seconds=1.0)
    viewer = streams.watch("ch8", src)
    task = asyncio.create_task(collect(viewer))
    await async_wait_for(lambda: src.sender is not None and src.sender.done.is_set(), timeout=10)
    await src.sender.stop()  # the device hangs up
    await asyncio.wait_for(task, 5)
    assert viewer.end_reason.startswith("eof")


async def test_a_device_that_never_sends_ends_the_viewer():
    streams = LiveStreams(linger_s=0)
    try:
        async def silent():
            rx = await open_receiver("udp", HOST, ssrc=SSRC, idle_s=0.5)
            return rx, lambda: asyncio.sleep(0)
        viewer = streams.watch("ch9", silent)
        assert await collect(viewer) == b""
        assert viewer.end_reason.startswith("idle: no packet")
    finally:
        await streams.close()


async def test_a_flood_of_garbage_alone_counts_as_silence():
    # junk keeps arriving at the port, but no RTP of our SSRC does: the stream must still end
    streams = LiveStreams(linger_s=0)
    junk = [b"", b"\x80", b"\x80\x60" + bytes(30), bytes(range(256)) * 5,
            build_rtp(b"\x00\x00\x01\xba" + bytes(100), seq=1, timestamp=0, ssrc=SSRC + 1)]  # another SSRC
    flooding = asyncio.Event()
    rx_box = []

    async def opener():
        rx = await open_receiver("udp", HOST, ssrc=SSRC, idle_s=0.5)
        rx_box.append(rx)
        flooding.set()
        return rx, lambda: asyncio.sleep(0)

    async def flood():
        await flooding.wait()
        tr, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=(HOST, rx_box[0].port))
        try:
            while True:
                for j in junk:
                    tr.sendto(j)
                await asyncio.sleep(0.01)
        finally:
            tr.close()

    flooder = asyncio.create_task(flood())
    try:
        viewer = streams.watch("ch-junk", opener)
        assert await collect(viewer) == b""
        assert viewer.end_reason.startswith("idle") and rx_box[0].stats.bad > 50 and rx_box[0].stats.packets == 0
    finally:
        flooder.cancel()
        await asyncio.gather(flooder, return_exceptions=True)
        await streams.close()


async def test_an_opener_that_fails_fails_its_viewers(streams):
    async def refused():
        raise ConnectionRefusedError("device answered 486 Busy Here")

    with pytest.raises(ConnectionRefusedError):
        await collect(streams.watch("ch10", refused))
    assert streams.stats()["streams"] == 0


async def test_a_viewer_gone_while_the_device_answers_still_gets_its_bye():
    streams = LiveStreams(linger_s=0)
    src = Source("udp")

    async def slow_invite():
        await asyncio.sleep(0.3)
        return await src()

    task = asyncio.create_task(collect(streams.watch("ch12", slow_invite)))
    await asyncio.sleep(0.1)
    task.cancel()  # the browser left before the device answered
    await asyncio.gather(task, return_exceptions=True)
    await async_wait_for(lambda: src.closes == 1, timeout=5, what="BYE for the stream nobody watches")
    assert src.opens == 1 and streams.stats()["streams"] == 0
    await streams.close()


async def test_a_slow_viewer_does_not_stall_a_fast_one():
    streams = LiveStreams(linger_s=0, viewer_queue_bytes=10_000)
    try:
        src = Source("udp")
        slow = streams.watch("ch11", src).__aiter__()
        await slow.__anext__()  # joined, then it stops reading for a while
        fast = streams.watch("ch11", src)
        t0 = time.monotonic()
        frames = decode(await collect(fast, chunks=50))
        assert len(frames) >= 49 and time.monotonic() - t0 < 5  # 2 s of video at 25 fps
        stats = streams.stats()["by_key"]["ch11"]
        assert stats["skips"] >= 1, stats
        # when it reads again, it goes on from a keyframe, not from a torn frame
        rest = bytearray()
        while len(decode(bytes(rest))) < 5:
            rest.extend(await asyncio.wait_for(slow.__anext__(), 5))
        assert decode(bytes(rest))[0][1]
        await slow.aclose()
    finally:
        await streams.close()
