"""A simulated GB/T 28181 UPPER platform (上级) for cascade tests: a small SIP server over UDP and TCP.

It challenges REGISTER with a 401 digest (WVP's shape), checks the answer (403 "wrong password" when it is
wrong), grants the expiry, answers Keepalive MESSAGEs (404 from a lower it does not know, as after its own
restart), records an ``Expires: 0`` unregister, and can send a Catalog query to a registered lower and
collect the answer MESSAGEs until ``SumNum`` items arrived. ``stop`` takes it off the network (the upper
going away); ``start`` on the same port brings it back with no memory of the lower.

As WVP plays a lower platform's channel: ``invite`` (SDP offer: where to send, ``y=`` SSRC; ACK of the 200),
RTP received on a UDP port of its own (``RtpSink``: the PS bytes in sequence order), ``bye``. ``subscribe``
opens (and refreshes, and with ``expires=0`` ends) a subscription; the lower's NOTIFYs, MESSAGEs (alarms)
and BYEs are recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from app.ingest.gb28181 import digest, manscdp, sdp, sip
from tests.waiting import async_wait_for


@dataclass
class Lower:
    device_id: str
    addr: tuple[str, int]
    transport: str
    send: object
    expires: int


@dataclass
class CatalogAnswer:
    sn: int
    sum_num: int | None = None
    items: list[dict[str, str]] = field(default_factory=list)
    messages: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


class UpperPeer:
    def __init__(self, sip_id: str = "44010000002000000001", password: str = "upper-secret",
                 domain: str | None = None, host: str = "127.0.0.1") -> None:
        self.sip_id, self.password, self.host = sip_id, password, host
        self.grant_expires: int | None = None  # an expiry shorter than asked (tests of the refresh)
        self.call_ids: list[str] = []  # of the accepted REGISTERs
        self.domain = domain or sip_id[:10]
        self.port = 0
        self.lowers: dict[str, Lower] = {}
        self.registers: list[tuple[str, int, int]] = []  # (lower id, expires asked, final status)
        self.unregistered: list[str] = []
        self.keepalives: dict[str, int] = {}
        self.catalogs: dict[int, CatalogAnswer] = {}
        self.answers: dict[int, dict[str, str]] = {}  # other Responses (DeviceInfo…) by SN
        self.pending: dict[str, asyncio.Future] = {}
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self._nonces: set[str] = set()
        self._sn = 100
        self.notifies: list[tuple[str, manscdp.Document]] = []  # (Call-ID, body) of NOTIFYs with a body
        self.byes: list[str] = []  # Call-IDs the lower ended
        self.alarms: list[dict[str, str]] = []

    # --- network --------------------------------------------------------------------------------------

    async def start(self, port: int | None = None) -> UpperPeer:
        loop = asyncio.get_running_loop()
        peer = self

        class Udp(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                with contextlib.suppress(sip.SipParseError):
                    peer._on(sip.parse_datagram(data), (addr[0], addr[1]), "UDP",
                             lambda b, a=(addr[0], addr[1]): peer._udp.sendto(b, a))

        for attempt in range(20):  # an ephemeral UDP port may be taken for TCP by someone else: pick again
            self._udp, _ = await loop.create_datagram_endpoint(Udp, local_addr=(self.host, port or self.port))
            self.port = self._udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, self.port)
                return self
            except OSError:
                self._udp.close()
                if port or attempt == 19:
                    raise
                self.port = 0
        return self

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        peer = writer.get_extra_info("peername")
        framer = sip.StreamFramer(1 << 20)
        try:
            while data := await reader.read(65536):
                for msg in framer.feed(data):
                    self._on(msg, (peer[0], peer[1]), "TCP", writer.write)
        except (ConnectionError, sip.SipParseError):
            pass
        finally:
            self._conns.discard(writer)
            writer.close()

    async def stop(self) -> None:
        """Gone from the network, and it forgets every lower (as a restarted upper would)."""
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            for w in list(self._conns):
                w.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp.wait_closed(), 2)
        self._udp = self._tcp = None
        self.lowers.clear()

    # --- requests in ----------------------------------------------------------------------------------

    def _reply(self, req: sip.SipMessage, addr, send, status: int, reason: str = "", headers=()) -> None:
        resp = sip.make_response(req, status, reason, received=addr)
        resp.headers += list(headers)
        send(resp.to_bytes())

    def _on(self, msg: sip.SipMessage, addr, transport: str, send) -> None:
        if not msg.is_request:
            fut = self.pending.get(msg.branch)
            if fut is not None and not fut.done() and (msg.status or 0) >= 200:
                fut.set_result(msg)
            return
        if msg.method == "REGISTER":
            self._on_register(msg, addr, transport, send)
        elif msg.method == "MESSAGE":
            self._on_message(msg, addr, send)
        elif msg.method == "NOTIFY":
            self._reply(msg, addr, send, 200)
            if msg.body:
                self.notifies.append((msg.call_id, manscdp.parse(msg.body, msg.get("Content-Type"))))
        elif msg.method == "BYE":
            self._reply(msg, addr, send, 200)
            self.byes.append(msg.call_id)
        elif msg.method != "ACK":
            self._reply(msg, addr, send, 405)

    def _on_register(self, msg, addr, transport, send) -> None:
        lower = sip.uri_user(msg.get("From") or "")
        expires = int(msg.get("Expires") or "3600")
        params = digest.parse_authorization(msg.get("Authorization") or "")
        if not params or params.get("nonce") not in self._nonces:
            nonce = digest.new_nonce()
            self._nonces.add(nonce)
            self._reply(msg, addr, send, 401, headers=[("WWW-Authenticate", digest.challenge(self.domain, nonce))])
            self.registers.append((lower, expires, 401))
            return
        if params.get("username") != lower or not digest.verify(params, self.password, "REGISTER"):
            self._reply(msg, addr, send, 403, "wrong password")
            self.registers.append((lower, expires, 403))
            return
        self.registers.append((lower, expires, 200))
        self.call_ids.append(msg.call_id)
        if expires and self.grant_expires:
            expires = self.grant_expires
        if expires == 0:
            self.lowers.pop(lower, None)
            self.unregistered.append(lower)
        else:
            self.lowers[lower] = Lower(lower, addr, transport, send, expires)
        self._reply(msg, addr, send, 200, headers=[("Expires", str(expires)), ("Date", "2026-12-03T12:00:00.000")])

    def _on_message(self, msg, addr, send) -> None:
        lower = sip.uri_user(msg.get("From") or "")
        if lower not in self.lowers:
            self._reply(msg, addr, send, 404, "Not Registered")
            return
        doc = manscdp.parse(msg.body, msg.get("Content-Type"))
        self._reply(msg, addr, send, 200)
        cmd = doc.cmd_type.lower()
        if cmd == "keepalive":
            self.keepalives[lower] = self.keepalives.get(lower, 0) + 1
        elif cmd == "catalog" and doc.root.lower() == "response":
            ans = self.catalogs.setdefault(doc.sn or 0, CatalogAnswer(doc.sn or 0))
            ans.messages += 1
            ans.sum_num = int(manscdp.text(doc.el, "SumNum") or 0)
            raw = ET.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", manscdp.decode(msg.body)).strip())
            dl = raw.find("DeviceList")  # exact element case, as the standard spells it
            assert dl is not None and int(dl.get("Num", "-1")) == len(dl), "DeviceList Num"
            for it in (dl if dl is not None else []):
                ans.items.append({c.tag: (c.text or "") if len(c) == 0 else
                                  ET.tostring(c, encoding="unicode") for c in it})
            if len(ans.items) >= ans.sum_num:
                ans.done.set()
        elif cmd == "alarm" and doc.root.lower() == "notify":
            self.alarms.append({c.tag: c.text or "" for c in doc.el})
        elif doc.root.lower() == "response":
            self.answers[doc.sn or 0] = {c.tag: c.text or "" for c in doc.el}

    # --- requests out ---------------------------------------------------------------------------------

    async def query_catalog(self, lower_id: str, timeout_s: float = 30.0) -> CatalogAnswer:
        """Catalog query to a registered lower, as WVP sends it; waits until SumNum items arrived."""
        low = self.lowers[lower_id]
        resp, ans = await self.catalog_request(lower_id, low.addr, low.transport, low.send)
        assert resp.status == 200, (resp.status, resp.reason)
        await asyncio.wait_for(ans.done.wait(), timeout_s)
        return ans

    async def ask(self, lower_id: str, cmd: str) -> dict[str, str]:
        """A DeviceInfo / DeviceStatus query to a registered lower: its answer's fields (lower-case tags)."""
        low = self.lowers[lower_id]
        resp, _ = await self.catalog_request(lower_id, low.addr, low.transport, low.send, cmd)
        assert resp.status == 200, (resp.status, resp.reason)
        sn = self._sn
        return await async_wait_for(lambda: self.answers.get(sn), timeout=10, what=f"the {cmd} answer")

    async def catalog_request(self, lower_id: str, addr, transport: str = "UDP", send=None, cmd: str = "Catalog"):
        """The query itself (to any address, over UDP unless ``send`` is given): (its answer, the collector)."""
        send = send or (lambda b: self._udp.sendto(b, addr))
        self._sn += 1
        sn = self._sn
        ans = self.catalogs[sn] = CatalogAnswer(sn)
        req = sip.SipMessage(method="MESSAGE", uri=f"sip:{lower_id}@{addr[0]}:{addr[1]}")
        req.headers = [
            ("Via", f"SIP/2.0/{transport} {self.host}:{self.port};rport;branch={sip.new_branch()}"),
            ("From", f"<sip:{self.sip_id}@{self.domain}>;tag={sip.new_tag()}"),
            ("To", f"<sip:{lower_id}@{lower_id[:10]}>"),
            ("Call-ID", f"{sip.new_tag()}@127.0.0.1"), ("CSeq", "1 MESSAGE"), ("Max-Forwards", "70"),
            ("Content-Type", "Application/MANSCDP+xml"),
        ]
        req.body = manscdp.build("Query", cmd, sn, lower_id)
        fut = asyncio.get_running_loop().create_future()
        self.pending[req.branch] = fut
        send(req.to_bytes())
        return await asyncio.wait_for(fut, 5), ans

    # --- video and subscriptions ----------------------------------------------------------------------

    def _request(self, lower_id: str, method: str, call: Dialog | None = None, headers=(), body: bytes = b"",
                 content_type: str | None = None, uri_user: str | None = None) -> sip.SipMessage:
        low = self.lowers[lower_id]
        call = call or Dialog(f"{sip.new_tag()}@{self.host}", sip.new_tag())
        call.cseq += 1
        req = sip.SipMessage(method=method, uri=f"sip:{uri_user or lower_id}@{low.addr[0]}:{low.addr[1]}")
        to = f"<sip:{uri_user or lower_id}@{lower_id[:10]}>" + (f";tag={call.remote_tag}" if call.remote_tag else "")
        req.headers = [
            ("Via", f"SIP/2.0/{low.transport} {self.host}:{self.port};rport;branch={sip.new_branch()}"),
            ("From", f"<sip:{self.sip_id}@{self.domain}>;tag={call.tag}"), ("To", to),
            ("Call-ID", call.call_id), ("CSeq", f"{call.cseq} {method}"), ("Max-Forwards", "70"),
            ("Contact", f"<sip:{self.sip_id}@{self.host}:{self.port}>"), *headers,
        ]
        if content_type:
            req.headers.append(("Content-Type", content_type))
        req.body = body
        return req

    async def _send(self, lower_id: str, req: sip.SipMessage, timeout_s: float = 25.0) -> sip.SipMessage:
        fut = asyncio.get_running_loop().create_future()
        self.pending[req.branch] = fut
        self.lowers[lower_id].send(req.to_bytes())
        return await asyncio.wait_for(fut, timeout_s)

    async def invite(self, lower_id: str, channel_id: str, rtp_port: int, ssrc: str = "0440100001",
                     kind: str = "play", start=None, end=None) -> tuple[sip.SipMessage, Dialog]:
        """INVITE for ``channel_id`` (RTP to this host's ``rtp_port`` over UDP); its final answer, ACKed."""
        call = Dialog(f"{sip.new_tag()}@{self.host}", sip.new_tag())
        offer = sdp.offer(channel_id=channel_id, media_host=self.host, media_port=rtp_port, mode="udp", ssrc=ssrc,
                          kind=kind, start=start, end=end)
        req = self._request(lower_id, "INVITE", call, [("Subject", f"{channel_id}:{ssrc},{self.sip_id}:0")],
                            offer, "APPLICATION/SDP", uri_user=channel_id)
        resp = await self._send(lower_id, req)
        if resp.status == 200:
            call.remote_tag = sip.header_params(resp.get("To") or "").get("tag")
            call.channel_id = channel_id
            ack = self._request(lower_id, "ACK", call, uri_user=channel_id)
            ack.headers = [(k, f"{call.cseq - 1} ACK" if k == "CSeq" else v) for k, v in ack.headers]
            self.lowers[lower_id].send(ack.to_bytes())
        return resp, call

    async def bye(self, lower_id: str, call: Dialog) -> sip.SipMessage:
        return await self._send(lower_id, self._request(lower_id, "BYE", call, uri_user=call.channel_id), 10)

    async def info(self, lower_id: str, call: Dialog, rtsp: str) -> sip.SipMessage:
        """Playback control (MANSRTSP) inside the INVITE dialog ``call``."""
        req = self._request(lower_id, "INFO", call, body=rtsp.encode(), content_type="Application/MANSRTSP",
                            uri_user=call.channel_id)
        return await self._send(lower_id, req, 10)

    async def subscribe(self, lower_id: str, cmd: str = "Catalog", expires: int = 3600,
                        call: Dialog | None = None) -> tuple[sip.SipMessage, Dialog]:
        """SUBSCRIBE (a refresh or, with ``expires`` 0, the end when ``call`` is given)."""
        call = call or Dialog(f"{sip.new_tag()}@{self.host}", sip.new_tag())
        self._sn += 1
        body = manscdp.build("Query", cmd, self._sn, lower_id, {"Interval": "5"} if cmd == "MobilePosition" else None)
        req = self._request(lower_id, "SUBSCRIBE", call, [("Event", f"{cmd};id=1"), ("Expires", str(expires))],
                            body, "Application/MANSCDP+xml")
        resp = await self._send(lower_id, req, 10)
        call.remote_tag = call.remote_tag or sip.header_params(resp.get("To") or "").get("tag")
        return resp, call

    def catalog_events(self, call: Dialog) -> list[dict[str, str]]:
        """Every catalog item NOTIFYed in the subscription ``call``, in order (each with its Event)."""
        out = []
        for cid, doc in self.notifies:
            if cid == call.call_id and doc.cmd_type.lower() == "catalog":
                dl = doc.el.find("devicelist")
                for it in (dl if dl is not None else []):
                    out.append({c.tag: c.text or "" for c in it})
        return out


@dataclass
class Dialog:
    call_id: str
    tag: str
    remote_tag: str | None = None
    cseq: int = 0
    channel_id: str | None = None


class RtpSink(asyncio.DatagramProtocol):
    """A UDP port receiving RTP: the packets, and their payloads joined in sequence order (the PS)."""

    def __init__(self) -> None:
        self.packets: list[tuple[int, int, int, bool, bytes]] = []  # (seq, timestamp, ssrc, marker, payload)
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    @classmethod
    async def open(cls, host: str = "127.0.0.1") -> RtpSink:
        tr, sink = await asyncio.get_running_loop().create_datagram_endpoint(cls, local_addr=(host, 0))
        sink.transport, sink.port = tr, tr.get_extra_info("sockname")[1]
        return sink

    def datagram_received(self, data: bytes, addr) -> None:
        b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
        if b0 >> 6 == 2:
            self.packets.append((seq, ts, ssrc, bool(b1 & 0x80), data[12:]))

    def ps(self) -> bytes:
        return b"".join(p[4] for p in sorted(self.packets, key=lambda p: p[0]))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
