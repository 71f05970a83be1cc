"""Video INVITE dialogs against the simulated device over real sockets: SDP offer/answer, 100/180/200/ACK,
RTP arriving at the offered port, BYE from either side, refusals, timeouts with CANCEL, a device going
offline, playback with INFO, server stop. Signalling over UDP and TCP."""

from __future__ import annotations

import asyncio
import shutil
import socket
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.ingest.gb28181 import Gb28181Server, sdp
from app.ingest.gb28181.invite import DeviceUnavailable, DialogError, InviteError, InviteTimeout
from tests.gb28181_peer import SimDevice
from tests.gb_server_fixtures import PASSWORD, nvr_with_camera, quiet_settings
from tests.waiting import async_wait_for

_ids = iter(range(1000, 10000))


@pytest.fixture(scope="module")
async def server():
    async with Gb28181Server(quiet_settings()) as srv:
        yield srv


@pytest.fixture(params=["UDP", "TCP"])
def signalling(request) -> str:
    return request.param


async def nvr(server: Gb28181Server, transport: str = "UDP", **kw) -> tuple[SimDevice, str]:
    """A registered NVR with one camera channel, its catalog known to the server; (device, channel)."""
    n = next(_ids)
    cam = f"3402000000131000{n}"
    return await nvr_with_camera(server, f"3402000000111000{n}", cam, transport, **kw), cam


class RtpSink(asyncio.DatagramProtocol):
    """The media receiver's place: a plain UDP socket counting RTP packets."""

    def __init__(self) -> None:
        self.packets: list[bytes] = []
        self.last = 0.0

    def datagram_received(self, data, addr) -> None:
        self.packets.append(data)
        self.last = asyncio.get_running_loop().time()

    @classmethod
    async def open(cls) -> tuple[RtpSink, int, asyncio.DatagramTransport]:
        tr, sink = await asyncio.get_running_loop().create_datagram_endpoint(cls, local_addr=("127.0.0.1", 0))
        return sink, tr.get_extra_info("sockname")[1], tr

    def ssrcs(self) -> set[int]:
        return {struct.unpack("!I", p[8:12])[0] for p in self.packets if len(p) >= 12}


async def quiet(sink: RtpSink, for_s: float = 0.3) -> None:
    """Wait until no packet arrived for ``for_s`` (the device stopped sending)."""
    loop = asyncio.get_running_loop()
    await async_wait_for(lambda: loop.time() - sink.last > for_s, what="the stream to stop")


def sent(dev: SimDevice, method: str, call_id: str | None = None) -> list:
    return [m for m in dev.received if m.method == method and (call_id is None or m.call_id == call_id)]


# --- SDP (pure) ------------------------------------------------------------------------------------


def test_live_udp_offer_is_wvps_rendering():
    body = sdp.offer(channel_id="34020000001310000001", media_host="10.0.0.5", media_port=30000, mode="udp",
                     ssrc="0020000001")
    assert body.decode().split("\r\n") == [
        "v=0", "o=34020000001310000001 0 0 IN IP4 10.0.0.5", "s=Play", "c=IN IP4 10.0.0.5", "t=0 0",
        "m=video 30000 RTP/AVP 96 97 98 99", "a=recvonly", "a=rtpmap:96 PS/90000", "a=rtpmap:98 H264/90000",
        "a=rtpmap:97 MPEG4/90000", "a=rtpmap:99 H265/90000", "y=0020000001", "",
    ]


def test_playback_and_download_offers_over_tcp():
    start, end = datetime(2026, 12, 1, 8, tzinfo=UTC), datetime(2026, 12, 1, 9, tzinfo=UTC)
    pb = sdp.parse(sdp.offer(channel_id="c1", media_host="h", media_port=1, mode="tcp-passive", ssrc="1",
                             kind="playback", start=start, end=end))
    assert (pb.name, pb.uri, pb.start, pb.end) == ("Playback", "c1:0", int(start.timestamp()), int(end.timestamp()))
    assert (pb.transport, pb.setup, pb.attributes["connection"]) == ("tcp", "passive", "new")
    dl = sdp.parse(sdp.offer(channel_id="c1", media_host="h", media_port=1, mode="tcp-active", ssrc="1",
                             kind="download", start=start, end=end, speed=4))
    assert (dl.name, dl.setup, dl.download_speed) == ("Download", "active", 4)
    with pytest.raises(ValueError):
        sdp.offer(channel_id="c", media_host="h", media_port=1, mode="udp", ssrc="1", kind="playback")
    with pytest.raises(ValueError):
        sdp.offer(channel_id="c", media_host="h", media_port=1, mode="rtsp", ssrc="1")


def test_answers_as_vendors_write_them():
    # LF line ends, session-level c=, an audio section after the video one, f= and y= at the end.
    hik = sdp.parse(
        b"v=0\no=34020000001320000001 0 0 IN IP4 192.168.1.64\ns=Play\nc=IN IP4 192.168.1.64\nt=0 0\n"
        b"m=video 15060 RTP/AVP 96\na=sendonly\na=rtpmap:96 PS/90000\nm=audio 15062 RTP/AVP 8\n"
        b"a=rtpmap:8 PCMA/8000\ny=0100000001\nf=v/2/5/25/1/4096a/1/8/1\n"
    )
    assert (hik.host, hik.port, hik.encoding, hik.direction) == ("192.168.1.64", 15060, "PS", "sendonly")
    assert (hik.ssrc, hik.media_format) == ("0100000001", "v/2/5/25/1/4096a/1/8/1")
    # media-level c= wins, TCP with setup, no y=, a stray x= line.
    tcp = sdp.parse(
        "v=0\r\no=- 0 0 IN IP4 1.1.1.1\r\ns=Play\r\nc=IN IP4 1.1.1.1\r\nt=0 0\r\nx=vendor\r\n"
        "m=video 9 TCP/RTP/AVP 98\r\nc=IN IP4 10.1.1.2\r\na=setup:ACTIVE\r\na=connection:new\r\n"
    )
    assert (tcp.host, tcp.port, tcp.transport, tcp.setup, tcp.ssrc, tcp.encoding) == (
        "10.1.1.2", 9, "tcp", "active", None, "H264")
    for bad in (b"v=0\r\nc=IN IP4 1.1.1.1\r\n", b"v=0\r\nm=video 1 RTP/AVP 96\r\n", b"m=video x RTP/AVP\n"):
        with pytest.raises(sdp.SdpError):
            sdp.parse(bad)


def test_ssrc_is_ten_digits_live_or_history():
    assert sdp.make_ssrc("play", "3402000000", 7) == "0200000007"
    assert sdp.make_ssrc("playback", "3402000000", 12345) == "1200002345"


# --- live ------------------------------------------------------------------------------------------


async def test_live_invite_streams_to_the_offered_port_until_bye(server, signalling):
    dev, cam = await nvr(server, signalling)
    sink, port, tr = await RtpSink.open()
    try:
        ssrc = server.next_ssrc("play")
        dialog = await server.invite(cam, "127.0.0.1", port, "udp", ssrc)
        assert (dialog.address, dialog.port, dialog.ssrc, dialog.setup) == ("127.0.0.1", 15060, ssrc, None)
        assert server.dialogs[dialog.call_id] is dialog
        invite = sent(dev, "INVITE")[0]
        assert invite.uri.startswith(f"sip:{cam}@")
        assert invite.get("Subject") == f"{cam}:{ssrc},{server.settings.server_id}:0"
        offer = sdp.parse(invite.body)
        assert (offer.name, offer.port, offer.ssrc, offer.transport) == ("Play", port, ssrc, "udp")
        assert invite.get("Content-Type").lower() == "application/sdp"
        ack = await async_wait_for(lambda: sent(dev, "ACK", dialog.call_id), what="ACK")
        assert ack[0].uri == f"sip:{dev.device_id}@{dev.ep.local[0]}:{dev.ep.local[1]}"  # the 200's Contact
        await async_wait_for(lambda: len(sink.packets) >= 10, what="RTP at the offered port")
        assert sink.ssrcs() == {int(ssrc)}
        assert await server.bye(dialog) is True
        assert dialog.ended.is_set() and dialog.end_reason == "bye" and dialog.call_id not in server.dialogs
        assert await server.bye(dialog) is False  # idempotent: no second BYE
        assert dev.byes == [dialog.call_id] and len(sent(dev, "BYE")) == 1
        bye = sent(dev, "BYE")[0]
        assert bye.cseq == (2, "BYE") and f"tag={dev.calls[dialog.call_id].to_tag}" in bye.get("To")
        await async_wait_for(lambda: dev.streaming == 0, what="the device's stream to stop")
        await quiet(sink)
    finally:
        tr.close()
        dev.ep.close()


async def test_real_h264_ps_arrives(server):
    dev, cam = await nvr(server, media="ps")
    sink, port, tr = await RtpSink.open()
    try:
        dialog = await server.invite(cam, "127.0.0.1", port, "udp", server.next_ssrc())
        await async_wait_for(lambda: len(sink.packets) >= 20, what="PS/RTP packets")
        first = sink.packets[0]
        assert first[1] & 0x7F == 96 and sink.ssrcs() == {int(dialog.ssrc)}
        assert any(p[12:16] == b"\x00\x00\x01\xba" for p in sink.packets)  # PS pack headers
        await server.bye(dialog)
        await async_wait_for(lambda: dev.streaming == 0)
    finally:
        tr.close()
        dev.ep.close()


async def read_rtp_over_tcp(reader: asyncio.StreamReader, n: int) -> list[bytes]:
    out = []
    while len(out) < n:
        (size,) = struct.unpack("!H", await reader.readexactly(2))
        out.append(await reader.readexactly(size))
    return out


async def test_tcp_passive_the_device_connects_to_us(server):
    dev, cam = await nvr(server)
    got: list[bytes] = []
    done = asyncio.Event()

    async def on_conn(reader, writer):
        got.extend(await read_rtp_over_tcp(reader, 5))
        done.set()
        writer.close()

    listener = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    try:
        port = listener.sockets[0].getsockname()[1]
        dialog = await server.invite(cam, "127.0.0.1", port, "tcp-passive", server.next_ssrc())
        offer = sdp.parse(sent(dev, "INVITE")[0].body)
        assert (offer.transport, offer.setup) == ("tcp", "passive")
        assert dialog.setup == "active"  # the device connects
        await asyncio.wait_for(done.wait(), 10)
        assert {struct.unpack("!I", p[8:12])[0] for p in got} == {int(dialog.ssrc)}
        await server.bye(dialog)
    finally:
        listener.close()
        dev.ep.close()


async def test_tcp_active_we_connect_to_the_device(server):
    dev, cam = await nvr(server)
    try:
        dialog = await server.invite(cam, "127.0.0.1", 9, "tcp-active", server.next_ssrc())
        assert dialog.setup == "passive" and dialog.port != 9
        reader, writer = await asyncio.open_connection(dialog.address, dialog.port)
        pkts = await asyncio.wait_for(read_rtp_over_tcp(reader, 5), 10)
        assert {struct.unpack("!I", p[8:12])[0] for p in pkts} == {int(dialog.ssrc)}
        writer.close()
        await server.bye(dialog)
        await async_wait_for(lambda: dev.streaming == 0)
    finally:
        dev.ep.close()


# --- failures --------------------------------------------------------------------------------------


async def test_no_answer_times_out_and_cancels(server, signalling):
    dev, cam = await nvr(server, signalling, invite_status=None)
    try:
        t0 = asyncio.get_running_loop().time()
        with pytest.raises(InviteTimeout) as e:
            await server.invite(cam, "127.0.0.1", 40000, "udp", server.next_ssrc(), timeout_s=1)
        assert asyncio.get_running_loop().time() - t0 < 3
        assert e.value.status == 408 and cam in str(e.value) and "cancelled" in str(e.value)
        call_id = sent(dev, "INVITE")[0].call_id
        cancel = await async_wait_for(lambda: sent(dev, "CANCEL", call_id), what="CANCEL")
        assert cancel[0].branch == sent(dev, "INVITE")[0].branch and cancel[0].cseq == (1, "CANCEL")
        # The device answered the CANCEL with 487 to the INVITE: that is ACKed, nothing left open.
        await async_wait_for(lambda: sent(dev, "ACK", call_id), what="ACK of the 487")
        assert not server.dialogs
    finally:
        dev.ep.close()


async def test_late_200_after_cancel_is_acked_and_byed(server):
    """The device ignores the CANCEL and answers 200 after we gave up: no stream may be left running."""
    dev, cam = await nvr(server, invite_delay_s=1.5, answer_cancel=False)
    try:
        with pytest.raises(InviteTimeout):
            await server.invite(cam, "127.0.0.1", 40400, "udp", server.next_ssrc(), timeout_s=0.5)
        assert len(sent(dev, "INVITE")) == 1  # the 100 stopped the retransmissions
        call_id = sent(dev, "INVITE")[0].call_id
        await async_wait_for(lambda: dev.byes == [call_id], what="the late dialog BYE'd")
        assert sent(dev, "ACK", call_id) and call_id not in server.dialogs
        await async_wait_for(lambda: dev.streaming == 0)
    finally:
        dev.ep.close()


async def test_slow_device_without_provisional_answers(server):
    """UDP: no 100 Trying, so the INVITE is retransmitted (Timer A) until the 200; still one dialog."""
    dev, cam = await nvr(server, invite_provisional=False, invite_delay_s=1.2)
    try:
        dialog = await server.invite(cam, "127.0.0.1", 40600, "udp", server.next_ssrc(), timeout_s=4)
        invites = sent(dev, "INVITE")
        assert len(invites) >= 2 and {m.branch for m in invites} == {invites[0].branch}
        assert list(server.dialogs).count(dialog.call_id) == 1 and len(dev.calls) == 1
        await server.bye(dialog)
    finally:
        dev.ep.close()


@pytest.mark.parametrize("code", [486, 488, 503])
async def test_refusal_is_a_clear_error_and_acked(server, code):
    dev, cam = await nvr(server, invite_status=code)
    try:
        with pytest.raises(InviteError) as e:
            await server.invite(cam, "127.0.0.1", 40000, "udp", server.next_ssrc())
        assert e.value.status == code and str(e.value).startswith(f"INVITE {cam}: {code} ")
        assert e.value.reason == {486: "Busy Here", 488: "Not Acceptable Here", 503: "Service Unavailable"}[code]
        call_id = sent(dev, "INVITE")[0].call_id
        ack = await async_wait_for(lambda: sent(dev, "ACK", call_id), what="ACK of the refusal")
        assert ack[0].branch == sent(dev, "INVITE")[0].branch  # hop by hop: the INVITE's transaction
        assert not server.dialogs
    finally:
        dev.ep.close()


async def test_unknown_channel_and_bad_mode(server):
    with pytest.raises(DeviceUnavailable):
        await server.invite("34020000001310009999", "127.0.0.1", 1, "udp", "0000000001")
    with pytest.raises(ValueError):
        await server.invite("34020000001310009999", "127.0.0.1", 1, "sctp", "0000000001")


async def test_device_bye_ends_the_dialog(server, signalling):
    dev, cam = await nvr(server, signalling)
    sink, port, tr = await RtpSink.open()
    try:
        dialog = await server.invite(cam, "127.0.0.1", port, "udp", server.next_ssrc())
        await async_wait_for(lambda: sink.packets, what="RTP")
        resp = await dev.send_bye(dialog.call_id)
        assert resp.status == 200
        await asyncio.wait_for(dialog.ended.wait(), 5)
        assert dialog.end_reason == "device bye" and dialog.call_id not in server.dialogs
        await async_wait_for(lambda: dev.streaming == 0)
        assert await server.bye(dialog) is False and not sent(dev, "BYE")  # already over: no BYE back
        assert (await dev.send_bye(dialog.call_id)).status == 481
    finally:
        tr.close()
        dev.ep.close()


async def test_unregistering_device_ends_its_dialogs(server, signalling):
    dev, cam = await nvr(server, signalling)
    try:
        dialogs = [await server.invite(cam, "127.0.0.1", 40000 + i, "udp", server.next_ssrc()) for i in range(2)]
        assert (await dev.register(expires=0)).status == 200
        for d in dialogs:
            await asyncio.wait_for(d.ended.wait(), 5)
            assert d.end_reason == "device offline (unregistered)"
        assert not any(d.device_id == dev.device_id for d in server.dialogs.values())
    finally:
        for c in dev.calls.values():
            if c.stream is not None:
                await c.stream.stop()
        dev.ep.close()


async def test_device_vanishing_mid_stream(server):
    dev, cam = await nvr(server)
    sink, port, tr = await RtpSink.open()
    try:
        dialog = await server.invite(cam, "127.0.0.1", port, "udp", server.next_ssrc())
        await async_wait_for(lambda: sink.packets)
        dev.vanish()
        await quiet(sink)
        assert await server.bye(dialog) is False  # nobody answers; the dialog is over anyway
        assert dialog.ended.is_set() and dialog.call_id not in server.dialogs
        with pytest.raises(DialogError):
            await server.playback_control(dialog, scale=2.0)
    finally:
        tr.close()
        dev.ep.close()


# --- playback --------------------------------------------------------------------------------------


async def test_playback_invite_and_info_control(server, signalling):
    dev, cam = await nvr(server, signalling)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    end = start + timedelta(minutes=30)
    try:
        ssrc = server.next_ssrc("playback")
        assert ssrc[0] == "1"
        dialog = await server.invite(cam, "127.0.0.1", 40100, "udp", ssrc, kind="playback", start=start, end=end)
        offer = sdp.parse(sent(dev, "INVITE")[0].body)
        assert (offer.name, offer.uri) == ("Playback", f"{cam}:0")
        assert (offer.start, offer.end) == (int(start.timestamp()), int(end.timestamp()))
        await server.playback_control(dialog, scale=2.0)
        await server.playback_control(dialog, pause=True)
        await server.playback_control(dialog, play=True)
        await server.playback_control(dialog, range_start=600)
        assert dev.infos == [
            "PLAY RTSP/1.0\r\nCSeq: 1\r\nScale: 2.0\r\n",
            "PAUSE RTSP/1.0\r\nCSeq: 2\r\nPauseTime: now\r\n",
            "PLAY RTSP/1.0\r\nCSeq: 3\r\nRange: npt=now-\r\n",
            "PLAY RTSP/1.0\r\nCSeq: 4\r\nRange: npt=600-\r\n",
        ]
        infos = sent(dev, "INFO", dialog.call_id)
        assert [m.cseq[0] for m in infos] == [2, 3, 4, 5]
        assert all(m.get("Content-Type") == "Application/MANSRTSP" for m in infos)
        with pytest.raises(ValueError):
            await server.playback_control(dialog, scale=2.0, pause=True)
        await server.bye(dialog)
        assert sent(dev, "BYE")[0].cseq == (6, "BYE")
        with pytest.raises(DialogError):
            await server.playback_control(dialog, play=True)
    finally:
        dev.ep.close()


async def test_download_invite_carries_the_speed(server):
    dev, cam = await nvr(server)
    start = datetime(2026, 12, 1, 8, tzinfo=UTC)
    try:
        dialog = await server.invite(cam, "127.0.0.1", 40200, "udp", server.next_ssrc("download"),
                                     kind="download", start=start, end=start + timedelta(hours=1), speed=4)
        offer = sdp.parse(sent(dev, "INVITE")[0].body)
        assert (offer.name, offer.download_speed) == ("Download", 4)
        await server.bye(dialog)
    finally:
        dev.ep.close()


async def test_server_stop_byes_every_dialog():
    async with Gb28181Server(quiet_settings()) as srv:
        dev, cam = await nvr(srv)
        dialog = await srv.invite(cam, "127.0.0.1", 40300, "udp", srv.next_ssrc())
    try:
        assert dialog.end_reason == "server stopping"
        assert dev.byes == [dialog.call_id]
        await async_wait_for(lambda: dev.streaming == 0)
    finally:
        dev.ep.close()


async def test_sipp_device_answers_invite():
    """SIPp as the camera: REGISTER, then its out-of-call scenario answers our INVITE and BYE."""
    sipp = shutil.which("sipp")
    assert sipp, "sipp is required (apt install sip-tester)"
    scenarios = Path(__file__).resolve().parents[1] / "sipp"
    device = "34020000001320000555"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        sipp_port = s.getsockname()[1]
    async with Gb28181Server(quiet_settings(tcp=False, catalog_on_register=False)) as srv:
        proc = await asyncio.create_subprocess_exec(
            sipp, f"127.0.0.1:{srv.udp_port}", "-sf", str(scenarios / "register_and_wait.xml"),
            "-oocsf", str(scenarios / "invite_device.xml"), "-s", device, "-au", device, "-ap", PASSWORD,
            "-i", "127.0.0.1", "-p", str(sipp_port), "-m", "1", "-nostdin",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await async_wait_for(lambda: srv.registry.get(device), what="SIPp registered")
            ssrc = srv.next_ssrc()
            dialog = await srv.invite(device, "127.0.0.1", 40500, "udp", ssrc)  # a camera is its own channel
            assert (dialog.address, dialog.port, dialog.ssrc) == ("127.0.0.1", 15062, ssrc)
            assert dialog.answer.direction == "sendonly" and dialog.answer.media_format == "v/2/5/25/1/4096a///"
            assert dialog.remote_uri == f"sip:{device}@127.0.0.1:{sipp_port}"
            assert await srv.bye(dialog) is True
        finally:
            proc.terminate()
            await proc.wait()
