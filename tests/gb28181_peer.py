"""A GB/T 28181 device and lower-platform simulator (asyncio), for tests and the benchmark.

Many simulated devices share one UDP socket (as channels behind an NVR or a lower platform do) or
each has its own TCP connection. A device registers with digest auth, sends keepalives, answers the
platform's Catalog query in several MESSAGEs (SumNum), accepts SUBSCRIBE and DeviceControl, and sends
MobilePosition (flat or DeviceList form, NOTIFY or MESSAGE), alarms and catalog NOTIFY events, with
GB2312 bodies by default. Requests the platform sends are recorded in ``device.received``.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from xml.sax.saxutils import escape

from app.ingest.gb28181 import digest, sip


@dataclass
class Channel:
    gb_id: str
    name: str
    lon: float | None = None
    lat: float | None = None
    ptz_type: int | None = None
    civil_code: str | None = None
    status: str = "ON"
    parent_id: str | None = None
    secrecy: int = 0
    direction_type: int | None = None
    info_inside: bool = True  # PTZType inside <Info> (WVP) or at item level (other vendors)

    def xml(self, event: str | None = None, lowercase_info: bool = False) -> str:
        info_tag = "info" if lowercase_info else "Info"
        parts = [
            f"<DeviceID>{self.gb_id}</DeviceID>",
            f"<Name>{escape(self.name)}</Name>",
            "<Manufacturer>SimCam</Manufacturer>",
            "<Model>SIM-1</Model>",
            "<Owner>Owner</Owner>",
        ]
        if self.civil_code:
            parts.append(f"<CivilCode>{self.civil_code}</CivilCode>")
        parts += ["<Address>Addr</Address>", "<Parental>0</Parental>"]
        if self.parent_id:
            parts.append(f"<ParentID>{self.parent_id}</ParentID>")
        parts += [
            "<SafetyWay>0</SafetyWay>",
            "<RegisterWay>1</RegisterWay>",
            f"<Secrecy>{self.secrecy}</Secrecy>",
            f"<Status>{self.status}</Status>",
            "<VendorExtra>x</VendorExtra>",
        ]
        if self.lon is not None:
            parts += [f"<Longitude>{self.lon}</Longitude>", f"<Latitude>{self.lat}</Latitude>"]
        info = ""
        if self.ptz_type is not None:
            ptz = f"<PTZType>{self.ptz_type}</PTZType>"
            if self.info_inside:
                info += ptz
            else:
                parts.append(ptz)
        if self.direction_type is not None:
            info += f"<DirectionType>{self.direction_type}</DirectionType>"
        if info:
            parts.append(f"<{info_tag}>{info}</{info_tag}>")
        if event:
            parts.append(f"<Event>{event}</Event>")
        return "<Item>" + "".join(parts) + "</Item>"


def body(root: str, cmd: str, sn: int, device_id: str, inner: str, charset: str = "GB2312") -> bytes:
    xml = (
        f'<?xml version="1.0" encoding="{charset}"?>\r\n<{root}>\r\n<CmdType>{cmd}</CmdType>\r\n'
        f"<SN>{sn}</SN>\r\n<DeviceID>{device_id}</DeviceID>\r\n{inner}</{root}>\r\n"
    )
    return xml.encode("gb18030" if charset.upper() in ("GB2312", "GB18030", "GBK") else "utf-8")


class PeerEndpoint:
    """One UDP socket or one TCP connection, shared by the devices attached to it."""

    def __init__(self, transport: str = "UDP") -> None:
        self.transport_name = transport
        self.devices: dict[str, SimDevice] = {}
        self.pending: dict[str, asyncio.Future] = {}
        self.local: tuple[str, int] = ("127.0.0.1", 0)
        self._udp: asyncio.DatagramTransport | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task | None = None
        self.server: tuple[str, int] = ("127.0.0.1", 0)
        self.stray = 0

    @classmethod
    async def open(cls, server: tuple[str, int], transport: str = "UDP") -> PeerEndpoint:
        ep = cls(transport)
        ep.server = server
        loop = asyncio.get_running_loop()
        if transport == "UDP":
            ep._udp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpPeer(ep), local_addr=("127.0.0.1", 0)
            )
            ep.local = ep._udp.get_extra_info("sockname")[:2]
        else:
            reader, ep._writer = await asyncio.open_connection(*server)
            ep.local = ep._writer.get_extra_info("sockname")[:2]
            ep._reader_task = asyncio.create_task(ep._read_tcp(reader))
        return ep

    async def _read_tcp(self, reader: asyncio.StreamReader) -> None:
        framer = sip.StreamFramer(1 << 20)
        while data := await reader.read(65536):
            for msg in framer.feed(data):
                self.on_message(msg)

    def send_raw(self, data: bytes) -> None:
        if self._udp is not None:
            if not self._udp.is_closing():
                self._udp.sendto(data, self.server)
        elif self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    def on_message(self, msg: sip.SipMessage) -> None:
        if not msg.is_request:
            fut = self.pending.get(msg.branch)
            if fut is not None and not fut.done() and (msg.status or 0) >= 200:
                fut.set_result(msg)
            return
        dev = self.devices.get(sip.uri_user(msg.uri or ""))
        if dev is None:
            self.stray += 1
            return
        dev.on_request(msg)

    async def transact(self, msg: sip.SipMessage, timeout_s: float = 5.0) -> sip.SipMessage | None:
        """Send a request and wait for its final response (UDP: retransmitted every 0.5→4 s)."""
        fut = asyncio.get_running_loop().create_future()
        self.pending[msg.branch] = fut
        data = msg.to_bytes()
        try:
            interval, waited = 0.5, 0.0
            self.send_raw(data)
            while waited < timeout_s:
                step = min(interval, timeout_s - waited) if self._udp else timeout_s
                done, _ = await asyncio.wait({fut}, timeout=step)
                if done:
                    return fut.result()
                waited += step
                if self._udp:
                    self.send_raw(data)
                    interval = min(interval * 2, 4.0)
            return None
        finally:
            self.pending.pop(msg.branch, None)

    def close(self) -> None:
        if self._udp:
            self._udp.close()
        if self._writer:
            self._writer.close()
        if self._reader_task:
            self._reader_task.cancel()


class _UdpPeer(asyncio.DatagramProtocol):
    def __init__(self, ep: PeerEndpoint) -> None:
        self.ep = ep

    def datagram_received(self, data, addr) -> None:
        try:
            msg = sip.parse_datagram(data)
        except sip.SipParseError:
            self.ep.stray += 1
            return
        self.ep.on_message(msg)


@dataclass
class SimDevice:
    ep: PeerEndpoint
    device_id: str
    password: str
    server_id: str = "34020000002000000001"
    domain: str = "3402000000"
    channels: list[Channel] = field(default_factory=list)
    charset: str = "GB2312"
    page_size: int = 2  # catalog items per MESSAGE, so answers span several messages
    qop: bool = True
    answer_catalog: bool = True
    grant_expires: int | None = None  # Expires granted to SUBSCRIBE (None: what was asked)
    received: list[sip.SipMessage] = field(default_factory=list)
    subscriptions: dict[str, sip.SipMessage] = field(default_factory=dict)
    guard: bool = False
    call_id: str = field(default_factory=lambda: secrets.token_hex(8))
    from_tag: str = field(default_factory=sip.new_tag)
    cseq: int = 0
    sn: int = 0

    def __post_init__(self) -> None:
        self.ep.devices[self.device_id] = self
        self.catalog_answered = asyncio.Event()
        self.subscribed = asyncio.Event()
        self.subscribe_log: list[sip.SipMessage] = []
        self.tasks: set[asyncio.Task] = set()
        self.controls: list[str] = []  # DeviceControl bodies received (PTZ)
        self.controlled = asyncio.Event()

    # --- requests from the device ------------------------------------------------------------------

    def _request(
        self,
        method: str,
        body_bytes: bytes = b"",
        headers=(),
        call_id: str | None = None,
        to_tag: str | None = None,
    ) -> sip.SipMessage:
        self.cseq += 1
        host, port = self.ep.local
        msg = sip.SipMessage(method=method, uri=f"sip:{self.server_id}@{self.domain}")
        msg.headers = [
            ("Via", f"SIP/2.0/{self.ep.transport_name} {host}:{port};rport;branch={sip.new_branch()}"),
            ("From", f"<sip:{self.device_id}@{self.domain}>;tag={self.from_tag}"),
            (
                "To",
                f"<sip:{(self.device_id if method == 'REGISTER' else self.server_id)}@{self.domain}>"
                + (f";tag={to_tag}" if to_tag else ""),
            ),
            ("Call-ID", call_id or (self.call_id if method == "REGISTER" else secrets.token_hex(8))),
            ("CSeq", f"{self.cseq} {method}"),
            ("Max-Forwards", "70"),
            ("User-Agent", "SimCam"),
            *headers,
        ]
        if body_bytes:
            msg.headers.append(("Content-Type", "Application/MANSCDP+xml"))
        msg.body = body_bytes
        return msg

    async def register(
        self, expires: int = 3600, password: str | None = None, timeout_s: float = 5.0
    ) -> sip.SipMessage | None:
        """REGISTER → 401 → REGISTER with Authorization; returns the final response."""
        contact = [
            ("Contact", f"<sip:{self.device_id}@{self.ep.local[0]}:{self.ep.local[1]}>"),
            ("Expires", str(expires)),
        ]
        resp = await self.ep.transact(self._request("REGISTER", headers=contact), timeout_s)
        if resp is None or resp.status != 401:
            return resp
        ch = digest.parse_authorization(resp.get("WWW-Authenticate") or "")
        auth = digest.authorization(
            self.device_id,
            ch["realm"],
            password or self.password,
            ch["nonce"],
            f"sip:{self.server_id}@{self.domain}",
            qop=self.qop,
        )
        return await self.ep.transact(
            self._request("REGISTER", headers=[*contact, ("Authorization", auth)]), timeout_s
        )

    async def message(
        self, body_bytes: bytes, method: str = "MESSAGE", headers=(), timeout_s: float = 5.0
    ) -> sip.SipMessage | None:
        return await self.ep.transact(self._request(method, body_bytes, headers), timeout_s)

    def next_sn(self) -> int:
        self.sn += 1
        return self.sn

    async def keepalive(self, timeout_s: float = 5.0) -> sip.SipMessage | None:
        return await self.message(
            body(
                "Notify", "Keepalive", self.next_sn(), self.device_id, "<Status>OK</Status>\r\n", self.charset
            ),
            timeout_s=timeout_s,
        )

    def position_body(
        self, fixes: list[tuple[str, datetime, float, float, float, float]], form: str
    ) -> bytes:
        """fixes: (device id, local time, lon, lat, speed, direction)."""
        if form == "flat":
            did, t, lon, lat, sp, d = fixes[0]
            inner = (
                f"<Time>{t:%Y-%m-%dT%H:%M:%S}</Time><Longitude>{lon}</Longitude><Latitude>{lat}</Latitude>"
                f"<Speed>{sp}</Speed><Direction>{d}</Direction><Altitude>12</Altitude>\r\n"
            )
            return body("Notify", "MobilePosition", self.next_sn(), did, inner, self.charset)
        items = "".join(
            f"<Item><DeviceID>{did}</DeviceID><CaptureTime>{t:%Y-%m-%dT%H:%M:%S}</CaptureTime>"
            f"<Longitude>{lon}</Longitude><Latitude>{lat}</Latitude><Speed>{sp}</Speed>"
            f"<Direction>{d}</Direction></Item>"
            for did, t, lon, lat, sp, d in fixes
        )
        inner = (
            f"<Time>{fixes[0][1]:%Y-%m-%dT%H:%M:%S}</Time><SumNum>{len(fixes)}</SumNum>"
            f'<DeviceList Num="{len(fixes)}">{items}</DeviceList>\r\n'
        )
        return body("Notify", "MobilePosition", self.next_sn(), self.device_id, inner, self.charset)

    async def send_positions(
        self, fixes, form: str = "flat", method: str = "NOTIFY", timeout_s: float = 5.0
    ) -> sip.SipMessage | None:
        headers = []
        sub = self.subscriptions.get("MobilePosition")
        if method == "NOTIFY":
            headers = [
                ("Event", (sub.get("Event") if sub else None) or "presence"),
                ("Subscription-State", "active;expires=3600"),
            ]
        return await self.message(self.position_body(fixes, form), method, headers, timeout_s)

    async def send_alarm(
        self,
        channel_id: str,
        method: int = 5,
        alarm_type: int = 2,
        priority: int = 1,
        description: str = "移动侦测",
        lon: float | None = None,
        lat: float | None = None,
        when: datetime | None = None,
        cmd_type: bool = True,
    ) -> sip.SipMessage | None:
        when = when or datetime.now()
        inner = (
            f"<AlarmPriority>{priority}</AlarmPriority><AlarmMethod>{method}</AlarmMethod>"
            f"<AlarmTime>{when:%Y-%m-%dT%H:%M:%S}</AlarmTime>"
            f"<AlarmDescription>{escape(description)}</AlarmDescription>"
        )
        if lon is not None:
            inner += f"<Longitude>{lon}</Longitude><Latitude>{lat}</Latitude>"
        inner += f"<info><AlarmType>{alarm_type}</AlarmType></info><AlarmInfo>10</AlarmInfo>\r\n"
        data = body("Notify", "Alarm", self.next_sn(), channel_id, inner, self.charset)
        if not cmd_type:
            data = data.replace(b"<CmdType>Alarm</CmdType>", b"")
        return await self.message(data)

    async def send_catalog_event(self, events: list[tuple[Channel, str]]) -> sip.SipMessage | None:
        items = "".join(ch.xml(ev) for ch, ev in events)
        inner = f'<SumNum>{len(events)}</SumNum><DeviceList Num="{len(events)}">{items}</DeviceList>\r\n'
        return await self.message(
            body("Notify", "Catalog", self.next_sn(), self.device_id, inner, self.charset),
            "NOTIFY",
            [("Event", "Catalog"), ("Subscription-State", "active;expires=3600")],
        )

    # --- requests to the device --------------------------------------------------------------------

    def on_request(self, msg: sip.SipMessage) -> None:
        self.received.append(msg)
        resp = sip.make_response(msg, 200)
        if msg.method == "SUBSCRIBE":
            resp.headers.append(("Expires", str(self.grant_expires or msg.get("Expires") or 3600)))
        self.ep.send_raw(resp.to_bytes())
        if not msg.body:
            return
        text = msg.body.decode("gb18030")
        cmd = text.split("<CmdType>")[1].split("</CmdType>")[0] if "<CmdType>" in text else ""
        sn = int(text.split("<SN>")[1].split("</SN>")[0]) if "<SN>" in text else 0
        if msg.method == "SUBSCRIBE":
            self.subscriptions[cmd] = msg
            self.subscribe_log.append(msg)
            self.subscribed.set()
        elif cmd == "Catalog" and self.answer_catalog:
            task = asyncio.get_running_loop().create_task(self._answer_catalog(sn))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        elif "<GuardCmd>SetGuard</GuardCmd>" in text:
            self.guard = True
        elif cmd == "DeviceControl":
            self.controls.append(text)
            self.controlled.set()

    async def _answer_catalog(self, sn: int) -> None:
        chunks = [self.channels[i : i + self.page_size] for i in range(0, len(self.channels), self.page_size)]
        for chunk in chunks or [[]]:
            items = "".join(c.xml(lowercase_info=i % 2 == 1) for i, c in enumerate(chunk))
            inner = (
                f"<SumNum>{len(self.channels)}</SumNum>"
                f'<DeviceList Num="{len(chunk)}">{items}</DeviceList>\r\n'
            )
            await self.message(body("Response", "Catalog", sn, self.device_id, inner, self.charset))
        self.catalog_answered.set()
