"""The cascade's pure parts and its RTP sender: an upper's INVITE read (transport roles, playback range),
our answer; MPEG-TS back to PS packs that FFmpeg decodes (PSM before each keyframe); RTP/PS pushed over TCP
(RFC 4571) to a listening upper; catalog changes as an upper is told them."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from fractions import Fraction

import av
import pytest

from app.ingest.gb28181 import sdp, sip
from app.ingest.gb28181.upper_invite import OfferError, answer, read_offer, read_rtsp
from app.ingest.gb28181.upper_subscriptions import catalog_change
from app.media.ps_sender import PsRtpPusher, TsDemux, ps_pack
from app.media.rtp import Rfc4571Decoder, parse_rtp
from tests.media_source import encode_loop

CH = "34020000001320000001"


def _invite(body: bytes, user: str = CH) -> sip.SipMessage:
    msg = sip.SipMessage(method="INVITE", uri=f"sip:{user}@127.0.0.1:5060")
    msg.headers = [("From", "<sip:44010000002000000001@4401000000>;tag=a"), ("To", f"<sip:{user}@3402000000>"),
                   ("Call-ID", "c1"), ("CSeq", "1 INVITE")]
    msg.body = body
    return msg


def test_offer_roles_range_and_answer():
    tcp = sdp.offer(channel_id=CH, media_host="10.0.0.9", media_port=30000, mode="tcp-passive", ssrc="0123450001")
    o = read_offer(_invite(tcp))
    assert (o.kind, o.host, o.port, o.mode, o.ssrc_value) == ("play", "10.0.0.9", 30000, "tcp-active", 123450001)
    assert read_offer(_invite(tcp.replace(b"setup:passive", b"setup:active"))).mode == "tcp-passive"
    start, end = datetime(2026, 12, 1, 8, tzinfo=UTC), datetime(2026, 12, 1, 9, tzinfo=UTC)
    pb = read_offer(_invite(sdp.offer(channel_id=CH, media_host="10.0.0.9", media_port=1, mode="udp",
                                      ssrc="1123450002", kind="playback", start=start, end=end)))
    assert (pb.kind, pb.start, pb.end, pb.mode) == ("playback", start, end, "udp")
    body = answer(pb, "10.0.0.1", 40000).decode()
    assert "s=Playback" in body and "a=sendonly" in body and "y=1123450002" in body
    assert "m=video 40000 RTP/AVP 96" in body
    with pytest.raises(OfferError) as e:
        read_offer(_invite(tcp, user="bogus"))
    assert e.value.status == 404
    with pytest.raises(OfferError) as e:
        read_offer(_invite(tcp.replace(b"s=Play", b"s=Talk")))
    assert e.value.status == 488


def _ts(n: int = 25) -> tuple[bytes, int]:
    frames = encode_loop("h264", (320, 180), 25, 1.0)[:n]
    buf = io.BytesIO()
    with av.open(buf, "w", format="mpegts") as out:
        s = out.add_stream("h264", rate=25)
        s.width, s.height, s.time_base = 320, 180, Fraction(1, 90000)
        for i, f in enumerate(frames):
            p = av.Packet(f.data)
            p.pts = p.dts = i * 3600
            p.time_base, p.stream, p.is_keyframe = Fraction(1, 90000), s, f.key
            out.mux(p)
    return buf.getvalue(), len(frames)


def test_ts_back_to_ps_decodes():
    ts, n = _ts()
    demux = TsDemux()
    aus = demux.feed(ts[:1000]) + demux.feed(ts[1000:]) + demux.flush()  # split anywhere
    assert len(aus) == n and demux.stream_type == 0x1B and aus[0].key and not aus[1].key
    assert [a.pts for a in aus[:3]] == [aus[0].pts, aus[0].pts + 3600, aus[0].pts + 7200]
    packs = [ps_pack(a, 0x1B) for a in aus]
    assert b"\x00\x00\x01\xbc" in packs[0] and b"\x00\x00\x01\xbc" not in packs[1]  # PSM before keyframes only
    with av.open(io.BytesIO(b"".join(packs)), format="mpeg") as c:
        assert sum(1 for _ in c.decode(video=0)) == n


async def test_push_over_tcp_to_a_listening_upper():
    ts, n = _ts(10)
    got, done = Rfc4571Decoder(), asyncio.Event()
    packets: list[bytes] = []

    async def upper(reader, writer):
        while data := await reader.read(65536):
            packets.extend(got.feed(data))
        done.set()

    server = await asyncio.start_server(upper, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def chunks():
        yield ts

    pusher = PsRtpPusher("tcp-active", ("127.0.0.1", port), 1123450002)
    await pusher.open("127.0.0.1")
    await pusher.push(chunks())
    pusher.close()
    await asyncio.wait_for(done.wait(), 5)
    server.close()
    rtp = [parse_rtp(p) for p in packets]
    assert pusher.frames_sent == n and len(rtp) == pusher.packets_sent
    assert {p.ssrc for p in rtp} == {1123450002} and {p.payload_type for p in rtp} == {96}
    assert [p.seq for p in rtp] == list(range(len(rtp))) and sum(p.marker for p in rtp) == n
    with av.open(io.BytesIO(b"".join(p.payload for p in rtp)), format="mpeg") as c:
        assert sum(1 for _ in c.decode(video=0)) == n


def test_catalog_changes():
    known: dict = {}
    item = {"DeviceID": "X", "Name": "a", "Status": "ON"}
    assert catalog_change(known, "X", item)["Event"] == "ADD"
    assert catalog_change(known, "X", dict(item)) is None
    assert catalog_change(known, "X", {**item, "Status": "OFF"}) == {"DeviceID": "X", "Event": "OFF"}
    assert catalog_change(known, "X", {**item, "Name": "b", "Status": "OFF"})["Event"] == "UPDATE"
    assert catalog_change(known, "X", None) == {"DeviceID": "X", "Event": "DEL"}
    assert catalog_change(known, "X", None) is None and not known


def test_playback_commands_from_the_upper():
    assert read_rtsp(b"PAUSE RTSP/1.0\r\nCSeq: 3\r\nPauseTime: now\r\n") == {"pause": True}
    assert read_rtsp(b"PLAY RTSP/1.0\r\nCSeq: 4\r\nScale: 0.5\r\n") == {"scale": 0.5}
    assert read_rtsp(b"PLAY RTSP/1.0\r\nCSeq: 5\r\nRange: npt=42-\r\n") == {"range_start": 42.0}
    assert read_rtsp(b"PLAY RTSP/1.0\r\nCSeq: 6\r\nRange: npt=now-\r\n") == {"play": True}
    assert read_rtsp(b"TEARDOWN RTSP/1.0\r\nCSeq: 7\r\n") is None
